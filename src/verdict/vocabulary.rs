//! Broker vocabularies: each cause (with its code) in the words a broker's console uses, as
//! a table, so a verdict can be read next to that console's log.

use super::{Cause, Verdict};

/// Whose words to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vocabulary {
    /// The taxonomy's own names.
    #[default]
    Mqtt,
    /// AWS IoT Core `disconnectReason`.
    Aws,
    /// EMQX `reason`.
    Emqx,
    /// ApsaraMQ for MQTT action descriptions.
    Apsara,
}

/// Which refusal a CONNACK code is, for the vocabularies that tell them apart.
fn refusal_is_client_id(code: Option<u8>) -> bool {
    matches!(code, Some(2) | Some(0x85))
}

/// The verdict's cause in the broker's words; `None` where that broker has no word for it.
pub fn describe(v: &Verdict, vocab: Vocabulary) -> Option<&'static str> {
    use Cause::*;
    // MQTT reason codes are one byte; HTTP statuses and WebSocket close codes name no
    // broker word here.
    let code = v.code.and_then(|c| u8::try_from(c).ok());
    let throttled = matches!(code, Some(0x96) | Some(0x97));
    let kicked = code == Some(0x98);
    Some(match (vocab, v.cause) {
        (Vocabulary::Mqtt, c) => c.name(),
        (Vocabulary::Aws, ClientDisconnect) => "CLIENT_INITIATED_DISCONNECT",
        (Vocabulary::Aws, ConnectRefused) if refusal_is_client_id(code) => "CLIENT_ERROR",
        (Vocabulary::Aws, ConnectRefused) => "AUTH_ERROR",
        (Vocabulary::Aws, ServerDisconnect) if throttled => "THROTTLED",
        (Vocabulary::Aws, ServerDisconnect | ServerShutdown | ServerClose) => {
            "SERVER_INITIATED_DISCONNECT"
        }
        (Vocabulary::Aws, KeepaliveTimeout) => "MQTT_KEEP_ALIVE_TIMEOUT",
        (Vocabulary::Aws, SessionTakenOver) => "DUPLICATE_CLIENTID",
        (Vocabulary::Aws, ProtocolViolation) => "CLIENT_ERROR",
        (Vocabulary::Aws, TlsHandshakeFailed) => "AUTH_ERROR",
        (Vocabulary::Emqx, TlsHandshakeFailed) => "ssl_error",
        (Vocabulary::Apsara, TlsHandshakeFailed) => "not authorized",
        (Vocabulary::Aws, ClientClose | Reset | NatIdleExpiry | RetransmissionTimeout) => {
            "CONNECTION_LOST"
        }
        (Vocabulary::Emqx, ClientDisconnect) => "normal",
        (Vocabulary::Emqx, ConnectRefused) if refusal_is_client_id(code) => "client_id_invalid",
        (Vocabulary::Emqx, ConnectRefused) if matches!(code, Some(5) | Some(0x87)) => {
            "not_authorized"
        }
        (Vocabulary::Emqx, ConnectRefused) => "not_authenticated",
        (Vocabulary::Emqx, ServerDisconnect) if kicked => "kicked",
        (Vocabulary::Emqx, ServerDisconnect | ServerShutdown) if !throttled => "go_away",
        (Vocabulary::Emqx, KeepaliveTimeout) => "keepalive_timeout",
        (Vocabulary::Emqx, SessionTakenOver) => "takeovered",
        (Vocabulary::Emqx, ProtocolViolation) => "ping_without_connect",
        (Vocabulary::Emqx, ClientClose | Reset | NatIdleExpiry | RetransmissionTimeout) => {
            "tcp_closed"
        }
        (Vocabulary::Apsara, ClientDisconnect) => "disconnected by client",
        (Vocabulary::Apsara, ConnectRefused) if !refusal_is_client_id(code) => "not authorized",
        (Vocabulary::Apsara, ServerShutdown | ServerClose) => "ServerShutdown",
        (Vocabulary::Apsara, ServerDisconnect) if code == Some(0x8B) => "ServerShutdown",
        (Vocabulary::Apsara, KeepaliveTimeout) => "no heart",
        (Vocabulary::Apsara, SessionTakenOver) => "clientId conflict",
        (Vocabulary::Apsara, ClientClose | Reset | NatIdleExpiry | RetransmissionTimeout) => {
            "closed by client"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Layer, Vantage};

    fn v(cause: Cause, code: Option<u8>) -> Verdict {
        Verdict {
            cause,
            layer: Some(Layer::Protocol),
            side: None,
            code: code.map(u16::from),
            evidence: vec![],
            rule: "test",
            explanation: String::new(),
            missing_pingreqs: vec![],
            hints: vec![],
            vantage: Vantage::Unknown,
            related_connection: None,
            broker_reason: None,
            gap_outcomes: vec![],
            basis: crate::transport::Basis::Plaintext,
            alternative: None,
        }
    }

    #[test]
    fn maps_causes_to_each_brokers_words() {
        let ka = v(Cause::KeepaliveTimeout, None);
        assert_eq!(
            describe(&ka, Vocabulary::Aws),
            Some("MQTT_KEEP_ALIVE_TIMEOUT")
        );
        assert_eq!(describe(&ka, Vocabulary::Emqx), Some("keepalive_timeout"));
        assert_eq!(describe(&ka, Vocabulary::Apsara), Some("no heart"));
        let take = v(Cause::SessionTakenOver, None);
        assert_eq!(
            describe(&take, Vocabulary::Apsara),
            Some("clientId conflict")
        );
        assert_eq!(
            describe(&v(Cause::ConnectRefused, Some(2)), Vocabulary::Aws),
            Some("CLIENT_ERROR")
        );
        assert_eq!(
            describe(&v(Cause::ConnectRefused, Some(4)), Vocabulary::Aws),
            Some("AUTH_ERROR")
        );
        assert_eq!(
            describe(&v(Cause::ServerDisconnect, Some(0x97)), Vocabulary::Aws),
            Some("THROTTLED")
        );
        assert_eq!(
            describe(&v(Cause::NatIdleExpiry, None), Vocabulary::Emqx),
            Some("tcp_closed")
        );
        assert_eq!(describe(&v(Cause::OpenAtEnd, None), Vocabulary::Aws), None);
    }
}
