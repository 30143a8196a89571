//! Judging a set of connections: each alone (the verdict stage), then across connections
//! (correlate), then the verdict stage's second pass over what correlate explained.

use super::Config;
use crate::correlate::{self, Finding};
use crate::session::Connection;
use crate::time::Timestamp;
use crate::verdict::{Judged, rejudge};

/// Judges each connection alone, as of capture time `now`. The records are taken from the
/// back and their vector shrunk as it goes, so records and judged records are not all held
/// twice at the peak.
pub fn judge_each(mut conns: Vec<Connection>, cfg: &Config, now: Timestamp) -> Vec<Judged> {
    let mut thresholds = cfg.thresholds.clone();
    thresholds.capture_end = now;
    let mut judged = Vec::with_capacity(conns.len());
    let step = (conns.len() / 8).max(1024);
    while let Some(c) = conns.pop() {
        judged.push(Judged::judge(c, &thresholds));
        if conns.len().is_multiple_of(step) {
            conns.shrink_to_fit();
        }
    }
    judged.reverse();
    judged
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
