//! Judging a set of connections: each alone (the verdict stage), then across connections
//! (correlate), then the verdict stage's second pass over what correlate explained.

use super::Config;
use crate::correlate::{self, Finding};
use crate::session::Connection;
use crate::time::Timestamp;
use crate::verdict::{Judged, rejudge};

/// Judges each connection alone, as of capture time `now`. The records stay where they
/// are: a judged connection holds its record's box.
pub fn judge_each(conns: Vec<Box<Connection>>, cfg: &Config, now: Timestamp) -> Vec<Judged> {
    let mut thresholds = cfg.thresholds.clone();
    thresholds.capture_end = now;
    conns
        .into_iter()
        .map(|c| Judged::judge(c, &thresholds))
        .collect()
}

/// Judges connections across each other: takeovers, mass closes and NAT expiries (against
/// outages) re-judged, and every
/// cross-connection finding.
pub fn judge_across(judged: &mut [Judged], cfg: &Config) -> Vec<Finding> {
    let (mut findings, recasts) = correlate::takeovers(judged, &cfg.windows);
    rejudge(judged, &recasts);
    let (shutdowns, recasts) = correlate::mass_closes(judged, &cfg.windows);
    rejudge(judged, &recasts);
    rejudge(judged, &correlate::nat_or_outage(judged, &cfg.windows));
    rejudge(judged, &correlate::refused_by_path(judged));
    findings.extend(shutdowns);
    findings.extend(correlate::patterns(judged, &cfg.windows));
    findings
}
