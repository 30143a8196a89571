//! The terminal views: a table of connections with their verdicts, findings and totals; and
//! a per-packet dump like a tshark field listing.

use crate::engine::Analysis;
use crate::mqtt::Packet;
use crate::session::{TcpEndKind, What};
use crate::transport::TransportKind;
use crate::verdict::Judged;
use std::io::{self, Write};

fn tcp_end(c: &Judged) -> String {
    match c.tcp_end {
        None => "open".into(),
        Some(e) => format!(
            "{} {}",
            match e.kind {
                TcpEndKind::Fin => "FIN",
                TcpEndKind::Rst => "RST",
            },
            e.by.name()
        ),
    }
}

fn verdict(c: &Judged) -> String {
    let v = &c.verdict;
    let name = v.broker_reason.unwrap_or(v.cause.name());
    let layer = v.layer.map_or("-", |l| l.name());
    match v.code {
        Some(code) => format!("{name} [{layer}] code {code}"),
        None => format!("{name} [{layer}]"),
    }
}

fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// The table of connections, then findings, summary and warnings.
pub fn write_table(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:>4}  {:<20} {:<44} {:<5} {:>5} {:>9} {:>6}  {:<10} VERDICT",
        "ID", "CLIENT ID", "CLIENT -> SERVER", "MQTT", "KA", "DURATION", "PKTS", "TCP END"
    )?;
    for c in &a.connections {
        let id = c
            .client_id
            .as_deref()
            .map(shorten)
            .unwrap_or_else(|| "-".into());
        // The MQTT version, with the carrier when it is not plain TCP (`5.0/wss`); `tls`
        // alone when the version is encrypted.
        let version = match (c.protocol, c.transport) {
            (Some(v), TransportKind::Tcp) => v.name().to_string(),
            (Some(v), t) => format!("{}/{}", v.name(), t.name()),
            (None, TransportKind::Tcp) => "-".to_string(),
            (None, t) => t.name().to_string(),
        };
        writeln!(
            out,
            "{:>4}  {:<20} {:<44} {:<5} {:>5} {:>9} {:>6}  {:<10} {}",
            c.id,
            id,
            format!("{} -> {}", c.client, c.server),
            version,
            or_dash(c.keepalive),
            c.duration.to_string(),
            c.packets.total(),
            tcp_end(c),
            verdict(c)
        )?;
        let v = &c.verdict;
        if v.cause.is_drop() {
            writeln!(
                out,
                "        {} (frames {})",
                v.explanation,
                list(&v.evidence)
            )?;
            for h in &v.hints {
                writeln!(out, "        hint: {h}")?;
            }
        }
    }
    write_findings(a, out)?;
    write_totals(a, out)
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 20 {
        s.to_string()
    } else {
        let head: String = s.chars().take(19).collect();
        format!("{head}…")
    }
}

fn list(frames: &[u64]) -> String {
    frames
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_findings(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    if a.findings.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nFindings:")?;
    for f in &a.findings {
        writeln!(out, "  - {}", f.explanation)?;
    }
    Ok(())
}

fn write_totals(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    let s = &a.summary;
    writeln!(
        out,
        "\nSummary: {} connections, {} drops, {} recovered by reconnecting, {} messages published",
        s.connections, s.drops, s.recoveries, s.messages_published
    )?;
    let causes: Vec<String> = s.by_cause.iter().map(|(k, v)| format!("{k} {v}")).collect();
    writeln!(out, "  by cause: {}", causes.join(", "))?;
    let layers: Vec<String> = s
        .drops_by_layer
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if !layers.is_empty() {
        writeln!(out, "  drops by layer: {}", layers.join(", "))?;
    }
    let st = &a.stats;
    writeln!(
        out,
        "  frames {} (analyzed {}, not TCP or undecodable {}, snaplen-cut {}), TCP flows {} ({} not MQTT)",
        st.frames,
        st.frames_analyzed,
        st.skipped.total(),
        st.snaplen_cut,
        st.tcp_flows,
        st.other_flows
    )?;
    if st.flows_evicted > 0
        || st.reassembly_cap_hits > 0
        || st.oversized_packets > 0
        || st.timeline_omitted > 0
        || st.connections_not_kept > 0
    {
        writeln!(
            out,
            "  caps hit: {} flows evicted, {} reassembly buffers full, {} oversized MQTT packets skipped, {} timeline entries omitted, {} connections not kept",
            st.flows_evicted,
            st.reassembly_cap_hits,
            st.oversized_packets,
            st.timeline_omitted,
            st.connections_not_kept
        )?;
    }
    for w in &a.warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

/// Every MQTT packet, one line each: frame, time, connection, direction, type, details.
pub fn write_packets(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    let mut rows = Vec::new();
    for c in &a.connections {
        for e in &c.timeline {
            match &e.what {
                What::Mqtt(p) => rows.push((e.at, c.id, e.side, p.kind().name(), details(p))),
                What::Inferred(p) => rows.push((
                    e.at,
                    c.id,
                    e.side,
                    p.kind.name(),
                    "inferred from TLS record size".to_string(),
                )),
                _ => {}
            }
        }
    }
    rows.sort_by_key(|(at, id, ..)| (at.frame, *id));
    for (at, id, side, kind, details) in rows {
        let dir = match side {
            crate::tcp::Side::Client => "c>s",
            crate::tcp::Side::Server => "s>c",
        };
        writeln!(
            out,
            "{}\t{:.6}\t{}\t{}\t{}\t{}",
            at.frame,
            at.ts.as_secs_f64(),
            id,
            dir,
            kind,
            details
        )?;
    }
    Ok(())
}

fn details(p: &Packet) -> String {
    match p {
        Packet::Connect(c) => format!(
            "client_id={:?} version={} keepalive={} clean={} will={} username={} password={}",
            c.client_id,
            c.version.name(),
            c.keepalive,
            c.clean_session,
            c.will,
            c.has_username,
            c.has_password
        ),
        Packet::ConnAck {
            session_present,
            code,
        } => format!("code={code} session_present={session_present}"),
        Packet::Publish {
            topic,
            qos,
            packet_id,
            payload_len,
            ..
        } => {
            format!(
                "topic={topic:?} qos={qos} id={} payload={payload_len}",
                or_dash(*packet_id)
            )
        }
        Packet::Disconnect {
            reason,
            reason_string,
        } => {
            format!(
                "reason={} {}",
                or_dash(reason.map(|r| format!("0x{r:02X}"))),
                reason_string.as_deref().unwrap_or("")
            )
        }
        Packet::SubAck { packet_id, codes } => format!("id={packet_id} codes={codes:?}"),
        Packet::Subscribe { packet_id, topics } => format!("id={packet_id} topics={topics:?}"),
        _ => String::new(),
    }
}
