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
    pub connection: Box<Connection>,
    /// Why it ended.
    pub verdict: Verdict,
    /// For a `nat_idle_expiry`, the verdict if the path went dark instead (an outage): the
    /// cross-connection view chooses between them.
    #[serde(skip)]
    pub outage_reading: Option<Box<Verdict>>,
}

impl Judged {
    /// Judges one connection: the verdict and the facts derived from it.
    pub fn judge(connection: impl Into<Box<Connection>>, thresholds: &super::Thresholds) -> Judged {
        let connection = connection.into();
        let verdict = super::classify(&connection, thresholds);
        let outage_reading = (verdict.cause == Cause::NatIdleExpiry)
            .then(|| Box::new(super::outage_reading(&connection, thresholds)));
        let mut j = Judged {
            connection,
            verdict,
            outage_reading,
        };
        j.settle();
        j
    }

    /// Settles a verdict just made or re-made: computes the facts derived from it (the idle
    /// gaps' outcomes) and drops the spare capacity `format!` left in its explanation, since
    /// every verdict is kept until the report.
    fn settle(&mut self) {
        self.verdict.gap_outcomes = super::gaps::gap_outcomes(&self.connection, &self.verdict);
        self.verdict.explanation.shrink_to_fit();
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
    /// A NAT idle expiry read against the other connections through its client address.
    NatOrOutage {
        /// Index of the connection in the slice being judged.
        index: usize,
        /// Which reading the other connections support.
        reading: NatReading,
        /// What they showed, one sentence.
        why: String,
        /// The connection that showed it.
        related: Option<usize>,
    },
    /// A SYN refused by a RST whose TTL does not fit the server host's own packets.
    RefusedByPath {
        /// Index of the refused attempt in the slice being judged.
        index: usize,
        /// The RST's TTL.
        rst_ttl: u8,
        /// The TTL of the server host's packets on another connection.
        host_ttl: u8,
        /// That connection's id.
        from: usize,
    },
    /// The server closed many connections within one window.
    Shutdown {
        /// Indexes of the closed connections in the slice being judged.
        indexes: Vec<usize>,
        /// Seconds between the first and the last close.
        spread: f64,
    },
}

/// What the other connections through the same address say of a NAT idle expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatReading {
    /// The NAT forgot the mapping: others through it kept working across the moment.
    Nat,
    /// The path went dark: others survived longer quiet spells, or died with it after
    /// shorter ones.
    Outage,
    /// Nothing through the same address tells them apart.
    CannotTell,
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
                j.settle();
            }
            Recast::NatOrOutage {
                index,
                reading,
                why,
                related,
            } => {
                if let Some(j) = conns.get_mut(*index) {
                    read_nat_or_outage(j, *reading, why, *related);
                    j.settle();
                }
            }
            Recast::RefusedByPath {
                index,
                rst_ttl,
                host_ttl,
                from,
            } => {
                if let Some(j) = conns.get_mut(*index) {
                    let v = &mut j.verdict;
                    v.layer = Some(Layer::Network);
                    v.side = Some(Actor::Middlebox);
                    v.related_connection = Some(*from);
                    v.explanation = format!(
                        "The client's SYN was answered by a RST (frames {:?}) that does not fit the server's host (TTL {rst_ttl} where its packets on connection {from} carry {host_ttl}): a device on the path refused the connection.",
                        v.evidence
                    );
                    j.settle();
                }
            }
            Recast::Shutdown { indexes, spread } => {
                for &i in indexes {
                    if let Some(j) = conns.get_mut(i) {
                        shut_down(&mut j.verdict, indexes.len(), *spread);
                        j.settle();
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
    let frame = connect.frame();
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

fn read_nat_or_outage(j: &mut Judged, reading: NatReading, why: &str, related: Option<usize>) {
    let Some(outage) = j.outage_reading.take() else {
        return;
    };
    match reading {
        NatReading::Nat => {
            j.verdict.explanation = format!("{} {why}", j.verdict.explanation);
            j.verdict.related_connection = related;
        }
        NatReading::Outage => {
            let nat_said = std::mem::replace(&mut j.verdict, *outage);
            let v = &mut j.verdict;
            v.explanation = format!(
                "{} Not a NAT that forgot the mapping: {why} The path went dark (an outage).",
                v.explanation
            );
            v.related_connection = related;
            v.evidence.extend(nat_said.evidence);
            v.evidence.sort_unstable();
            v.evidence.dedup();
        }
        NatReading::CannotTell => {
            let v = &mut j.verdict;
            if outage.cause != Cause::Unknown {
                v.alternative = Some(outage.cause);
            }
            v.explanation = format!(
                "{} A path that went dark (an outage: {}) fits as well; {why} The NAT is preferred: the quiet spell was longer than any this connection had survived.",
                v.explanation,
                outage.cause.name()
            );
        }
    }
}

fn shut_down(v: &mut Verdict, count: usize, spread: f64) {
    v.cause = Cause::ServerShutdown;
    v.layer = Some(Layer::Protocol);
    v.side = Some(Actor::Server);
    v.rule = "mass_server_close";
    v.explanation = format!(
        "The broker closed {count} connections within {spread:.3} s, this one among them: a broker shutdown or restart."
    );
}
