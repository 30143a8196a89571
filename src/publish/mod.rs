//! Probes publish: every connection record, event and finding a probe emits goes, tagged
//! with the probe's id and clock, to a NATS JetStream stream, where `dropscope fleet` reads
//! the records of many probes.
//!
//! Publishing never blocks the capture: records are serialized and queued (a bounded queue)
//! to a publisher thread with its own tokio runtime, which connects with `async-nats`
//! (reconnects are the client's), creates the stream if it is missing, and publishes each
//! record until JetStream acknowledges it. A record that finds the queue full is counted as
//! lost; while NATS is away the queue holds what it can and drains when NATS comes back.
//! Each record carries a `Nats-Msg-Id`, so a publish retried after a lost acknowledgement is
//! stored once (JetStream's duplicate window).
//!
//! Subjects: `dropscope.<probe>.connection`, `dropscope.<probe>.event`,
//! `dropscope.<probe>.finding`; the stream holds `dropscope.>`.

mod task;

use crate::time::Timestamp;
use bytes::Bytes;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The prefix of every subject; the stream holds `dropscope.>`.
pub const SUBJECT_PREFIX: &str = "dropscope";

/// Where and how a probe publishes.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// NATS server URL (`nats://host:4222`).
    pub url: String,
    /// The probe's id, the second token of its subjects.
    pub probe: String,
    /// JetStream stream name, created if missing.
    pub stream: String,
    /// Records older than this are dropped by the stream.
    pub max_age: Duration,
    /// The stream's size cap, bytes; the oldest records go first.
    pub max_bytes: i64,
    /// Records queued at most while NATS is slow or away; further records are lost.
    pub queue: usize,
    /// At the end, how long queued records may still take to be published.
    pub wait: Duration,
}

/// What kind of record: the last token of its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A connection record, as `analyze --format ndjson` writes it.
    Connection,
    /// A live event, as `live` writes it.
    Event,
    /// A cross-connection finding of the probe.
    Finding,
}

impl RecordKind {
    /// The subject token and the `record` field.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Connection => "connection",
            RecordKind::Event => "event",
            RecordKind::Finding => "finding",
        }
    }
}

/// The probe tag added to each published record.
#[derive(Debug, Serialize)]
pub struct ProbeTag<'a> {
    /// The probe's id.
    pub id: &'a str,
    /// The record's capture time (seconds since the epoch, packet clock).
    pub captured: Timestamp,
    /// The probe's wall clock when it emitted the record: with `captured`, how far behind
    /// the probe's analysis ran, and how its clock compares with another probe's.
    pub clock: Timestamp,
}

/// One published record: the NDJSON line (`record` and the object's own fields) and the
/// probe tag.
#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    record: &'static str,
    #[serde(flatten)]
    body: &'a T,
    probe: ProbeTag<'a>,
}

/// One queued message.
struct Outgoing {
    subject: String,
    id: String,
    payload: Bytes,
}

/// Counters shared with the publisher thread.
#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    published: AtomicU64,
    lost: AtomicU64,
}

/// What was published, so far or in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishTotals {
    /// Records handed to the publisher.
    pub emitted: u64,
    /// Records JetStream acknowledged.
    pub published: u64,
    /// Records lost: queue full, not serializable, or still unpublished at the end.
    pub lost: u64,
}

/// The probe's side of publishing: queues records for the publisher thread.
pub struct Publisher {
    tx: Option<tokio::sync::mpsc::Sender<Outgoing>>,
    shutdown: tokio::sync::watch::Sender<Option<std::time::Instant>>,
    counters: Arc<Counters>,
    thread: Option<std::thread::JoinHandle<()>>,
    probe: String,
    run: i64,
    seq: u64,
    wait: Duration,
    url: String,
}

