//! `classify`: a connection's facts in, one verdict out. Each rule is a small function that
//! either decides or passes; the first that decides wins, and its name travels with the
//! verdict.

use super::{Actor, Cause, Layer, Vantage, Verdict};
use crate::evidence::FrameRef;
use crate::mqtt::Version;
use crate::session::{Anomaly, Connection, TcpEnd, TcpEndKind};
use crate::tcp::Side;
use crate::time::{Span, Timestamp};

/// Named thresholds of the classifier.
#[derive(Debug, Clone)]
pub struct Thresholds {
    /// Silence before a server close, as a multiple of the keepalive, from which the close
    /// is a keepalive timeout. Brokers enforce 1.5 × keepalive on coarse timers, so a close
    /// somewhat earlier still counts; 1.0 is the spec's own deadline.
    pub keepalive_ratio: f64,
    /// Shortest idle gap that can explain a NAT expiry. Real NAT timeouts are minutes; the
    /// floor is low so lab captures with second-scale timeouts are read correctly, and a
    /// gap must also be longer than every gap the connection survived.
    pub nat_gap_floor: Span,
    /// How much longer than every survived gap a killing gap must be.
    pub nat_gap_margin: f64,
    /// A RST or close this soon after a client's protocol error is the server's answer to it.
    pub violation_window: Span,
    /// Time after a close within which the peer's silence means the path was dead.
    pub ack_wait: Span,
    /// End of the capture (for "nothing came after" judgements).
    pub capture_end: Timestamp,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            keepalive_ratio: 1.0,
            nat_gap_floor: Span::from_secs(2),
            nat_gap_margin: 1.2,
            violation_window: Span::from_secs(2),
            ack_wait: Span::from_secs(1),
            capture_end: Timestamp(i64::MAX),
        }
    }
}

/// One rule: decides or passes.
pub(super) type Rule = fn(&Connection, &Thresholds) -> Option<Verdict>;

/// The rules in the order they are tried.
const RULES: &[Rule] = &[
    connack_refused,
    super::tls::refused_after_connack,
    client_disconnect,
    super::ws::client_close_frame,
    server_disconnect,
    still_open,
    only_the_end,
    protocol_violation,
    super::ws::server_close_protocol_error,
    super::nat::nat_idle_expiry,
    super::keepalive::keepalive_timeout,
    super::tls::silent_client_closed,
    super::ws::pings_unanswered,
    retransmission_timeout,
    reset,
    server_close,
    client_close,
];

/// What the connection's close would be if its path went dark rather than a NAT forgetting
/// it: the verdict with no idle gap long enough for `nat_idle_expiry`. One connection cannot tell the two
/// apart; other connections through the same address can (see `correlate`).
pub fn outage_reading(c: &Connection, t: &Thresholds) -> Verdict {
    let no_nat = Thresholds {
        nat_gap_floor: Span(i64::MAX),
        ..t.clone()
    };
    classify(c, &no_nat)
}

/// Decides why `c` ended.
pub fn classify(c: &Connection, t: &Thresholds) -> Verdict {
    // A connection that never existed (a refused SYN) or a transport that never carried MQTT
    // (a failed TLS handshake, a refused upgrade) is judged from its own facts, before the
    // MQTT rules and without their qualifiers.
    let early = super::syn::tcp_refused(c)
        .or_else(|| super::syn::syn_unanswered(c))
        .or_else(|| super::tls::handshake_failed(c))
        .or_else(|| super::ws::upgrade_refused(c));
    let mut v = early.unwrap_or_else(|| {
        let mut v = RULES
            .iter()
            .find_map(|rule| rule(c, t))
            .unwrap_or_else(|| unknown(c));
        super::tls::qualify(c, &mut v);
        v
    });
    v.vantage = super::vantage::vantage(c);
    v.basis = c.basis;
    v
}

/// A verdict with no evidence yet.
pub(super) fn verdict(
    cause: Cause,
    layer: Layer,
    side: Option<Actor>,
    rule: &'static str,
) -> Verdict {
    Verdict {
        cause,
        layer: Some(layer),
        side,
        code: None,
        evidence: Vec::new(),
        rule,
        explanation: String::new(),
        missing_pingreqs: Vec::new(),
        hints: Vec::new(),
        vantage: Vantage::Unknown,
        related_connection: None,
        broker_reason: None,
        gap_outcomes: Vec::new(),
        basis: crate::transport::Basis::Plaintext,
        alternative: None,
    }
}

