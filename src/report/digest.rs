//! Findings as a reader of a big capture takes them in: grouped by kind, the kinds that name
//! a cause across clients first, and the per-client reconnect findings summed up as one
//! distribution with the clients that reconnected most. Text and HTML views share it.

use crate::correlate::{Finding, FindingKind};
use crate::engine::Analysis;

/// Kinds in the order a reader needs them: what explains many drops at once first, one
/// client's history last.
const KIND_ORDER: [FindingKind; 8] = [
    FindingKind::NatTimeoutBracket,
    FindingKind::ServerShutdown,
    FindingKind::SessionTakenOver,
    FindingKind::ClusteredDrops,
    FindingKind::RegularDrops,
    FindingKind::IrregularDrops,
    FindingKind::DropsAfterMessages,
    FindingKind::Reconnects,
];

/// How many clients the reconnect digest names as those that connected most.
pub const WORST_CLIENTS: usize = 3;

/// The findings of one kind.
#[derive(Debug)]
pub struct FindingGroup<'a> {
    /// What they found.
    pub kind: FindingKind,
    /// The findings, those involving the most connections first (ties in analysis order).
    pub findings: Vec<&'a Finding>,
}

/// The findings grouped by kind, in `KIND_ORDER`; kinds without findings are left out.
pub fn group_findings(findings: &[Finding]) -> Vec<FindingGroup<'_>> {
    KIND_ORDER
        .iter()
        .map(|&kind| {
            let mut of_kind: Vec<&Finding> = findings.iter().filter(|f| f.kind == kind).collect();
            of_kind.sort_by_key(|f| std::cmp::Reverse(f.connections.len()));
            FindingGroup {
                kind,
                findings: of_kind,
            }
        })
        .filter(|g| !g.findings.is_empty())
        .collect()
}

/// Smallest, nearest-rank median and 90th percentile, and largest of a set of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiles {
    /// Smallest.
    pub min: f64,
    /// Median (nearest rank).
    pub median: f64,
    /// 90th percentile (nearest rank).
    pub p90: f64,
    /// Largest.
    pub max: f64,
}

impl Quantiles {
    /// The quantiles of `xs`; `None` when it is empty. A handful of lines over a sorted copy:
    /// a statistics crate would add nothing.
    pub fn of(xs: &[f64]) -> Option<Quantiles> {
        let mut sorted = xs.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = (p * sorted.len() as f64).ceil() as usize;
            sorted.get(i.saturating_sub(1)).copied()
        };
        Some(Quantiles {
            min: *sorted.first()?,
            median: rank(0.5)?,
            p90: rank(0.9)?,
            max: *sorted.last()?,
        })
    }
}

/// Every reconnect finding summed up.
#[derive(Debug)]
pub struct ReconnectDigest<'a> {
    /// Clients that connected more than once.
    pub clients: usize,
    /// Their connections.
    pub connections: usize,
    /// Time from a connection's end to the same client's next connection, over every client.
    pub waits: Option<Quantiles>,
    /// The clients with the most connections, with their count, most first.
    pub worst: Vec<(&'a str, usize)>,
}

/// The reconnect findings of `a` summed up; `None` when there are none.
pub fn reconnects(a: &Analysis) -> Option<ReconnectDigest<'_>> {
    let group: Vec<&Finding> = a
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Reconnects)
        .collect();
    if group.is_empty() {
        return None;
    }
    let mut worst: Vec<(&str, usize)> = group
        .iter()
        .map(|f| (f.client_id.as_deref().unwrap_or("-"), f.connections.len()))
        .collect();
    worst.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
    worst.truncate(WORST_CLIENTS);
    Some(ReconnectDigest {
        clients: group.len(),
        connections: group.iter().map(|f| f.connections.len()).sum(),
        waits: Quantiles::of(&a.summary.reconnect_waits),
        worst,
    })
}

impl ReconnectDigest<'_> {
    /// One sentence: how many clients, the wait distribution, the clients that connected most.
    pub fn sentence(&self) -> String {
        let clients = match self.clients {
            1 => "1 client".to_string(),
            n => format!("{n} clients"),
        };
        let mut s = format!(
            "{clients} connected more than once ({} connections)",
            self.connections
        );
        if let Some(q) = self.waits {
            s.push_str(&format!(
                "; time to reconnect min {:.3} s, median {:.3} s, p90 {:.3} s, max {:.3} s",
                q.min, q.median, q.p90, q.max
            ));
        }
        let worst: Vec<String> = self
            .worst
            .iter()
            .map(|(id, n)| format!("{id:?} {n}"))
            .collect();
        if !worst.is_empty() {
            s.push_str(&format!("; most connections: {}", worst.join(", ")));
        }
        s.push('.');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: FindingKind, client: &str, connections: Vec<usize>) -> Finding {
        Finding {
            kind,
            client_id: Some(client.to_string()),
            connections,
            time: None,
            numbers: Default::default(),
            explanation: format!("{client} {}", kind.name()),
        }
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let xs: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let q = Quantiles::of(&xs).expect("values");
        assert_eq!((q.min, q.median, q.p90, q.max), (1.0, 5.0, 9.0, 10.0));
        assert_eq!(Quantiles::of(&[]), None);
        let one = Quantiles::of(&[2.5]).expect("one value");
        assert_eq!(
            (one.min, one.median, one.p90, one.max),
            (2.5, 2.5, 2.5, 2.5)
        );
    }

    #[test]
    fn groups_follow_kind_order_and_put_bigger_findings_first() {
        let fs = vec![
            finding(FindingKind::Reconnects, "a", vec![0, 1]),
            finding(FindingKind::RegularDrops, "b", vec![2, 3, 4]),
            finding(FindingKind::Reconnects, "c", vec![5, 6, 7]),
        ];
        let groups = group_findings(&fs);
        let kinds: Vec<FindingKind> = groups.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, [FindingKind::RegularDrops, FindingKind::Reconnects]);
        let clients: Vec<&str> = groups[1]
            .findings
            .iter()
            .filter_map(|f| f.client_id.as_deref())
            .collect();
        assert_eq!(clients, ["c", "a"]);
    }
}
