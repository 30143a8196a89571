//! Where the capture was taken, judged from handshake timing and TTLs.

use super::Vantage;
use crate::session::Connection;

/// Near the client, the SYN→SYN-ACK time is the whole round trip and SYN-ACK→ACK almost
/// none; near the broker, the opposite. TTLs confirm: the near side's packets carry an
/// initial TTL (64, 128, 255).
pub(super) fn vantage(c: &Connection) -> Vantage {
    let initial = |ttl: Option<u8>| ttl.is_some_and(|t| matches!(t, 64 | 128 | 255));
    let (ct, st) = (c.tcp.client.ttl, c.tcp.server.ttl);
    if initial(ct) && !initial(st) && st.is_some() {
        return Vantage::Client;
    }
    if initial(st) && !initial(ct) && ct.is_some() {
        return Vantage::Server;
    }
    match (c.handshake.server_rtt(), c.handshake.client_rtt()) {
        (Some(s), Some(cl)) if s.0 > 4 * cl.0.max(1) => Vantage::Client,
        (Some(s), Some(cl)) if cl.0 > 4 * s.0.max(1) => Vantage::Server,
        (Some(_), Some(_)) => Vantage::Between,
        _ => Vantage::Unknown,
    }
}