pub(super) fn actor(side: Side) -> Actor {
    match side {
        Side::Client => Actor::Client,
        Side::Server => Actor::Server,
    }
}

pub(super) fn frames(refs: impl IntoIterator<Item = Option<FrameRef>>) -> Vec<u64> {
    let mut v: Vec<u64> = refs.into_iter().flatten().map(|r| r.frame()).collect();
    v.sort_unstable();
    v.dedup();
    // Kept for every connection until the report: no spare capacity.
    v.shrink_to_fit();
    v
}

fn connack_refused(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    let ack = c.connack?;
    // 0 is the only success in every version; a v5 client answered 1..=5 met a broker that
    // speaks only 3.1.1 and refused it in 3.1.1's words (1: unacceptable protocol version).
    if ack.code == 0 {
        return None;
    }
    let mut v = verdict(
        Cause::ConnectRefused,
        Layer::Protocol,
        Some(Actor::Server),
        "connack_failure",
    );
    v.code = Some(ack.code.into());
    v.evidence = frames([Some(ack.at), c.close().map(|e| e.at)]);
    v.explanation = format!(
        "The broker refused the CONNECT with CONNACK code {} ({}).",
        ack.code,
        connack_meaning(ack.code, c.protocol)
    );
    let long_keepalive = c.keepalive_secs().is_some_and(|k| k == 0 || k > 300);
    if ack.code == 2 && c.protocol != Some(Version::V5) && long_keepalive {
        v.hints.push(
            "mosquitto answers CONNACK 2 (identifier rejected) to a keepalive above its \
             max_keepalive: check the broker's max_keepalive against this client's keepalive"
                .into(),
        );
    }
    Some(v)
}

fn connack_meaning(code: u8, version: Option<Version>) -> &'static str {
    match (version, code) {
        (Some(Version::V5), 0x80) => "unspecified error",
        (Some(Version::V5), 0x84) => "unsupported protocol version",
        (Some(Version::V5), 0x85) => "client identifier not valid",
        (Some(Version::V5), 0x86) => "bad user name or password",
        (Some(Version::V5), 0x87) => "not authorized",
        (Some(Version::V5), 0x88) => "server unavailable",
        (Some(Version::V5), 0x8A) => "banned",
        (Some(Version::V5), 0x8C) => "bad authentication method",
        (Some(Version::V5), 0x95) => "packet too large",
        (Some(Version::V5), 0x9F) => "connection rate exceeded",
        (Some(Version::V5), _) => "see MQTT 5 reason codes",
        (_, 1) => "unacceptable protocol version",
        (_, 2) => "identifier rejected",
        (_, 3) => "server unavailable",
        (_, 4) => "bad user name or password",
        (_, 5) => "not authorized",
        _ => "not defined by MQTT 3.1.1",
    }
}

fn client_disconnect(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    let d = c.disconnect.as_ref().filter(|d| d.side == Side::Client)?;
    if c.close().is_some_and(|e| e.at.frame() < d.at.frame()) {
        return None;
    }
    let mut v = verdict(
        Cause::ClientDisconnect,
        Layer::None,
        Some(Actor::Client),
        "client_sent_disconnect",
    );
    v.code = d.reason.map(u16::from);
    v.evidence = frames([Some(d.at), c.close().map(|e| e.at)]);
    v.explanation = match d.reason {
        Some(r) => format!("The client sent DISCONNECT (reason 0x{r:02X}) and closed."),
        None => "The client sent DISCONNECT and closed.".into(),
    };
    Some(v)
}

