//! The driver's state between ticks: the analyzer, the sinks, what was already announced.

use super::capture::{Batch, PcapCounters};
use super::clock::Clock;
use super::events::{Event, EventSink};
use super::metrics::{CauseLabels, KindLabels, Metrics, raise_to};
use super::ring::{self, Ring};
use super::window::{self, Retired, Window};
use super::{LiveError, LiveOptions};
use crate::engine::Analysis;
use crate::engine::Analyzer;
use crate::publish::{Publisher, RecordKind};
use crate::time::{Span, Timestamp};
use crate::transport::TransportKind;
use crate::transport::tls::decrypt::KeyLogFile;
use crate::verdict::Judged;
use rustc_hash::{FxHashMap, FxHashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Time a closed flow may take to be retired (linger plus a sweep), kept in the ring on top
/// of the kept seconds so a retired connection's packets are all still there.
const RETIREMENT_SLACK: Span = Span::from_secs(40);

/// The live driver's state.
pub struct Driver {
    analyzer: Analyzer,
    window: Window,
    events: EventSink,
    metrics: Arc<Metrics>,
    ring: Option<Ring>,
    report_dir: Option<PathBuf>,
    interface: String,
    flow_idle: Span,
    /// Connections announced as opened and not closed yet.
    opened: FxHashSet<usize>,
    /// Overdue connections announced, with the client frame their silence started at.
    overdue: FxHashMap<usize, u64>,
    /// Caps already reported on stderr.
    caps_told: FxHashSet<&'static str>,
    window_start: Timestamp,
    /// Wall time on an interface, packet time on a stream.
    clock: Clock,
    /// TLS key logs, read as they grow (a device writes its keys during the capture).
    keylogs: Vec<KeyLogFile>,
}

impl Driver {
    /// A driver over `analyzer`, with the sinks `opts` asks for.
    pub fn new(
        opts: &LiveOptions,
        analyzer: Analyzer,
        metrics: Arc<Metrics>,
        linktype: u32,
    ) -> Result<Driver, LiveError> {
        let out: Box<dyn Write + Send> = match &opts.events {
            // Appended to, so a restarted service keeps what it wrote before and logrotate's
            // copytruncate leaves no hole.
            Some(p) => Box::new(std::io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(LiveError::output(p.display().to_string()))?,
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout())),
        };
        for dir in opts.report_dir.iter().chain(&opts.keep_dir) {
            ring::check_dir(dir).map_err(LiveError::output(dir.display().to_string()))?;
        }
        let ring = opts.keep_dir.as_ref().map(|dir| {
            let retention = Span(opts.keep.0 + RETIREMENT_SLACK.0);
            Ring::new(dir.clone(), linktype, opts.keep, retention, opts.ring_bytes)
        });
        let clock = Clock::new(opts.capture.read.is_some());
        let publisher = match opts.publish.clone().map(Publisher::start) {
            Some(started) => Some(started.map_err(LiveError::output("publisher"))?),
            None => None,
        };
        Ok(Driver {
            analyzer,
            window: Window::default(),
            events: EventSink::new(out, publisher),
            metrics,
            ring,
            report_dir: opts.report_dir.clone(),
            interface: opts.capture.interface.clone(),
            flow_idle: opts.flow_idle,
            opened: FxHashSet::default(),
            overdue: FxHashMap::default(),
            caps_told: FxHashSet::default(),
            window_start: clock.now(),
            clock,
            keylogs: opts.keylogs.iter().map(KeyLogFile::new).collect(),
        })
    }

    /// Takes a batch of frames, after the keys appended to the key logs since the last one
    /// (a size check per file when nothing was appended).
    pub fn batch(&mut self, b: &Batch) {
        self.read_keys();
        for text in b.secrets() {
            self.analyzer.keys_mut().add_dsb(text);
        }
        if let Some(newest) = b.newest()
            && self.clock.saw(newest)
        {
            self.window_start = b.first().unwrap_or(newest);
        }
        for f in b.frames() {
            if let Some(r) = self.ring.as_mut() {
                r.push(&f);
            }
            self.analyzer.push(&f);
        }
        self.metrics.frames.inc_by(b.len() as u64);
    }

    fn read_keys(&mut self) {
        for file in &mut self.keylogs {
            let grew = std::fs::metadata(&file.path).is_ok_and(|m| m.len() != file.offset);
            if !grew {
                continue;
            }
            match file.read_new(self.analyzer.keys_mut()) {
                Ok(n) if n.bad > 0 => eprintln!(
                    "dropscope: key log {}: {} malformed lines skipped",
                    file.path.display(),
                    n.bad
                ),
                Ok(_) => {}
                Err(e) if self.caps_told.insert("keylog") => {
                    eprintln!("dropscope: key log {}: {e}", file.path.display())
                }
                Err(_) => {}
            }
        }
    }

    /// The time now, by the clock of the source.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The clock reached `now`: emits what happened since the last tick.
    pub fn tick(&mut self, now: Timestamp, pcap: &PcapCounters) -> Result<(), LiveError> {
        self.analyzer.advance(now);
        if let Some(r) = self.ring.as_mut() {
            r.expire(now);
        }
        self.announce_opened(now)?;
        self.announce_overdue(now)?;
        let retired = self.window.drain(&mut self.analyzer);
        self.announce_retired(&retired, now)?;
        self.events.flush().map_err(events_error)?;
        self.update_gauges(pcap);
        Ok(())
    }

    fn announce_opened(&mut self, now: Timestamp) -> Result<(), LiveError> {
        for s in self.analyzer.sessions() {
            let encrypted = s.transport != TransportKind::Tcp;
            if (s.connect().is_some() || encrypted) && self.opened.insert(s.id) {
                let time = s.connect().map_or(now, |(at, _)| at.ts);
                self.events
                    .write(&Event::opened(&s, time))
                    .map_err(events_error)?;
            }
        }
        Ok(())
    }

    fn announce_overdue(&mut self, now: Timestamp) -> Result<(), LiveError> {
        for o in window::overdue(&self.analyzer, now) {
            if self.overdue.insert(o.id, o.last_client_packet.frame())
                == Some(o.last_client_packet.frame())
            {
                continue;
            }
            self.metrics.keepalive_overdue.inc();
            self.events
                .write(&Event::overdue(&o, now))
                .map_err(events_error)?;
        }
        Ok(())
    }

    fn announce_retired(&mut self, r: &Retired, now: Timestamp) -> Result<(), LiveError> {
        for c in &r.connections {
            self.opened.remove(&c.id);
            self.overdue.remove(&c.id);
            self.count_closed(c);
            let kept = self.keep(c);
            self.events.publish(RecordKind::Connection, c.end, c);
            self.events
                .write(&Event::closed(c, kept))
                .map_err(events_error)?;
        }
        for f in &r.findings {
            let kind = f.kind.name();
            self.metrics
                .findings
                .get_or_create(&KindLabels { kind: kind.into() })
                .inc();
            self.events
                .publish(RecordKind::Finding, f.time.unwrap_or(now), f);
            self.events
                .write(&Event::finding(f, now))
                .map_err(events_error)?;
        }
        Ok(())
    }

    fn count_closed(&self, c: &Judged) {
        let v = &c.verdict;
        let labels = CauseLabels {
            cause: v.cause.name().into(),
            layer: v.layer.map_or("unknown", |l| l.name()).into(),
        };
        self.metrics.connections.get_or_create(&labels).inc();
        if v.cause.is_drop() {
            self.metrics.drops.get_or_create(&labels).inc();
        }
        self.metrics
            .keepalive_misses
            .inc_by(c.keepalive_misses.len() as u64);
        self.metrics.retransmissions.inc_by(c.retransmissions);
    }

    /// Writes a dropped connection's packets; the path, if written.
    fn keep(&self, c: &Judged) -> Option<String> {
        let ring = self.ring.as_ref()?;
        c.verdict.cause.is_drop().then_some(())?;
        match ring.write(c) {
            Ok(path) => {
                self.metrics.kept_files.inc();
                Some(path.display().to_string())
            }
            Err(e) => {
                eprintln!("dropscope: keeping packets of connection {}: {e}", c.id);
                None
            }
        }
    }

    fn update_gauges(&mut self, pcap: &PcapCounters) {
        let m = &self.metrics;
        if let Some(t) = self.events.published() {
            raise_to(&m.published, t.published);
            raise_to(&m.publish_lost, t.lost);
        }
        m.open_connections.set(self.opened.len() as i64);
        m.open_flows.set(self.analyzer.open_flows() as i64);
        let stats = self.analyzer.stats();
        let ring_evicted = self.ring.as_ref().map_or(0, |r| r.evicted());
        let caps = [
            (
                "pcap_received",
                &m.pcap_received,
                pcap.received.load(Ordering::Relaxed),
            ),
            (
                "pcap_dropped",
                &m.pcap_dropped,
                pcap.dropped.load(Ordering::Relaxed),
            ),
            (
                "pcap_if_dropped",
                &m.pcap_if_dropped,
                pcap.if_dropped.load(Ordering::Relaxed),
            ),
            ("flows_evicted", &m.flows_evicted, stats.flows_evicted),
            (
                "reassembly_cap_hits",
                &m.reassembly_cap_hits,
                stats.reassembly_cap_hits,
            ),
            ("ring_evicted", &m.ring_evicted, ring_evicted),
        ];
        for (name, counter, value) in caps {
            raise_to(counter, value);
            if name != "pcap_received" && value > 0 && self.caps_told.insert(name) {
                eprintln!(
                    "dropscope: warning: cap hit: {name} = {value} (see the metrics for its count)"
                );
            }
        }
    }

    /// Retires flows idle past `--flow-idle` (emitted at the next tick).
    pub fn evict_idle(&mut self) {
        let (idle, now) = (self.flow_idle, self.analyzer.now());
        let n = self.analyzer.retire_where(|f| now - f.last > idle);
        self.metrics.flows_idle_evicted.inc_by(n as u64);
    }

    /// Writes the report of the window that just ended, and forgets its connections.
    pub fn report_window(&mut self) -> Result<(), LiveError> {
        let now = self.clock.now();
        let window = self
            .window
            .take(&self.analyzer, vec![self.interface.clone()]);
        let name = format!("window-{}-{}", secs(self.window_start), secs(now));
        self.window_start = now;
        write_report(self.report_dir.as_deref(), &name, &window)
    }

    /// At shutdown: emits connections that closed but had not been retired yet, then writes
    /// the final report (the last window and the connections still open).
    pub fn finish(mut self, pcap: &PcapCounters) -> Result<(), LiveError> {
        let now = self.clock.end();
        self.analyzer.advance(now);
        self.analyzer.retire_where(|f| f.closed);
        self.tick(now, pcap)?;
        let frames = self.metrics.frames.get();
        let name = format!("final-{}-{}", secs(self.window_start), secs(now));
        let analysis = self
            .analyzer
            .finish(vec![self.interface], Vec::new(), frames);
        if let Some(t) = self.events.finish_publishing() {
            raise_to(&self.metrics.published, t.published);
            raise_to(&self.metrics.publish_lost, t.lost);
        }
        eprintln!(
            "dropscope: stopped; {} events, libpcap received {} dropped {}",
            self.events.written(),
            pcap.received.load(Ordering::Relaxed),
            pcap.dropped.load(Ordering::Relaxed)
        );
        write_report(self.report_dir.as_deref(), &name, &analysis)
    }
}

/// Writes one report into `dir/name/`, if reports are asked for: `analysis.json` (as
/// `analyze --format json` prints it), the SVG charts and their `index.html`.
fn write_report(dir: Option<&Path>, name: &str, a: &Analysis) -> Result<(), LiveError> {
    let Some(dir) = dir else {
        return Ok(());
    };
    let path = dir.join(name);
    let what = path.display().to_string();
    write_report_files(&path, a).map_err(LiveError::output(what))
}

fn write_report_files(dir: &Path, a: &Analysis) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut json = std::io::BufWriter::new(std::fs::File::create(dir.join("analysis.json"))?);
    crate::report::write_json(a, None, 1, &mut json)?;
    json.flush()?;
    let charts = crate::report::svg::charts(a)?;
    for c in &charts {
        std::fs::write(dir.join(c.file), &c.svg)?;
    }
    let mut index = std::io::BufWriter::new(std::fs::File::create(dir.join("index.html"))?);
    crate::report::write_index(a, &charts, &mut index)?;
    index.flush()
}

fn secs(t: Timestamp) -> i64 {
    t.0.div_euclid(1_000_000_000)
}

fn events_error(e: std::io::Error) -> LiveError {
    LiveError::Output {
        what: "events".into(),
        source: e,
    }
}
