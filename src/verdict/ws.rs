//! Verdicts on MQTT over WebSocket. The upgrade is judged from its own facts (an HTTP error
//! is a refusal, with the status as its code); after it the ordinary rules judge the
//! connection, reading a side's Close frame as its announced close (`Connection::close`),
//! plus one rule of WebSocket's own: a client that ends with a Close frame and no MQTT
//! DISCONNECT closed on purpose (AWS IoT's CLIENT_INITIATED_DISCONNECT).

use super::rules::{Thresholds, frames, verdict};
use super::{Actor, Cause, Layer, Verdict};
use crate::session::Connection;
use crate::tcp::Side;

/// Close codes by which a side says its peer broke the protocol: 1002 protocol error,
/// 1003 unacceptable data, 1007 invalid payload, 1009 message too big.
const PROTOCOL_ERROR_CODES: [u16; 4] = [1002, 1003, 1007, 1009];

/// A refused upgrade: an HTTP error status, or a server that closed without answering the
/// request at all (mosquitto does so for an unknown subprotocol).
pub(super) fn upgrade_refused(c: &Connection) -> Option<Verdict> {
    let ws = c.ws.as_ref()?;
    let request = ws.request?;
    let (code, rule, explanation) = match ws.status {
        Some(101) => return None,
        Some(status) => (
            Some(status),
            "websocket_upgrade_refused",
            format!(
                "The server answered the WebSocket upgrade request (frame {}) with HTTP {status}{}: MQTT never started.",
                request.frame(),
                ws.status_text
                    .as_deref()
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default()
            ),
        ),
        None => {
            let end = c.close().filter(|e| e.by == Side::Server)?;
            (
                None,
                "websocket_upgrade_unanswered",
                format!(
                    "The server closed the connection (frame {}) without answering the WebSocket upgrade request (frame {}): it refused the path, subprotocol or origin.",
                    end.at.frame(),
                    request.frame()
                ),
            )
        }
    };
    let mut v = verdict(
        Cause::ConnectRefused,
        Layer::Protocol,
        Some(Actor::Server),
        rule,
    );
    v.code = code;
    v.evidence = frames([Some(request), ws.response, c.close().map(|e| e.at)]);
    v.explanation = explanation;
    Some(v)
}

/// The client ended with a WebSocket Close before anything from the server ended it, and
/// sent no DISCONNECT: a deliberate close by the client (the browser's `ws.close()`), not a
/// crash. A Close with a protocol-error code is the client refusing the server instead.
pub(super) fn client_close_frame(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    let close = c.ws_close(Side::Client)?;
    let first = c.close().filter(|e| e.by == Side::Client)?;
    let server_after = c
        .announced_close(Side::Server)
        .is_none_or(|s| s.frame() > close.at.frame());
    if first.at.frame() < close.at.frame() || !server_after {
        return None;
    }
    let refusing = close
        .code
        .is_some_and(|k| PROTOCOL_ERROR_CODES.contains(&k));
    let (cause, layer, rule) = if refusing {
        (
            Cause::ProtocolViolation,
            Layer::Protocol,
            "client_websocket_close_protocol_error",
        )
    } else {
        (
            Cause::ClientDisconnect,
            Layer::None,
            "client_websocket_close_without_disconnect",
        )
    };
    let mut v = verdict(cause, layer, Some(Actor::Client), rule);
    v.code = close.code;
    v.evidence = frames([Some(close.at), c.tcp_end.map(|e| e.at)]);
    v.explanation = format!(
        "The client sent a WebSocket Close{} (frame {}) without an MQTT DISCONNECT: it closed on purpose{}.",
        close.code.map(|k| format!(" {k}")).unwrap_or_default(),
        close.at.frame(),
        if refusing {
            ", saying the server broke the protocol"
        } else {
            "; MQTT brokers publish the will message, as after a crash"
        }
    );
    Some(v)
}

/// The server ended with a Close frame whose code says the client broke the protocol.
pub(super) fn server_close_protocol_error(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    let close = c.ws_close(Side::Server)?;
    let code = close.code.filter(|k| PROTOCOL_ERROR_CODES.contains(k))?;
    c.close().filter(|e| e.by == Side::Server)?;
    let mut v = verdict(
        Cause::ProtocolViolation,
        Layer::Protocol,
        Some(Actor::Server),
        "server_websocket_close_protocol_error",
    );
    v.code = Some(code);
    v.evidence = frames([Some(close.at), c.tcp_end.map(|e| e.at)]);
    v.explanation = format!(
        "The server closed the WebSocket with code {code} (frame {}): it found the client's frames or MQTT bytes invalid.",
        close.at.frame()
    );
    Some(v)
}

/// The server closed after WebSocket pings the client never answered: a WebSocket-level
/// heartbeat (aedes, many gateways) that found the client dead or stalled, the keepalive
/// timeout of the WebSocket layer.
pub(super) fn pings_unanswered(c: &Connection, _: &Thresholds) -> Option<Verdict> {
    let ws = c.ws.as_ref()?;
    let end = c.close().filter(|e| e.by == Side::Server)?;
    let unanswered = *ws.unanswered_pings.get(Side::Server);
    let ping = (*ws.last_ping.get(Side::Server)).filter(|p| p.frame() < end.at.frame())?;
    if unanswered == 0 {
        return None;
    }
    let mut v = verdict(
        Cause::KeepaliveTimeout,
        Layer::Protocol,
        Some(Actor::Server),
        "websocket_pings_unanswered",
    );
    v.evidence = frames([Some(ping), Some(end.at)]);
    v.explanation = format!(
        "The server sent {unanswered} WebSocket ping(s) the client never answered (last at frame {}) and closed the connection (frame {}): its WebSocket heartbeat found the client unresponsive.",
        ping.frame(),
        end.at.frame()
    );
    Some(v)
}
