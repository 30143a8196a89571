//! The terminal views: a table of connections with their verdicts (each drop with the
//! Wireshark filter of its evidence), findings and totals, laid out for the capture's size;
//! and a per-packet dump like a tshark field listing.

use super::digest;
use super::packets::packet_rows;
use super::wireshark::frame_filter;
use crate::correlate::FindingKind;
use crate::engine::Analysis;
use crate::mqtt::Packet;
use crate::session::TcpEndKind;
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

/// Captures with at most this many connections print in full: every row in ID order, then
/// the findings, then the summary. Up to this size the table fits a screen or two and reads
/// as the story of the capture.
pub const SMALL_CAPTURE: usize = 50;

/// Rows of the table printed for a bigger capture (drops first) unless `--all` is given.
pub const TABLE_ROWS: usize = 40;

/// Findings of one kind printed for a bigger capture; the rest of the kind are counted.
pub const FINDINGS_PER_KIND: usize = 3;

/// The analysis as a table. A capture of up to `SMALL_CAPTURE` connections, or any capture
/// with `all`, prints every row in ID order, then every finding, then the summary. A bigger
/// one prints what a reader needs first: the summary, the findings grouped by kind (reconnects
/// summed up as one distribution), then `TABLE_ROWS` rows, drops first, and how many were
/// left out.
pub fn write_table(a: &Analysis, all: bool, out: &mut impl Write) -> io::Result<()> {
    if all || a.connections.len() <= SMALL_CAPTURE {
        write_rows(a.connections.iter(), out)?;
        write_findings(a, out)?;
        writeln!(out)?;
        return write_totals(a, out);
    }
    write_totals(a, out)?;
    write_finding_groups(a, out)?;
    write_top_rows(a, out)
}

fn write_header(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:>4}  {:<20} {:<44} {:<5} {:>5} {:>9} {:>6}  {:<10} VERDICT",
        "ID", "CLIENT ID", "CLIENT -> SERVER", "MQTT", "KA", "DURATION", "PKTS", "TCP END"
    )
}

fn write_rows<'a>(rows: impl Iterator<Item = &'a Judged>, out: &mut impl Write) -> io::Result<()> {
    write_header(out)?;
    for c in rows {
        write_row(c, out)?;
    }
    Ok(())
}

/// `TABLE_ROWS` rows, dropped connections first (each group in ID order), then a line saying
/// what was left out.
fn write_top_rows(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    let (drops, rest): (Vec<&Judged>, Vec<&Judged>) = a
        .connections
        .iter()
        .partition(|c| c.verdict.cause.is_drop());
    let shown = TABLE_ROWS.min(a.connections.len());
    writeln!(
        out,
        "\nConnections: {shown} of {}, drops first",
        a.connections.len()
    )?;
    write_rows(drops.iter().chain(rest.iter()).copied().take(shown), out)?;
    let hidden_drops = drops.len().saturating_sub(shown);
    let hidden = a.connections.len() - shown;
    writeln!(
        out,
        "  + {hidden} rows left out ({hidden_drops} dropped, {} clean or open); --all prints every row in ID order",
        hidden - hidden_drops
    )
}

fn write_row(c: &Judged, out: &mut impl Write) -> io::Result<()> {
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
        if let Some(filter) = frame_filter(&v.evidence) {
            writeln!(out, "        filter: {filter}")?;
        }
        for h in &v.hints {
            writeln!(out, "        hint: {h}")?;
        }
    }
    Ok(())
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

/// The findings by kind: a kind with few findings lists them, a bigger one its first
/// `FINDINGS_PER_KIND` and a count; reconnects are one line summing them all up.
fn write_finding_groups(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    let groups = digest::group_findings(&a.findings);
    if groups.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nFindings by kind:")?;
    for g in &groups {
        let n = g.findings.len();
        if g.kind == FindingKind::Reconnects {
            if let Some(r) = digest::reconnects(a) {
                writeln!(out, "  {} ({n}): {}", g.kind.name(), r.sentence())?;
            }
            continue;
        }
        writeln!(out, "  {} ({n}):", g.kind.name())?;
        for f in g.findings.iter().take(FINDINGS_PER_KIND) {
            writeln!(out, "    - {}", f.explanation)?;
        }
        if n > FINDINGS_PER_KIND {
            writeln!(
                out,
                "    + {} more; --all lists every finding",
                n - FINDINGS_PER_KIND
            )?;
        }
    }
    Ok(())
}

fn write_totals(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    let s = &a.summary;
    writeln!(
        out,
        "Summary: {} connections, {} drops, {} recovered by reconnecting, {} messages published",
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
        || st.attempts_not_kept > 0
    {
        writeln!(
            out,
            "  caps hit: {} flows evicted, {} reassembly buffers full, {} oversized MQTT packets skipped, {} timeline entries omitted, {} connections not kept, {} connection attempts not kept",
            st.flows_evicted,
            st.reassembly_cap_hits,
            st.oversized_packets,
            st.timeline_omitted,
            st.connections_not_kept,
            st.attempts_not_kept
        )?;
    }
    for w in &a.warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

/// Every MQTT packet, one line each: frame, time, connection, direction, type, details.
pub fn write_packets(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    for row in packet_rows(a) {
        let dir = match row.direction {
            crate::tcp::Side::Client => "c>s",
            crate::tcp::Side::Server => "s>c",
        };
        let details = match row.packet {
            Some(p) => details(p),
            None => "inferred from TLS record size".to_string(),
        };
        writeln!(
            out,
            "{}\t{:.6}\t{}\t{}\t{}\t{}",
            row.at.frame(),
            row.at.ts.as_secs_f64(),
            row.connection,
            dir,
            row.kind.name(),
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
