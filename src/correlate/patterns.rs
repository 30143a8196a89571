//! Reconnects and drop patterns per client, clusters across clients, and the NAT bracket.

use super::{Finding, FindingKind, Windows};
use crate::mqtt::PacketKind;
use crate::time::Timestamp;
use crate::verdict::Cause;
use crate::verdict::{GapOutcome, Judged};
use std::collections::BTreeMap;

fn dropped(c: &Judged) -> bool {
    c.verdict.cause.is_drop()
}

fn mean_cv(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, if mean > 0.0 { var.sqrt() / mean } else { 0.0 })
}

/// Connections grouped by client id, each group in start order.
fn by_client(conns: &[Judged]) -> BTreeMap<&str, Vec<&Judged>> {
    let mut m: BTreeMap<&str, Vec<&Judged>> = BTreeMap::new();
    for c in conns {
        if let Some(id) = c.client_id.as_deref().filter(|id| !id.is_empty()) {
            m.entry(id).or_default().push(c);
        }
    }
    m
}

/// Per client: reconnect timing, and the pattern of its drops.
pub fn reconnects_and_patterns(conns: &[Judged], w: &Windows) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, group) in by_client(conns) {
        if group.len() < 2 {
            continue;
        }
        out.push(reconnects(id, &group));
        let drops: Vec<&Judged> = group.iter().copied().filter(|c| dropped(c)).collect();
        if drops.len() >= w.pattern_min_drops {
            out.extend(drop_pattern(id, &drops, w));
        }
    }
    out
}

fn reconnects(id: &str, group: &[&Judged]) -> Finding {
    let waits: Vec<f64> = group
        .windows(2)
        .map(|p| (p[1].start - p[0].end).as_secs_f64().max(0.0))
        .collect();
    let (mean, _) = mean_cv(&waits);
    let min = waits.iter().copied().fold(f64::INFINITY, f64::min);
    let max = waits.iter().copied().fold(0.0, f64::max);
    let backoff = waits.windows(2).all(|p| p[1] > p[0] * 1.5) && waits.len() >= 2;
    let mut f = Finding::new(
        FindingKind::Reconnects,
        group.iter().map(|c| c.id).collect(),
        format!(
            "Client {id:?} connected {} times; time to reconnect {min:.3}–{max:.3} s (mean {mean:.3} s){}.",
            group.len(),
            if backoff { ", growing: exponential backoff" } else { "" }
        ),
    )
    .number("attempts", group.len() as f64)
    .number("reconnect_min_seconds", min)
    .number("reconnect_mean_seconds", mean)
    .number("reconnect_max_seconds", max);
    f.client_id = Some(id.to_string());
    f.time = Some(group[0].start);
    f
}

fn drop_pattern(id: &str, drops: &[&Judged], w: &Windows) -> Vec<Finding> {
    let mut out = Vec::new();
    let ids: Vec<usize> = drops.iter().map(|c| c.id).collect();
    let lifetimes: Vec<f64> = drops
        .iter()
        .map(|c| (c.drop_time() - c.start).as_secs_f64())
        .collect();
    let (period, cv) = mean_cv(&lifetimes);
    let (kind, text) = if cv <= w.regular_cv {
        (
            FindingKind::RegularDrops,
            format!(
                "Client {id:?} dropped {} times, each after {period:.1} s connected (variation {:.0}%): a lifetime or schedule somewhere.",
                drops.len(),
                cv * 100.0
            ),
        )
    } else {
        (
            FindingKind::IrregularDrops,
            format!(
                "Client {id:?} dropped {} times at irregular intervals (connected {:.1}–{:.1} s, variation {:.0}%): typical of network loss or NAT.",
                drops.len(),
                lifetimes.iter().copied().fold(f64::INFINITY, f64::min),
                lifetimes.iter().copied().fold(0.0, f64::max),
                cv * 100.0
            ),
        )
    };
    let mut f = Finding::new(kind, ids.clone(), text)
        .number("drops", drops.len() as f64)
        .number("mean_lifetime_seconds", period)
        .number("variation", cv);
    f.client_id = Some(id.to_string());
    out.push(f);
    let counts: Vec<f64> = drops
        .iter()
        .map(|c| c.packets.get(PacketKind::Publish) as f64)
        .collect();
    let (mean_count, count_cv) = mean_cv(&counts);
    if mean_count >= 10.0 && count_cv <= w.regular_cv {
        let mut f = Finding::new(
            FindingKind::DropsAfterMessages,
            ids,
            format!("Client {id:?} dropped each time after about {mean_count:.0} messages: a rate limit or quota."),
        )
        .number("messages", mean_count)
        .number("variation", count_cv);
        f.client_id = Some(id.to_string());
        out.push(f);
    }
    out
}

