//! Verdicts on MQTT over TLS read without keys. The handshake is judged from its own facts
//! (alerts, aborts); after it, the ordinary rules judge the connection, reading its close
//! as `Connection::close` (the first `close_notify` when it came before the peer's FIN) and
//! its keepalive as `Connection::keepalive_secs` (inferred from the PINGREQ cadence). Two rules exist only for inferred facts: a refusal seen as a server
//! that closes right after its first record, and a server close after a silence whose
//! keepalive could not be read.

use super::rules::{Thresholds, actor, frames, verdict};
use super::{Actor, Cause, Layer, Verdict};
use crate::mqtt::PacketKind;
use crate::session::Connection;
use crate::tcp::Side;
use crate::time::Span;
use crate::transport::tls::AlertFact;
use crate::transport::{Basis, TransportKind};

/// A server that closes this soon after its first record, before the client sent anything
/// but its CONNECT, refused the CONNECT: brokers close within milliseconds of a refusing
/// CONNACK, while a keepalive close waits at least the keepalive (seconds).
const REFUSAL_WINDOW: Span = Span::from_secs(1);

/// Shortest client silence before a server close that is read as a keepalive timeout when
/// the keepalive itself is encrypted and no PINGREQ cadence shows it. MQTT keepalives are
/// whole seconds and brokers wait 1.5 × keepalive, so a closing server that waited this long
/// was most likely waiting for the client.
const SILENCE_FLOOR: Span = Span::from_secs(2);

/// The alert description of close_notify, which ends a connection cleanly.
const CLOSE_NOTIFY: u8 = 0;

/// A handshake that never completed: a fatal alert inside it, an encrypted alert in place
/// of a Finished (TLS 1.3 hides the description), a server alert after the handshake and
/// before any MQTT packet (TLS 1.3 refuses a missing client certificate that way), or an
/// abort (FIN/RST) inside it.
pub(super) fn handshake_failed(c: &Connection) -> Option<Verdict> {
    let tls = c.tls.as_ref()?;
    tls.client_hello?;
    let fatal = tls
        .alerts
        .iter()
        .find(|a| a.description != Some(CLOSE_NOTIFY) && a.level != Some(1));
    let served = c.packets.get(PacketKind::ConnAck) > 0;
    let end = c.tcp_end;
    let (side, alert, rule) = match fatal {
        Some(a) if !tls.handshake_complete || (!served && a.side == Side::Server) => {
            (a.side, Some(a), "tls_alert_in_handshake")
        }
        None if !tls.handshake_complete => (end?.by, None, "tls_abort_in_handshake"),
        _ => return None,
    };
    let mut v = verdict(
        Cause::TlsHandshakeFailed,
        Layer::Protocol,
        Some(actor(side)),
        rule,
    );
    v.code = alert.and_then(|a| a.description).map(u16::from);
    v.evidence = frames([
        tls.client_hello,
        tls.server_hello,
        alert.map(|a| a.at),
        end.map(|e| e.at),
    ]);
    v.explanation = match alert {
        Some(a) => explain_alert(a, tls.handshake_complete),
        None => format!(
            "The {} closed the connection (frame {}) before the TLS handshake completed, with no alert.",
            side.name(),
            end.map_or(0, |e| e.at.frame())
        ),
    };
    if alert.is_some_and(|a| a.encrypted) {
        v.hints.push(
            "the alert was encrypted (TLS 1.3): its description needs the session keys; \
             a client alert here is usually a certificate it did not accept (42, 45, 48), a \
             server alert after the client's Finished a missing client certificate (116)"
                .into(),
        );
    }
    Some(v)
}

fn explain_alert(a: &AlertFact, after_handshake: bool) -> String {
    let what = match (a.description, &a.name) {
        (Some(d), Some(n)) => format!("a fatal alert {d} ({n})"),
        (Some(d), None) => format!("a fatal alert {d}"),
        _ => "an encrypted alert".to_string(),
    };
    let when = if after_handshake {
        "right after the handshake, before any MQTT packet"
    } else {
        "during the TLS handshake"
    };
    format!(
        "The {} sent {what} {when} (frame {}): the TLS session was refused, MQTT never started.",
        a.side.name(),
        a.at.frame()
    )
}

