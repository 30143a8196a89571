//! A connection and its verdict side by side, and the second pass that re-judges a
//! connection when the cross-connection view explains its close (takeover, shutdown).

use super::{Actor, Cause, Layer, Verdict};
use crate::evidence::FrameRef;
use crate::session::Connection;
use crate::time::Timestamp;
use serde::Serialize;
use std::ops::Deref;

/// A connection's facts and the verdict judged from them. The facts record never holds
/// its own verdict; a judged connection reads as its record (it dereferences to it).
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    /// The facts.
    #[serde(flatten)]
    pub connection: Connection,
    /// Why it ended.
    pub verdict: Verdict,
}

impl Judged {
    /// Judges one connection: the verdict and the facts derived from it.
    pub fn judge(connection: Connection, thresholds: &super::Thresholds) -> Judged {
        let verdict = super::classify(&connection, thresholds);
        let mut j = Judged {
            connection,
            verdict,
        };
        j.derive();
        j
    }

    /// Computes the facts derived from the verdict (the idle gaps' outcomes).
    fn derive(&mut self) {
        self.verdict.gap_outcomes = super::gaps::gap_outcomes(&self.connection, &self.verdict);
    }
}

impl Deref for Judged {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.connection
    }
}

/// What the cross-connection view found that explains a close better than the connection
/// alone; correlate finds them, [`rejudge`] applies them.
#[derive(Debug, Clone)]
pub enum Recast {
    /// Another connection CONNECTed with the same client id and the server closed this one.
    TakenOver {
        /// Index of the closed connection in the slice being judged.
        index: usize,
        /// The newcomer's connection id.
        by: usize,
        /// The newcomer's CONNECT.
        connect: FrameRef,
        /// When the server closed this one.
        closed: Timestamp,
        /// The newcomer's clean start flag.
        clean: bool,
    },
    /// The server closed many connections within one window.
    Shutdown {
        /// Indexes of the closed connections in the slice being judged.
        indexes: Vec<usize>,
        /// Seconds between the first and the last close.
        spread: f64,
    },
}

/// The second pass of the verdict stage: re-judges the connections `recasts` explain.
pub fn rejudge(conns: &mut [Judged], recasts: &[Recast]) {
    for r in recasts {
        match r {
            Recast::TakenOver {
                index,
                by,
                connect,
                closed,
                clean,
            } => {
                let Some(j) = conns.get_mut(*index) else {
                    continue;
                };
                let id = j.connection.client_id.clone().unwrap_or_default();
                taken_over(&mut j.verdict, &id, *by, *connect, *closed, *clean);
                j.derive();
            }
            Recast::Shutdown { indexes, spread } => {
                for &i in indexes {
                    if let Some(j) = conns.get_mut(i) {
                        shut_down(&mut j.verdict, indexes.len(), *spread);
                        j.derive();
                    }
                }
            }
        }
    }
}

fn taken_over(
    v: &mut Verdict,
    client_id: &str,
    by: usize,
    connect: FrameRef,
    closed: Timestamp,
    clean: bool,
) {
    let frame = connect.frame;
    if v.basis == crate::transport::Basis::Inferred {
        v.alternative = Some(v.cause);
    }
    v.cause = Cause::SessionTakenOver;
    v.layer = Some(Layer::Protocol);
    v.side = Some(Actor::Server);
    v.rule = "closed_after_same_client_id_connected";
    v.related_connection = Some(by);
    v.evidence.push(frame);
    v.evidence.sort_unstable();
    v.evidence.dedup();
    let same = if client_id.is_empty() {
        "from the same client address (the client id is encrypted)".to_string()
    } else {
        format!("with the same client id {client_id:?}")
    };
    v.explanation = format!(
        "Connection {by} CONNECTed {same} (frame {frame}) and the broker closed this one {:.3} s later.",
        (closed - connect.ts).as_secs_f64()
    );
    // Over TLS without keys the newcomer's clean start flag is encrypted: no EMQX word.
    if v.basis != crate::transport::Basis::Inferred {
        v.hints.push(format!(
            "EMQX would log this as {}: the new CONNECT has clean start {}",
            if clean { "discarded" } else { "takenover" },
            if clean { "set" } else { "unset" }
        ));
    }
}

fn shut_down(v: &mut Verdict, count: usize, spread: f64) {
    v.cause = Cause::ServerShutdown;
    v.layer = Some(Layer::Protocol);
    v.rule = "mass_server_close";
    v.explanation = format!(
        "The broker closed {count} connections within {spread:.3} s, this one among them: a broker shutdown or restart."
    );
}