fn server_disconnect(c: &Connection, t: &Thresholds) -> Option<Verdict> {
    let d = c.disconnect.as_ref().filter(|d| d.side == Side::Server)?;
    let code = d.reason.unwrap_or(0);
    let (cause, rule, what) = match code {
        0x8D => (
            Cause::KeepaliveTimeout,
            "server_disconnect_keepalive",
            "keep alive timeout",
        ),
        0x8E => (
            Cause::SessionTakenOver,
            "server_disconnect_takeover",
            "session taken over",
        ),
        0x8B => (
            Cause::ServerDisconnect,
            "server_disconnect_reason",
            "server shutting down",
        ),
        _ => (
            Cause::ServerDisconnect,
            "server_disconnect_reason",
            "see MQTT 5 reason codes",
        ),
    };
    // A keepalive DISCONNECT still says nothing of why the client was silent: its lost,
    // retransmitted packets, or no answer from it at all, put the fault on the path.
    let client_lost = c.half(Side::Client).unacked_bytes > 0 && c.tcp.client.retransmissions > 0;
    let unanswered = c
        .tcp_end
        .is_some_and(|e| e.by == Side::Server && !client_answered_close(c, e, t));
    let layer = if code == 0x8D && (client_lost || unanswered) {
        Layer::Network
    } else {
        Layer::Protocol
    };
    let mut v = verdict(cause, layer, Some(Actor::Server), rule);
    v.code = d.reason.map(u16::from);
    v.evidence = frames([Some(d.at), c.close().map(|e| e.at)]);
    v.explanation = format!("The broker sent DISCONNECT with reason 0x{code:02X} ({what}).");
    if layer == Layer::Network {
        v.explanation
            .push_str(" The client's packets never reached it: the path failed, not the client.");
    }
    if let Some(s) = &d.reason_string {
        v.explanation.push_str(&format!(" Reason string: {s:?}."));
    }
    Some(v)
}

/// The side whose data went unacknowledged and was retransmitted at the end, if any.
/// The side whose data went unacknowledged through retransmissions into the peer's
/// silence. A side that reset the
/// connection and then retransmitted is not stuck: a stack forgets a connection it resets,
/// so that RST came from the path (the reset rule says so), and what followed is aftermath.
pub(super) fn stuck_sender(c: &Connection) -> Option<Side> {
    let reset = c.close().filter(|e| e.kind == TcpEndKind::Rst);
    [Side::Client, Side::Server].into_iter().find(|&s| {
        let h = c.half(s);
        let after_own_reset = match (reset, h.first_retransmission) {
            (Some(e), Some(r)) => e.by == s && r.frame() > e.at.frame(),
            _ => false,
        };
        // Retransmitting into silence: the peer sent nothing after the last retransmission
        // (a retransmission the peer answered was a passing loss, not the end).
        let into_silence = match (
            h.retransmission_frames.last(),
            c.half(s.other()).last_segment,
        ) {
            (Some(r), Some(p)) => r.frame() > p.frame(),
            _ => true,
        };
        h.unacked_bytes > 0 && h.retransmissions > 0 && !after_own_reset && into_silence
    })
}

fn still_open(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    if c.close().is_some() || stuck_sender(c).is_some() {
        return None;
    }
    if c.evicted {
        let mut v = verdict(Cause::Unknown, Layer::None, None, "evicted_from_flow_table");
        v.layer = None;
        v.evidence = vec![c.last_frame];
        v.explanation = format!(
            "dropscope stopped following this connection after frame {}: its flow table was full (--max-flows) and this flow had been quiet longest. It had not closed by then; a larger --max-flows follows it to its end.",
            c.last_frame
        );
        return Some(v);
    }
    let mut v = verdict(Cause::OpenAtEnd, Layer::None, None, "no_close_in_capture");
    v.evidence = vec![c.last_frame];
    v.explanation = "The connection was still up when the capture ended.".into();
    Some(v)
}

