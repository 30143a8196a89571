//! What the WebSocket reader saw of one connection, and the events it reports.

use super::deflate::DeflateParams;
use crate::evidence::FrameRef;
use crate::tcp::Side;
use crate::transport::tls::PerSide;
use serde::Serialize;

/// Cap on the errors kept in [`WsFacts::first_errors`] (all are counted).
pub const MAX_ERRORS: usize = 16;

/// Cap on the subprotocols kept from the request.
pub const MAX_OFFERED: usize = 16;

/// A WebSocket protocol error seen in a frame. The frame is still read where that makes
/// sense (its payload passed on), so a misbehaving peer is still analyzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum WsError {
    /// An opcode RFC 6455 reserves (3-7, 11-15): the frame is skipped.
    BadOpcode {
        /// The opcode.
        opcode: u8,
    },
    /// A client frame without a masking key.
    UnmaskedClientFrame,
    /// A server frame with a masking key.
    MaskedServerFrame,
    /// A control frame with more than 125 payload bytes.
    ControlTooLong,
    /// A control frame without FIN.
    FragmentedControl,
    /// RSV bits with no extension that defines them (RSV1 without permessage-deflate or on
    /// a continuation or control frame; RSV2/RSV3 always).
    ReservedBits,
    /// A text frame: MQTT over WebSocket is binary. Its bytes are passed on all the same.
    TextFrame,
    /// A continuation frame with no message in progress: its bytes are passed on.
    StrayContinuation,
    /// A data frame started a message while another was unfinished.
    UnfinishedMessage,
    /// A Close payload of one byte (a code needs two).
    BadClosePayload,
    /// A compressed message that does not inflate (or whose window was lost).
    InflateFailed,
    /// A compressed message inflating past the cap: its rest is counted as lost.
    InflateTooLong,
}

/// A side's first Close frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloseFact {
    /// Where.
    #[serde(flatten)]
    pub at: FrameRef,
    /// The status code (1000 normal, 1001 going away, 1002 protocol error, 1008 policy
    /// violation, 1011 internal error…); `None` for an empty Close.
    pub code: Option<u16>,
    /// The reason, lossy UTF-8 (at most 123 bytes).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// An error with where and who.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ErrorFact {
    /// Where.
    #[serde(flatten)]
    pub at: FrameRef,
    /// Who sent the frame.
    pub side: Side,
    /// What was wrong.
    #[serde(flatten)]
    pub error: WsError,
}

/// Why a flow is not MQTT over WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotMqtt {
    /// The bytes are not an HTTP request (or response), or the head passed the cap.
    NotHttp,
    /// An HTTP exchange without a WebSocket upgrade.
    NoUpgrade,
    /// The client offered only other subprotocols, or the server chose another one.
    OtherSubprotocol,
}

/// WebSocket facts of one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WsFacts {
    /// The request's target (`/mqtt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The request's Host header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The frame that completed the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<FrameRef>,
    /// Subprotocols the client offered (`mqtt`, `mqttv3.1`…), first [`MAX_OFFERED`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subprotocol_offered: Vec<String>,
    /// Extensions the client offered, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions_offered: Option<String>,
    /// The frame that completed the server's response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<FrameRef>,
    /// The response's status: 101 switched to WebSocket; anything else refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The response's reason phrase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    /// The subprotocol the server chose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subprotocol: Option<String>,
    /// Extensions the server accepted, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<String>,
    /// permessage-deflate, when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deflate: Option<DeflateParams>,
    /// Why the flow is not MQTT over WebSocket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_mqtt: Option<NotMqtt>,
    /// Each side's first Close frame.
    #[serde(skip_serializing_if = "no_close")]
    pub closes: PerSide<Option<CloseFact>>,
    /// TCP closed (FIN/RST) from this side after the upgrade with no Close frame from it
    /// first: what a browser reports as 1006.
    #[serde(skip_serializing_if = "neither")]
    pub closed_without_close_frame: PerSide<bool>,
    /// Frames per side.
    #[serde(skip_serializing_if = "zero")]
    pub frames: PerSide<u64>,
    /// Data messages per side (completed).
    #[serde(skip_serializing_if = "zero")]
    pub messages: PerSide<u64>,
    /// Pings per side.
    #[serde(skip_serializing_if = "zero")]
    pub pings: PerSide<u64>,
    /// Pongs per side.
    #[serde(skip_serializing_if = "zero")]
    pub pongs: PerSide<u64>,
    /// Each side's last ping.
    #[serde(skip_serializing_if = "no_time")]
    pub last_ping: PerSide<Option<FrameRef>>,
    /// Each side's last pong.
    #[serde(skip_serializing_if = "no_time")]
    pub last_pong: PerSide<Option<FrameRef>>,
    /// Pings a side sent since the peer's last pong.
    #[serde(skip_serializing_if = "zero")]
    pub unanswered_pings: PerSide<u64>,
    /// Protocol errors per side.
    #[serde(skip_serializing_if = "zero")]
    pub errors: PerSide<u64>,
    /// The first [`MAX_ERRORS`] errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first_errors: Vec<ErrorFact>,
    /// Capture holes per side.
    #[serde(skip_serializing_if = "zero")]
    pub gaps: PerSide<u64>,
    /// A side whose frames could no longer be followed (a hole across a header, or its HTTP
    /// head lost): its later bytes are reported as lost.
    #[serde(skip_serializing_if = "neither")]
    pub lost_sync: PerSide<bool>,
    /// Client bytes sent before the server's 101 that passed the hold cap (reported as lost).
    #[serde(skip_serializing_if = "is_zero")]
    pub early_bytes_dropped: u64,
}

impl WsFacts {
    /// Records an error (counted always, kept while under the cap).
    pub(super) fn error(&mut self, side: Side, at: FrameRef, error: WsError) {
        *self.errors.get_mut(side) += 1;
        if self.first_errors.len() < MAX_ERRORS {
            self.first_errors.push(ErrorFact { at, side, error });
        }
    }
}

fn no_close(c: &PerSide<Option<CloseFact>>) -> bool {
    c.client.is_none() && c.server.is_none()
}

fn neither(b: &PerSide<bool>) -> bool {
    !b.client && !b.server
}

fn zero(n: &PerSide<u64>) -> bool {
    n.client == 0 && n.server == 0
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn no_time(t: &PerSide<Option<FrameRef>>) -> bool {
    t.client.is_none() && t.server.is_none()
}

/// A WebSocket happening with where and who; the shape of [`crate::tcp::TcpEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WsEvent {
    /// The frame (of the item's last byte).
    #[serde(flatten)]
    pub at: FrameRef,
    /// Who sent it.
    pub side: Side,
    /// What it was.
    #[serde(flatten)]
    pub kind: WsEventKind,
}

/// What a WebSocket event was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "ws", rename_all = "snake_case")]
pub enum WsEventKind {
    /// The server's response to the upgrade request: 101 switches to WebSocket, anything
    /// else (401, 403, 404, 426, 5xx…) refuses it.
    Upgrade {
        /// The HTTP status.
        status: u16,
    },
    /// A ping frame.
    Ping,
    /// A pong frame.
    Pong,
    /// A Close frame.
    Close {
        /// The status code; `None` for an empty Close.
        code: Option<u16>,
        /// The reason, lossy UTF-8, at most 123 bytes.
        reason: String,
    },
    /// TCP closed from this side after the upgrade without a Close frame from it (1006).
    ClosedWithoutCloseFrame,
    /// This side's frames can no longer be followed (see [`WsFacts::lost_sync`]).
    LostSync,
    /// A protocol error.
    Error(WsError),
}
