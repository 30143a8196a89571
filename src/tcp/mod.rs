//! The TCP stage: a connection's two half-connections, which side is the client, the
//! handshake, in-order delivery per direction, retransmissions, holes, FIN/RST and idle gaps.

mod flow;
mod reassembly;
mod seq;
mod table;

pub use flow::{Flow, HEAD_BYTES, HalfFacts, Handshake, IdleGap, RstFacts, head_fingerprint};
pub use reassembly::{Arrival, Piece, Reassembler, ReassemblyStats};
pub use seq::Seq;
pub use table::{FlowKey, FlowTable, flow_key};

use crate::evidence::FrameRef;
use serde::Serialize;

/// One end of a connection, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The MQTT client (the TCP initiator).
    Client,
    /// The broker.
    Server,
}

impl Side {
    /// The other end.
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    /// Index into two-element per-side arrays.
    pub fn idx(self) -> usize {
        self as usize
    }

    /// "client" or "server".
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// A TCP-level happening worth a line in a connection's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "tcp", rename_all = "snake_case")]
pub enum TcpEventKind {
    /// Connection request.
    Syn,
    /// Connection accepted.
    SynAck,
    /// Orderly close of one direction.
    Fin,
    /// Abort.
    Rst,
    /// A segment whose bytes were all sent before.
    Retransmission,
    /// A TCP keep-alive probe.
    KeepAliveProbe,
    /// The sender advertised a zero receive window.
    ZeroWindow,
    /// Bytes missing from the capture.
    Hole {
        /// How many.
        bytes: u64,
    },
}

/// A TCP event with where and who.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TcpEvent {
    /// The frame.
    #[serde(flatten)]
    pub at: FrameRef,
    /// Who sent it.
    pub side: Side,
    /// What it was.
    #[serde(flatten)]
    pub kind: TcpEventKind,
}

/// What the TCP stage hands to the MQTT stage, in stream order per direction.
#[derive(Debug, Clone, Copy)]
pub enum StreamEvent<'a> {
    /// In-order bytes from one side.
    Data {
        /// The sender.
        side: Side,
        /// The bytes.
        bytes: &'a [u8],
        /// The frame that carried them.
        at: FrameRef,
    },
    /// Bytes sent by one side that the capture does not hold.
    Gap {
        /// The sender.
        side: Side,
        /// How many bytes.
        len: u64,
        /// The frame where the gap became known.
        at: FrameRef,
    },
    /// A TCP event for the timeline.
    Tcp(TcpEvent),
}