fn protocol_violation(c: &Connection, t: &Thresholds) -> Option<Verdict> {
    let end = c.close().filter(|e| e.by == Side::Server)?;
    let (entry, anomaly) = c.anomaly_kinds().find(|(e, a)| {
        e.side == Side::Client
            && matches!(
                a,
                Anomaly::PacketBeforeConnect { .. }
                    | Anomaly::SecondConnect
                    | Anomaly::Malformed { .. }
                    | Anomaly::Oversized { .. }
                    | Anomaly::NotMqtt
            )
            && end.at.ts - e.at.ts <= t.violation_window
            && e.at.frame() <= end.at.frame()
    })?;
    let mut v = verdict(
        Cause::ProtocolViolation,
        Layer::Protocol,
        Some(Actor::Server),
        "close_after_client_violation",
    );
    v.evidence = frames([Some(entry.at), Some(end.at)]);
    let what = match anomaly {
        Anomaly::PacketBeforeConnect { packet } => format!("a {packet} before CONNECT"),
        Anomaly::SecondConnect => "a second CONNECT".into(),
        Anomaly::Malformed { reason } => format!("a malformed packet ({reason})"),
        Anomaly::Oversized { len } => format!("a packet of {len} bytes, over the limit"),
        Anomaly::NotMqtt => "bytes that are not an MQTT packet".into(),
        _ => "an invalid packet".into(),
    };
    v.explanation = format!(
        "The client sent {what} (frame {}) and the broker closed the connection (frame {}).",
        entry.at.frame(),
        end.at.frame()
    );
    Some(v)
}

/// Whether the client's TCP stack answered after the server's close (so it was alive).
pub(super) fn client_answered_close(c: &Connection, end: TcpEnd, t: &Thresholds) -> bool {
    match c.half(Side::Client).last_segment {
        Some(s) if s.frame() > end.at.frame() => true,
        _ => t.capture_end - end.at.ts < t.ack_wait,
    }
}

fn retransmission_timeout(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    let side = stuck_sender(c)?;
    let h = c.half(side);
    let mut v = verdict(
        Cause::RetransmissionTimeout,
        Layer::Network,
        Some(actor(side)),
        "unacked_data_retransmitted",
    );
    let gave_up = h.rst.as_ref().map(|r| r.at).or(h.fin);
    v.evidence = frames(
        h.retransmission_frames
            .iter()
            .rev()
            .take(5)
            .map(|r| Some(*r))
            .chain([gave_up]),
    );
    v.explanation = format!(
        "The {} retransmitted {} bytes that were never acknowledged ({} retransmissions){}.",
        side.name(),
        h.unacked_bytes,
        h.retransmissions,
        match gave_up {
            Some(g) => format!(" and gave up at frame {}", g.frame()),
            None => ", then the capture shows silence".into(),
        }
    );
    Some(v)
}

fn reset(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    let end = c.close().filter(|e| e.kind == TcpEndKind::Rst)?;
    let half = c.half(end.by);
    let rst = half.rst.as_deref()?;
    // The TTL test needs a baseline of the side's own packets past its SYN (a scanner's
    // raw SYN carries a TTL of its own choosing), and a host talking to itself has no
    // device in between.
    let baseline = half.ttl.filter(|_| half.segments >= 2);
    let ttl_mismatch = baseline.is_some_and(|ttl| ttl != rst.ttl);
    let seq_mismatch = rst.seq_offset.is_some_and(|o| o != 0 && o.abs() > 1);
    let middlebox = (ttl_mismatch || seq_mismatch) && !same_host(c);
    let side = if middlebox {
        Actor::Middlebox
    } else {
        actor(end.by)
    };
    let mut v = verdict(
        Cause::Reset,
        Layer::Network,
        Some(side),
        "rst_without_mqtt_reason",
    );
    v.evidence = vec![rst.at.frame()];
    v.explanation = if middlebox {
        format!(
            "A RST claiming to come from the {} (frame {}) does not fit it ({}): a device on the path reset the connection.",
            end.by.name(),
            rst.at.frame(),
            if ttl_mismatch {
                format!(
                    "TTL {} where its packets carry {}",
                    rst.ttl,
                    half.ttl.unwrap_or(0)
                )
            } else {
                format!("sequence off by {}", rst.seq_offset.unwrap_or(0))
            }
        )
    } else {
        format!(
            "The {} reset the connection (frame {}) with no MQTT reason before it.",
            end.by.name(),
            rst.at.frame()
        )
    };
    Some(v)
}

/// Whether both ends are one host (loopback, or the same address): nothing lies between.
fn same_host(c: &Connection) -> bool {
    c.client.ip() == c.server.ip() || (c.client.ip().is_loopback() && c.server.ip().is_loopback())
}

fn server_close(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    let end = c.close().filter(|e| e.by == Side::Server)?;
    let mut v = verdict(
        Cause::ServerClose,
        Layer::Protocol,
        Some(Actor::Server),
        "server_closed_without_reason",
    );
    v.evidence = frames([Some(end.at), c.last_client_packet]);
    v.explanation = format!(
        "The broker closed the connection (frame {}) without an MQTT reason, and nothing on the wire explains it.",
        end.at.frame()
    );
    Some(v)
}