impl Publisher {
    /// Starts the publisher thread; it connects in the background (a NATS that is down now
    /// is retried), so this fails only when the thread cannot start.
    pub fn start(opts: PublishOptions) -> std::io::Result<Publisher> {
        let (tx, rx) = tokio::sync::mpsc::channel(opts.queue.max(1));
        let (shutdown, deadline) = tokio::sync::watch::channel(None);
        let counters = Arc::new(Counters::default());
        let probe = subject_token(&opts.probe);
        let (wait, url) = (opts.wait, opts.url.clone());
        let task_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("publish".into())
            .spawn(move || task::run(opts, rx, deadline, task_counters))?;
        Ok(Publisher {
            tx: Some(tx),
            shutdown,
            counters,
            thread: Some(thread),
            probe,
            run: wall_clock().0,
            seq: 0,
            wait,
            url,
        })
    }

    /// Queues one record captured at `captured`; never waits. A record that cannot be
    /// queued is counted as lost.
    pub fn send<T: Serialize>(&mut self, kind: RecordKind, captured: Timestamp, body: &T) {
        self.seq += 1;
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        let tagged = Tagged {
            record: kind.name(),
            body,
            probe: ProbeTag {
                id: &self.probe,
                captured,
                clock: wall_clock(),
            },
        };
        let Ok(payload) = serde_json::to_vec(&tagged) else {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let out = Outgoing {
            subject: format!("{SUBJECT_PREFIX}.{}.{}", self.probe, kind.name()),
            id: format!("{}-{}-{}", self.probe, self.run, self.seq),
            payload: payload.into(),
        };
        let queued = self.tx.as_ref().is_some_and(|tx| tx.try_send(out).is_ok());
        if !queued {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts so far.
    pub fn totals(&self) -> PublishTotals {
        PublishTotals {
            emitted: self.counters.queued.load(Ordering::Relaxed),
            published: self.counters.published.load(Ordering::Relaxed),
            lost: self.counters.lost.load(Ordering::Relaxed),
        }
    }

    /// The NATS URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes the queue, gives the publisher `wait` to publish what is queued, and returns
    /// the totals (what was still queued then is counted as lost).
    pub fn finish(mut self) -> PublishTotals {
        self.tx = None;
        let _ = self
            .shutdown
            .send(Some(std::time::Instant::now() + self.wait));
        if let Some(t) = self.thread.take() {
            // The thread ends by itself at the deadline; a panic there lost its records,
            // which the counters already show as not published.
            let _ = t.join();
        }
        self.totals()
    }
}

/// The probe's wall clock. Publishing is an edge of the program like `live` (which has
/// its own for the same reason); the analysis below never reads it.
fn wall_clock() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_parts(d.as_secs() as i64, i64::from(d.subsec_nanos()))
}

/// A probe id as one subject token: NATS wildcards, separators and spaces become `_`.
pub fn subject_token(id: &str) -> String {
    let token: String = id
        .chars()
        .map(|c| match c {
            '.' | '*' | '>' | '$' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect();
    if token.is_empty() {
        "probe".into()
    } else {
        token
    }
}

/// The default probe id: the host's name (`/proc/sys/kernel/hostname`, as `hostname`
/// prints it), or `probe` when it cannot be read.
pub fn default_probe_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "probe".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_ids_become_one_subject_token() {
        assert_eq!(subject_token("gw-1.site.example"), "gw-1_site_example");
        assert_eq!(subject_token("a b>*"), "a_b__");
        assert_eq!(subject_token(""), "probe");
    }

    #[test]
    fn tagged_records_keep_the_line_and_add_the_probe() {
        let body = serde_json::json!({"id": 3, "client_id": "dev"});
        let t = Tagged {
            record: "connection",
            body: &body,
            probe: ProbeTag {
                id: "gw",
                captured: Timestamp::from_parts(10, 500_000_000),
                clock: Timestamp::from_parts(12, 0),
            },
        };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["record"], "connection");
        assert_eq!(v["client_id"], "dev");
        assert_eq!(v["probe"]["id"], "gw");
        assert_eq!(v["probe"]["captured"], 10.5);
        assert_eq!(v["probe"]["clock"], 12.0);
    }
}
