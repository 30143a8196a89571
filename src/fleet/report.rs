//! The periodic fleet report: `fleet-K-of-N-TIME.json` (the counts and the findings of the
//! period) and the same as readable text in `fleet-K-of-N-TIME.txt`.

use super::{Correlator, FleetCounts, FleetFinding, Partition};
use crate::time::Timestamp;
use serde::Serialize;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One fleet report.
#[derive(Debug, Serialize)]
pub struct FleetReport<'a> {
    /// This instance (K of N).
    pub instance: u32,
    /// N.
    pub of: u32,
    /// Newest record time when written.
    pub record_time: Timestamp,
    /// Client ids tracked.
    pub clients: usize,
    /// Counts since the start.
    pub counts: &'a FleetCounts,
    /// Findings since the last report.
    pub findings: &'a [FleetFinding],
}

/// Writes the report of what `c` found since the last one into `dir`; returns the JSON
/// file's path.
pub fn write(dir: &Path, part: Partition, c: &mut Correlator) -> io::Result<PathBuf> {
    let findings = c.take_findings();
    let report = FleetReport {
        instance: part.instance,
        of: part.of,
        record_time: c.now(),
        clients: c.clients(),
        counts: c.counts(),
        findings: &findings,
    };
    std::fs::create_dir_all(dir)?;
    let wall = crate::live::wall_now().0.div_euclid(1_000_000_000);
    let stem = format!("fleet-{}-of-{}-{wall}", part.instance, part.of);
    let json_path = dir.join(format!("{stem}.json"));
    let mut json = io::BufWriter::new(std::fs::File::create(&json_path)?);
    serde_json::to_writer_pretty(&mut json, &report)?;
    writeln!(json)?;
    json.flush()?;
    let mut text = io::BufWriter::new(std::fs::File::create(dir.join(format!("{stem}.txt")))?);
    write_text(&report, &mut text)?;
    text.flush()?;
    Ok(json_path)
}

/// The report as text: findings, then drops by probe and cause, then records by probe.
pub fn write_text(r: &FleetReport<'_>, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "fleet report (instance {} of {}), records up to {:.3}, {} client ids tracked",
        r.instance,
        r.of,
        r.record_time.as_secs_f64(),
        r.clients
    )?;
    writeln!(
        out,
        "\nfindings since the last report: {}",
        r.findings.len()
    )?;
    for f in r.findings {
        writeln!(out, "  {:<22} {}", f.kind.name(), f.explanation)?;
    }
    let c = r.counts;
    writeln!(
        out,
        "\nreal connections: {} ({} seen by two or more probes)",
        c.connections.values().sum::<u64>(),
        c.joined
    )?;
    for (cause, n) in &c.connections {
        writeln!(out, "  {cause:<24} {n}")?;
    }
    writeln!(out, "\ndrops by probe:")?;
    for (probe, causes) in &c.drops {
        let list: Vec<String> = causes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(out, "  {probe:<24} {}", list.join(", "))?;
    }
    writeln!(out, "\nrecords by probe:")?;
    for (probe, kinds) in &c.records {
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(out, "  {probe:<24} {}", list.join(", "))?;
    }
    if c.bad_records > 0 || c.clients_evicted > 0 {
        writeln!(
            out,
            "\nbad records {}, client ids evicted by the cap {}",
            c.bad_records, c.clients_evicted
        )?;
    }
    Ok(())
}