fn client_close(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    let end = c
        .tcp_end
        .filter(|e| e.by == Side::Client && e.kind == TcpEndKind::Fin)?;
    let mut v = verdict(
        Cause::ClientClose,
        Layer::Protocol,
        Some(Actor::Client),
        "client_fin_without_disconnect",
    );
    v.evidence = frames([Some(end.at), c.last_client_packet]);
    v.explanation = format!(
        "The client closed TCP (FIN, frame {}) without sending DISCONNECT: its process exited or crashed; the will message fires.",
        end.at.frame()
    );
    Some(v)
}

/// A connection of which the capture holds only the close (no handshake, no payload): who
/// closed first says nothing of why, nor whether a DISCONNECT came before the capture began.
fn only_the_end(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    let payload = c.half(Side::Client).bytes + c.half(Side::Server).bytes;
    if c.syn_seen || payload > 0 || c.packets.total() > 0 {
        return None;
    }
    let mut v = unknown(c);
    v.rule = super::ONLY_THE_CLOSE;
    v.explanation = "The capture holds only the end of this connection (no handshake, no MQTT packet): nothing says whether the client sent DISCONNECT before the capture began, nor why it closed.".into();
    Some(v)
}

fn unknown(c: &Connection) -> Verdict {
    let mut v = verdict(Cause::Unknown, Layer::None, None, "nothing_fits");
    v.layer = None;
    v.evidence = vec![c.first_frame, c.last_frame];
    v.explanation = "No rule fits what the capture holds of this connection.".into();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::{IdleGap, RstFacts};

    use crate::evidence::frame_at as at;

    fn record(ka: u16) -> Connection {
        Connection::sample(ka)
    }

    fn server_fin(c: &mut Connection, frame: u64, secs: f64) {
        c.tcp.server.fin = Some(at(frame, secs));
        c.tcp_end = Some(TcpEnd {
            kind: TcpEndKind::Fin,
            by: Side::Server,
            at: at(frame, secs),
        });
    }

    /// `side` resets the connection at frame 9 (3 s) with a RST of TTL `ttl` that fits its
    /// sequence numbers.
    fn reset_by(c: &mut Connection, side: Side, ttl: u8) {
        let half = match side {
            Side::Client => &mut c.tcp.client,
            Side::Server => &mut c.tcp.server,
        };
        half.rst = Some(Box::new(RstFacts {
            at: at(9, 3.0),
            ttl,
            ip_id: Some(0),
            seq_offset: Some(0),
        }));
        c.tcp_end = Some(TcpEnd {
            kind: TcpEndKind::Rst,
            by: side,
            at: at(9, 3.0),
        });
    }

    fn judge(c: &Connection) -> Verdict {
        let t = Thresholds {
            capture_end: Timestamp(i64::MAX),
            ..Thresholds::default()
        };
        classify(c, &t)
    }

    #[test]
    fn still_open_without_close() {
        assert_eq!(judge(&record(5)).cause, Cause::OpenAtEnd);
    }

    #[test]
    fn refused_connack_names_the_code_and_the_max_keepalive_hint() {
        let mut c = record(0);
        c.connack.as_mut().unwrap().code = 2;
        server_fin(&mut c, 6, 0.02);
        let v = judge(&c);
        assert_eq!(
            (v.cause, v.code, v.side),
            (Cause::ConnectRefused, Some(2), Some(Actor::Server))
        );
        assert!(v.hints.iter().any(|h| h.contains("max_keepalive")));
    }

    #[test]
    fn stalled_client_whose_stack_acks_the_close_is_a_protocol_keepalive_timeout() {
        let mut c = record(5);
        server_fin(&mut c, 10, 8.0);
        c.tcp.client.last_segment = Some(at(11, 8.001));
        let v = judge(&c);
        assert_eq!(
            (v.cause, v.layer),
            (Cause::KeepaliveTimeout, Some(Layer::Protocol))
        );
        assert_eq!(v.missing_pingreqs.len(), 1);
        assert!(!v.missing_pingreqs[0].sent);
    }

    #[test]
    fn silence_then_unacknowledged_close_after_keepalive_idles_survived_is_network() {
        let mut c = record(5);
        // One keepalive period of idle survived (PINGREQ at 5 s), then silence.
        c.idle_gaps = vec![IdleGap {
            after: at(5, 0.01),
            before: at(6, 5.0),
            resumed_by: Side::Client,
        }];
        c.last_client_packet = Some(at(6, 5.0));
        server_fin(&mut c, 10, 13.0);
        c.tcp.client.last_segment = Some(at(7, 5.0));
        let v = judge(&c);
        assert_eq!(
            (v.cause, v.layer),
            (Cause::KeepaliveTimeout, Some(Layer::Network))
        );
    }

    /// A client (keepalive unknown, as over TLS without keys) whose first packet after an
    /// 8 s quiet spell (frame 20) was retransmitted, never acknowledged, until the server's
    /// close at 12 s.
    fn unacked_client_packet_after_quiet_spell() -> Connection {
        let mut c = record(0);
        c.keepalive = None;
        c.idle_gaps = vec![IdleGap {
            after: at(12, 3.0),
            before: at(20, 11.0),
            resumed_by: Side::Client,
        }];
        let client = &mut c.tcp.client;
        client.unacked_bytes = 2;
        client.retransmissions = 3;
        client.first_retransmission = Some(at(21, 11.2));
        client.retransmission_frames = vec![at(21, 11.2), at(23, 11.6), at(25, 12.4)];
        client.last_segment = Some(at(25, 12.4));
        c.tcp.server.last_segment = Some(at(12, 3.0));
        c
    }

    #[test]
    fn unacked_packet_after_a_first_quiet_spell_with_nothing_back_is_nat() {
        let v = judge(&unacked_client_packet_after_quiet_spell());
        assert_eq!(v.cause, Cause::NatIdleExpiry);
    }

    #[test]
    fn unacked_packet_while_the_server_still_reaches_the_client_is_not_nat() {
        // The server's FIN crossed this capture point after the client's first
        // retransmission: the path back was up, so no NAT mapping had expired.
        let mut c = unacked_client_packet_after_quiet_spell();
        server_fin(&mut c, 22, 11.5);
        c.tcp.server.last_segment = Some(at(22, 11.5));
        let v = judge(&c);
        assert_ne!(v.cause, Cause::NatIdleExpiry);
        assert_eq!(v.layer, Some(Layer::Network));
    }

    #[test]
    fn a_longer_silence_after_an_answered_ping_cadence_is_not_nat() {
        // An earlier 3 s quiet spell ended by the client's PINGREQ was answered: the NAT
        // passes the client's cadence, so the 8 s silence means a ping went missing.
        let mut c = unacked_client_packet_after_quiet_spell();
        c.pinged_idle = Some(crate::session::PingedIdle {
            pingreq: at(11, 2.99),
            seconds: 2.98,
        });
        assert_ne!(judge(&c).cause, Cause::NatIdleExpiry);
        c.pinged_idle.as_mut().unwrap().pingreq = at(30, 20.0);
        assert_eq!(
            judge(&c).cause,
            Cause::NatIdleExpiry,
            "a ping after the gap proves nothing"
        );
    }

    #[test]
    fn first_idle_longer_than_the_keepalive_ending_in_an_unanswered_close_is_nat() {
        let mut c = record(8);
        c.idle_gaps = vec![IdleGap {
            after: at(5, 0.01),
            before: at(10, 17.0),
            resumed_by: Side::Server,
        }];
        server_fin(&mut c, 10, 17.0);
        let v = judge(&c);
        assert_eq!(
            (v.cause, v.side),
            (Cause::NatIdleExpiry, Some(Actor::Middlebox))
        );
        assert_eq!(v.evidence, vec![5, 10]);
    }

    #[test]
    fn syn_answered_by_rst_is_tcp_refused_and_a_completed_handshake_is_not() {
        let mut c = record(0);
        c.client_id = None;
        c.connect = None;
        c.connack = None;
        c.handshake.syn = Some(at(1, 0.0));
        c.tcp.server.rst = Some(Box::new(RstFacts {
            at: at(2, 0.0001),
            ttl: 64,
            ip_id: Some(0),
            seq_offset: None,
        }));
        c.tcp_end = Some(TcpEnd {
            kind: TcpEndKind::Rst,
            by: Side::Server,
            at: at(2, 0.0001),
        });
        let v = judge(&c);
        assert_eq!(
            (v.cause, v.layer, v.side),
            (
                Cause::TcpRefused,
                Some(Layer::Protocol),
                Some(Actor::Server)
            )
        );
        assert_eq!(v.evidence, vec![1, 2]);
        c.handshake.syn_ack = Some(at(3, 0.0001));
        assert_ne!(judge(&c).cause, Cause::TcpRefused);
    }

    #[test]
    fn a_syn_sent_again_and_never_answered_is_a_retransmission_timeout() {
        let mut c = record(0);
        c.client_id = None;
        c.connect = None;
        c.connack = None;
        c.handshake.syn = Some(at(1, 0.0));
        c.tcp.client.segments = 4;
        c.tcp.client.last_segment = Some(at(4, 7.0));
        let v = judge(&c);
        assert_eq!(
            (v.cause, v.layer, v.side),
            (
                Cause::RetransmissionTimeout,
                Some(Layer::Network),
                Some(Actor::Client)
            )
        );
        assert_eq!(v.evidence, vec![1, 4]);
        c.tcp.client.segments = 1;
        assert_eq!(
            judge(&c).cause,
            Cause::OpenAtEnd,
            "one SYN at the end proves nothing"
        );
    }

    #[test]
    fn rst_with_a_foreign_ttl_is_a_middlebox() {
        let mut c = record(5);
        c.tcp.server.ttl = Some(63);
        c.tcp.server.segments = 4;
        reset_by(&mut c, Side::Server, 64);
        c.last_client_packet = Some(at(8, 3.0));
        let v = judge(&c);
        assert_eq!(
            (v.cause, v.side, v.layer),
            (Cause::Reset, Some(Actor::Middlebox), Some(Layer::Network))
        );
        c.tcp.server.rst.as_mut().unwrap().ttl = 63;
        assert_eq!(judge(&c).side, Some(Actor::Server));
    }

    #[test]
    fn a_foreign_ttl_needs_a_baseline_past_the_syn_and_a_path_between_hosts() {
        let mut c = record(5);
        c.tcp.client.ttl = Some(58);
        c.tcp.client.segments = 1;
        reset_by(&mut c, Side::Client, 64);
        assert_eq!(
            judge(&c).side,
            Some(Actor::Client),
            "only a raw SYN to compare"
        );
        c.tcp.client.segments = 6;
        assert_eq!(judge(&c).side, Some(Actor::Middlebox));
        c.client = "127.0.0.1:40000".parse().unwrap();
        c.server = "127.0.0.1:1883".parse().unwrap();
        assert_eq!(
            judge(&c).side,
            Some(Actor::Client),
            "loopback has no middlebox"
        );
    }

    #[test]
    fn unacked_retransmitted_client_data_without_keepalive_is_a_retransmission_timeout() {
        let mut c = record(0);
        c.tcp.client.unacked_bytes = 40;
        c.tcp.client.retransmissions = 6;
        c.tcp.client.first_retransmission = Some(at(20, 1.0));
        let v = judge(&c);
        assert_eq!(
            (v.cause, v.side),
            (Cause::RetransmissionTimeout, Some(Actor::Client))
        );
    }

    #[test]
    fn keepalive_disconnect_with_lost_client_packets_is_network() {
        let mut c = record(5);
        c.disconnect = Some(crate::session::DisconnectFacts {
            at: at(9, 8.0),
            side: Side::Server,
            reason: Some(0x8D),
            reason_string: None,
        });
        server_fin(&mut c, 10, 8.0);
        c.tcp.client.last_segment = Some(at(11, 8.0));
        assert_eq!(judge(&c).layer, Some(Layer::Protocol));
        c.tcp.client.unacked_bytes = 2;
        c.tcp.client.retransmissions = 3;
        let v = judge(&c);
        assert_eq!(
            (v.cause, v.code, v.layer),
            (Cause::KeepaliveTimeout, Some(0x8D), Some(Layer::Network))
        );
    }
}