/// The server closed right after its first record and the client had sent only its
/// CONNECT: a refused CONNECT whose return code is encrypted.
pub(super) fn refused_after_connack(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    if c.basis != Basis::Inferred {
        return None;
    }
    let end = c.close().filter(|e| e.by == Side::Server)?;
    let answer = c.last_server_packet?;
    let others =
        c.packets.total() - c.packets.get(PacketKind::Connect) - c.packets.get(PacketKind::ConnAck);
    if c.packets.get(PacketKind::ConnAck) != 1
        || others > 0
        || end.at.ts - answer.ts > REFUSAL_WINDOW
    {
        return None;
    }
    let mut v = verdict(
        Cause::ConnectRefused,
        Layer::Protocol,
        Some(Actor::Server),
        "server_closed_right_after_connack",
    );
    v.evidence = frames([c.connect, Some(answer), Some(end.at)]);
    v.explanation = format!(
        "The broker answered the CONNECT with one record (a CONNACK by its size, frame {}) and closed {:.3} s later, before the client sent anything else: the CONNECT was refused (bad credentials, not authorized, client id rejected). The return code is encrypted.",
        answer.frame(),
        (end.at.ts - answer.ts).as_secs_f64()
    );
    Some(v)
}

/// The server closed after the client had been silent for a while, and the keepalive is
/// not readable (encrypted CONNECT, too few PINGREQs for a cadence): most likely a
/// keepalive timeout, judged as one with the silence standing for 1.5 × keepalive.
pub(super) fn silent_client_closed(c: &Connection, t: &Thresholds) -> Option<Verdict> {
    if c.basis != Basis::Inferred || c.keepalive_secs().is_some() {
        return None;
    }
    let end = c.close().filter(|e| e.by == Side::Server)?;
    let last = c.last_client_packet?;
    let silence = end.at.ts - last.ts;
    if silence < SILENCE_FLOOR {
        return None;
    }
    let assumed = (silence.as_secs_f64() / 1.5).floor().max(1.0);
    let mut v = super::keepalive::keepalive_verdict(c, t, assumed)?;
    v.rule = "server_closed_after_client_silence";
    v.alternative = Some(Cause::ServerClose);
    let why = if v.layer == Some(Layer::Network) {
        "the client's packets went unacknowledged or it never answered the close: the path was dead"
    } else {
        "the client's TCP stack still acknowledged the close: the client application stalled"
    };
    v.explanation = format!(
        "No packet from the client for {:.1} s, then the broker closed. The keepalive is encrypted and no PINGREQ cadence shows it; a broker closes after 1.5 × keepalive, which fits a keepalive of about {assumed} s; {why}.",
        silence.as_secs_f64()
    );
    Some(v)
}

/// Says how an inferred verdict was reached and what else fits.
pub(super) fn qualify(c: &Connection, v: &mut Verdict) {
    if c.basis != Basis::Inferred || v.cause == Cause::OpenAtEnd {
        return;
    }
    if let Some(k) = c.keepalive_inferred.as_deref()
        && v.cause == Cause::KeepaliveTimeout
    {
        v.hints.push(format!(
            "keepalive inferred from the PINGREQ cadence: {:.1} s (spread {:.1} s)",
            k.seconds, k.spread
        ));
    }
    if v.cause == Cause::ServerClose {
        v.alternative = Some(Cause::KeepaliveTimeout);
    }
    v.hints.push(
        if c.transport == TransportKind::Wss {
            "MQTT over WebSocket inside TLS read without keys: the upgrade and the packets inferred from record sizes and timing, WebSocket framing taken off; codes and client ids are encrypted"
        } else {
            "MQTT over TLS read without keys: packets inferred from record sizes and timing; codes and client ids are encrypted"
        }
        .into(),
    );
}
