//! Who refused a SYN. A RST answering a SYN carries no baseline of its own: the server's
//! host speaks on its other connections in the capture, and a RST whose TTL differs from
//! theirs came from a device on the path (a firewall's REJECT), not from the broker's host.

use crate::tcp::Side;
use crate::verdict::{Cause, Judged, Recast};
use std::collections::HashMap;
use std::net::IpAddr;

/// The refused SYNs whose RST does not fit the server host's own packets.
pub fn refused_by_path(conns: &[Judged]) -> Vec<Recast> {
    let mut host_ttl: HashMap<IpAddr, (u8, usize)> = HashMap::new();
    for c in conns {
        let server = c.half(Side::Server);
        if let Some(ttl) = server.ttl.filter(|_| server.segments >= 2) {
            host_ttl.entry(c.server.ip()).or_insert((ttl, c.id));
        }
    }
    conns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.verdict.cause == Cause::TcpRefused && c.client.ip() != c.server.ip())
        .filter_map(|(index, c)| {
            let rst = c.half(Side::Server).rst.as_deref()?;
            let &(ttl, from) = host_ttl.get(&c.server.ip())?;
            (rst.ttl != ttl).then_some(Recast::RefusedByPath {
                index,
                rst_ttl: rst.ttl,
                host_ttl: ttl,
                from,
            })
        })
        .collect()
}
