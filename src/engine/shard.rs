//! One analysis on several threads: flows sharded by a hash of their 4-tuple (the same from
//! either direction), each shard analyzed by an engine of its own. Input that reads again
//! cheaply (a plain pcap file in the page cache) is read whole by every engine; other input
//! goes through one reader thread (`pipeline`).
//!
//! The cut was measured before it was chosen (README, "Speed and memory"): with frames of a
//! few hundred bytes, a frame that one core read and another analyzes costs the analysis
//! more than a second read of the file costs its reader; with big frames (reading is then
//! most of a run) the two cuts are even. Every per-flow decision stays inside its flow, and
//! every engine sees every frame's time, so each flow is retired when it would be on one
//! thread; connections are merged and sorted by first frame as on one thread, and the
//! cross-connection stage runs once on all of them: the output is byte-identical to one
//! thread's. The caps (`max_flows`, `max_connections`, `max_attempts`) are split evenly
//! between shards, so memory stays bounded as on one thread; only when a cap is hit may the
//! flows evicted or the records dropped differ from one thread's.

use super::{Analyzer, Config};
use crate::tcp::FlowKey;
use crate::transport::KeyLog;
use rustc_hash::FxBuildHasher;
use std::hash::BuildHasher;
use std::sync::Arc;

/// Which part of the flows an engine analyzes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Every flow: one engine alone.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Part `index` of `count` (`count` at least 1, `index` below it).
    pub fn new(index: usize, count: usize) -> Shard {
        let count = count.max(1);
        Shard {
            index: index.min(count - 1),
            count,
        }
    }

    /// Whether the frame of flow `key` is this shard's; a frame that is no TCP segment
    /// (`None`) is counted by shard 0.
    pub(super) fn owns(&self, key: Option<&FlowKey>) -> bool {
        if self.count == 1 {
            return true;
        }
        match key {
            // 32 bits of the hash scaled to the count (a multiply, where `%` divides): bits
            // the table uses neither for its buckets (the low ones) nor for the tags of
            // its control bytes (the top seven), so a shard's flows spread as all flows do.
            Some(k) => {
                let part = u128::from((FxBuildHasher.hash_one(k) >> 25) as u32);
                ((part * self.count as u128) >> 32) as usize == self.index
            }
            None => self.index == 0,
        }
    }

    /// Which part this is, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// This shard's part of a cap.
    pub(super) fn part_of(&self, cap: usize) -> usize {
        cap.div_ceil(self.count).max(1)
    }
}

/// Runs `read` on `threads` engines at once, each a shard of the flows (one thread: the
/// whole), and merges them into the first shard's engine, with every flow retired. `read`
/// feeds an engine every frame of the input; what it returns for shard 0 (read warnings,
/// frame count) is handed back. The first error any shard meets is returned.
pub fn analyze_sharded<R: Send, E: Send>(
    threads: usize,
    cfg: &Config,
    keys: Arc<KeyLog>,
    read: impl Fn(&mut Analyzer, Shard) -> Result<R, E> + Sync,
) -> Result<(Analyzer, R), E> {
    let count = threads.max(1);
    let run = |index: usize| {
        let shard = Shard::new(index, count);
        let mut analyzer = Analyzer::for_shard(cfg.clone(), keys.clone(), shard);
        let r = read(&mut analyzer, shard)?;
        analyzer.retire_where(|_| true);
        Ok((analyzer, r))
    };
    let run = &run;
    std::thread::scope(|s| {
        let others: Vec<_> = (1..count).map(|i| s.spawn(move || run(i))).collect();
        let first = run(0);
        // A shard that panicked takes the analysis down as it would on one thread.
        let others: Vec<Result<(Analyzer, R), E>> = others
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        let (mut merged, r) = first?;
        for other in others {
            merged.absorb(other?.0);
        }
        Ok((merged, r))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    /// Keys of `n` connections from one address to a broker, on consecutive ports.
    fn one_client(n: u16) -> Vec<FlowKey> {
        let broker: SocketAddr = "192.0.2.1:1883".parse().unwrap();
        (0..n)
            .map(|p| FlowKey::new(SocketAddr::new([10, 0, 0, 7].into(), 30000 + p), broker))
            .collect()
    }

    /// Keys of `n` devices, one connection each, from consecutive addresses.
    fn many_clients(n: u32) -> Vec<FlowKey> {
        let broker: SocketAddr = "192.0.2.1:1883".parse().unwrap();
        (0..n)
            .map(|i| {
                let ip = std::net::Ipv4Addr::from_bits(0x0a00_0000 + i);
                FlowKey::new(SocketAddr::new(ip.into(), 51000), broker)
            })
            .collect()
    }

    #[test]
    fn every_flow_has_exactly_one_shard_and_the_shards_are_even() {
        for keys in [one_client(6000), many_clients(6000)] {
            for count in [2, 3, 4] {
                let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count)).collect();
                let mut owned = vec![0usize; count];
                for k in &keys {
                    let owners: Vec<usize> =
                        (0..count).filter(|&i| shards[i].owns(Some(k))).collect();
                    assert_eq!(owners.len(), 1, "{k:?} on {count} shards: {owners:?}");
                    owned[owners[0]] += 1;
                }
                let fair = keys.len() / count;
                for n in owned.iter() {
                    assert!(n.abs_diff(fair) < fair / 10, "{count} shards: {owned:?}");
                }
            }
        }
    }

    #[test]
    fn frames_without_a_flow_go_to_the_first_shard_and_one_shard_takes_all() {
        assert!(Shard::new(0, 2).owns(None));
        assert!(!Shard::new(1, 2).owns(None));
        assert!(one_client(100).iter().all(|k| Shard::WHOLE.owns(Some(k))));
    }
}