/// Drops of several different clients at one moment, more than the capture's own drop rate
/// makes likely: the number of drops in the window is judged against a Poisson count at the
/// rate of the other drops, over as many windows as the capture holds.
pub fn clusters(conns: &[Judged], w: &Windows) -> Vec<Finding> {
    let mut drops: Vec<(Timestamp, &Judged)> = conns
        .iter()
        .filter(|c| {
            dropped(c) && !matches!(c.verdict.cause, Cause::ConnectRefused | Cause::TcpRefused)
        })
        .map(|c| (c.drop_time(), c))
        .collect();
    drops.sort_by_key(|(t, c)| (*t, c.id));
    let span = capture_span(conns).max(w.cluster.as_secs_f64());
    let windows = span / w.cluster.as_secs_f64();
    let mut out = Vec::new();
    let mut start = 0;
    while start < drops.len() {
        let mut end = start;
        while end + 1 < drops.len() && drops[end + 1].0 - drops[start].0 <= w.cluster {
            end += 1;
        }
        let group = &drops[start..=end];
        let mut clients: Vec<&str> = group
            .iter()
            .filter_map(|(_, c)| c.client_id.as_deref())
            .collect();
        clients.sort_unstable();
        clients.dedup();
        let others = (drops.len() - group.len()) as f64;
        let expected = others / span * w.cluster.as_secs_f64();
        let chance = (poisson_tail(group.len() as u64, expected) * windows).min(1.0);
        if clients.len() >= w.cluster_min && chance < w.cluster_chance {
            out.push(cluster(group, clients.len(), expected, chance));
        }
        start = end + 1;
    }
    out
}

fn cluster(group: &[(Timestamp, &Judged)], clients: usize, expected: f64, chance: f64) -> Finding {
    let mut f = Finding::new(
        FindingKind::ClusteredDrops,
        group.iter().map(|(_, c)| c.id).collect(),
        format!(
            "{clients} clients dropped within {:.3} s, where the capture's drop rate gives {expected:.1} in such a window (chance {chance:.1e}): a gateway or broker event, not the devices.",
            (group[group.len() - 1].0 - group[0].0).as_secs_f64()
        ),
    )
    .number("clients", clients as f64)
    .number("expected_by_rate", expected)
    .number("chance", chance);
    f.time = Some(group[0].0);
    f
}

/// Seconds from the first connection's start to the last one's end.
fn capture_span(conns: &[Judged]) -> f64 {
    let first = conns.iter().map(|c| c.start).min();
    let last = conns.iter().map(|c| c.end).max();
    match (first, last) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    }
}

/// P(X >= k) for X ~ Poisson(mean), summed from k upwards in log space.
fn poisson_tail(k: u64, mean: f64) -> f64 {
    if mean <= 0.0 {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    let ln_fact = |n: u64| (2..=n).map(|i| (i as f64).ln()).sum::<f64>();
    let mut ln_term = -mean + k as f64 * mean.ln() - ln_fact(k);
    let mut sum = 0.0;
    for i in k..k + 1000 {
        let term = ln_term.exp();
        sum += term;
        if term < sum * 1e-12 {
            break;
        }
        ln_term += mean.ln() - ((i + 1) as f64).ln();
    }
    sum.min(1.0)
}

/// Brackets the NAT idle timeout between the longest gap a connection survived and the
/// shortest gap that killed one.
pub fn nat_bracket(conns: &[Judged]) -> Option<Finding> {
    let mut killed: Option<(f64, usize)> = None;
    let mut survived: Option<(f64, usize)> = None;
    for c in conns {
        for (g, &outcome) in c.idle_gaps.iter().zip(&c.verdict.gap_outcomes) {
            let slot = match outcome {
                GapOutcome::Killed if killed.is_none_or(|(k, _)| g.seconds() < k) => &mut killed,
                GapOutcome::Survived if survived.is_none_or(|(s, _)| g.seconds() > s) => {
                    &mut survived
                }
                _ => continue,
            };
            *slot = Some((g.seconds(), c.id));
        }
    }
    let (upper, killer) = killed?;
    let lower = survived.map_or(0.0, |(s, _)| s).min(upper);
    let mut ids = vec![killer];
    ids.extend(survived.map(|(_, i)| i).filter(|&i| i != killer));
    let keepalives: Vec<u16> = conns
        .iter()
        .filter_map(|c| c.keepalive)
        .filter(|&k| k > 0)
        .collect();
    let max_ka = keepalives.iter().copied().max().unwrap_or(0);
    let advice = if lower > 0.0 {
        format!("keep keepalives below {lower:.0} s (the longest idle that survived)")
    } else {
        format!("keep keepalives well below {upper:.0} s")
    };
    let f = Finding::new(
        FindingKind::NatTimeoutBracket,
        ids,
        format!(
            "The NAT idle timeout is between {lower:.1} s (longest idle gap survived) and {upper:.1} s (shortest that killed); clients use keepalives up to {max_ka} s: {advice}."
        ),
    )
    .number("lower_seconds", lower)
    .number("upper_seconds", upper)
    .number("max_keepalive_seconds", f64::from(max_ka));
    Some(f)
}
