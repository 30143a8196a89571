//! The joined connections as a text table, then the connections one probe alone saw.

use super::{Joined, JoinedConnection, Placement, Sighting};
use crate::verdict::{Actor, Layer};
use std::io::{self, Write};

/// Writes the probes and their clocks, one table of joined connections, and one table per
/// probe of the connections only it saw.
pub fn write_joined_table(j: &Joined, out: &mut impl Write) -> io::Result<()> {
    write_vantages(j, out)?;
    let mut rows = vec![header(&[
        "ID",
        "CLIENT ID",
        "CLIENT",
        "NAT (PUBLIC)",
        "SERVER",
        "MATCHED BY",
        "VERDICT",
        "LAYER",
        "SIDE",
        "RULE",
        "VIEWS",
    ])];
    rows.extend(j.connections.iter().map(joined_row));
    writeln!(out)?;
    if j.connections.is_empty() {
        writeln!(out, "No connection was seen by more than one probe.")?;
    } else {
        write_grid(&rows, out)?;
    }
    for v in &j.vantages {
        let alone: Vec<&Sighting> = j.unmatched.iter().filter(|s| s.name == v.name).collect();
        if alone.is_empty() {
            continue;
        }
        writeln!(out, "\nSeen at {} only:", v.name)?;
        let mut rows = vec![header(&[
            "ID",
            "CLIENT ID",
            "CLIENT",
            "SERVER",
            "VERDICT",
            "LAYER",
            "SIDE",
            "RULE",
        ])];
        rows.extend(alone.iter().map(|s| alone_row(s)));
        write_grid(&rows, out)?;
    }
    Ok(())
}

fn write_vantages(j: &Joined, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "Vantage points:")?;
    for v in &j.vantages {
        let place = match v.placement {
            Placement::ClientSide => "client side",
            Placement::BrokerSide => "broker side",
            Placement::Unknown => "placement unknown",
        };
        writeln!(
            out,
            "  {}: {place}, {} connections ({})",
            v.name,
            v.connections,
            v.captures.join(", ")
        )?;
    }
    for o in &j.clock_offsets {
        writeln!(
            out,
            "  clock of {} against {}: {:+.6} s (spread {:.6} s, {} request/reply pairs)",
            o.to, o.from, o.seconds, o.spread_seconds, o.samples
        )?;
    }
    Ok(())
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn joined_row(c: &JoinedConnection) -> Vec<String> {
    let client = c
        .vantages
        .first()
        .map(|s| s.client.to_string())
        .unwrap_or_default();
    let views: Vec<String> = c
        .vantages
        .iter()
        .map(|s| format!("{}#{} {}", s.name, s.connection_id, s.verdict.cause.name()))
        .collect();
    let v = &c.joined_verdict;
    vec![
        c.id.to_string(),
        c.client_id.clone().unwrap_or_else(|| "-".into()),
        client,
        c.nat_mapping
            .map_or_else(|| "-".into(), |m| m.public.to_string()),
        c.server.to_string(),
        c.matched_by.name().to_string(),
        v.cause.name().to_string(),
        layer(v.layer),
        actor(v.side),
        v.rule.to_string(),
        views.join(" | "),
    ]
}

fn alone_row(s: &Sighting) -> Vec<String> {
    vec![
        s.connection_id.to_string(),
        s.client_id.clone().unwrap_or_else(|| "-".into()),
        s.client.to_string(),
        s.server.to_string(),
        s.verdict.cause.name().to_string(),
        layer(s.verdict.layer),
        actor(s.verdict.side),
        s.verdict.rule.to_string(),
    ]
}

fn layer(l: Option<Layer>) -> String {
    l.map_or("-", Layer::name).to_string()
}

fn actor(a: Option<Actor>) -> String {
    a.map_or("-", Actor::name).to_string()
}

/// Left-aligned columns, each as wide as its widest cell, two spaces apart.
fn write_grid(rows: &[Vec<String>], out: &mut impl Write) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}
