//! Live events: one JSON object per line, written as things happen. The README's
//! "Live events" section documents every field.

use super::window::Overdue;
use crate::correlate::Finding;
use crate::engine::OpenSession;
use crate::publish::{PublishTotals, Publisher, RecordKind};
use crate::time::{Span, Timestamp};
use crate::verdict::Judged;
use crate::verdict::Verdict;
use serde::Serialize;
use std::io::{self, Write};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A client CONNECTed (or a TLS connection started).
    ConnectionOpened,
    /// A client has been silent past 1.5 × keepalive; the broker may close it any moment.
    KeepaliveOverdue,
    /// A connection ended (or was evicted), with its verdict.
    ConnectionClosed,
    /// A cross-connection finding (takeover, mass close, drop pattern).
    Finding,
}

/// One line of the event stream. `event`, `time`, `connection`, `client_id`, `client` and
/// `server` are always present (null where they do not apply); the rest depend on the kind.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    /// What happened.
    pub event: EventKind,
    /// When, seconds since the epoch (packet time; the clock tick for `keepalive_overdue`).
    pub time: Timestamp,
    /// The connection's id (the same across its events); null for a finding.
    pub connection: Option<usize>,
    /// CONNECT's client identifier.
    pub client_id: Option<&'a str>,
    /// Client endpoint, `ip:port`.
    pub client: Option<String>,
    /// Server endpoint, `ip:port`.
    pub server: Option<String>,
    /// Keepalive from CONNECT, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<u16>,
    /// `keepalive_overdue`: seconds since the client's last MQTT packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silent_for: Option<Span>,
    /// `keepalive_overdue`: the frame of the client's last MQTT packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_client_frame: Option<u64>,
    /// `connection_closed`: seconds from first to last packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<Span>,
    /// `connection_closed`: the verdict, exactly as `analyze --format json` prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<&'a Verdict>,
    /// `connection_closed` with `--keep`: the pcap file of the packets around the drop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    /// `finding`: the finding, exactly as `analyze --format json` prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<&'a Finding>,
}

impl<'a> Event<'a> {
    fn new(event: EventKind, time: Timestamp) -> Event<'a> {
        Event {
            event,
            time,
            connection: None,
            client_id: None,
            client: None,
            server: None,
            keepalive: None,
            silent_for: None,
            last_client_frame: None,
            duration: None,
            verdict: None,
            kept: None,
            finding: None,
        }
    }

    /// A connection CONNECTed (TLS: its first packet).
    pub fn opened(s: &OpenSession<'a>, time: Timestamp) -> Event<'a> {
        let mut e = Event::new(EventKind::ConnectionOpened, time);
        e.connection = Some(s.id);
        let connect = s.connect();
        e.client_id = connect.map(|(_, c)| c.client_id.as_str());
        e.keepalive = connect.map(|(_, c)| c.keepalive);
        e.client = Some(s.client().to_string());
        e.server = Some(s.server().to_string());
        e
    }

    /// A client silent past 1.5 × keepalive at `now`.
    pub fn overdue(o: &'a Overdue, now: Timestamp) -> Event<'a> {
        let mut e = Event::new(EventKind::KeepaliveOverdue, now);
        e.connection = Some(o.id);
        e.client_id = Some(&o.client_id);
        e.client = Some(o.client.to_string());
        e.server = Some(o.server.to_string());
        e.keepalive = Some(o.keepalive);
        e.silent_for = Some(o.silent_for);
        e.last_client_frame = Some(o.last_client_packet.frame());
        e
    }

    /// A connection ended; `kept` names its pcap file.
    pub fn closed(c: &'a Judged, kept: Option<String>) -> Event<'a> {
        let mut e = Event::new(EventKind::ConnectionClosed, c.end);
        e.connection = Some(c.id);
        e.client_id = c.client_id.as_deref();
        e.client = Some(c.client.to_string());
        e.server = Some(c.server.to_string());
        e.keepalive = c.keepalive;
        e.duration = Some(c.duration);
        e.verdict = Some(&c.verdict);
        e.kept = kept;
        e
    }

    /// A cross-connection finding.
    pub fn finding(f: &'a Finding, now: Timestamp) -> Event<'a> {
        let mut e = Event::new(EventKind::Finding, f.time.unwrap_or(now));
        e.client_id = f.client_id.as_deref();
        e.finding = Some(f);
        e
    }
}

/// Where events go: stdout or a file, one line each, flushed after each burst; and with
/// `--publish`, to NATS as well.
pub struct EventSink {
    out: Box<dyn Write + Send>,
    written: u64,
    publisher: Option<Publisher>,
}

impl EventSink {
    /// A sink writing to `out`, and publishing through `publisher` if one is given.
    pub fn new(out: Box<dyn Write + Send>, publisher: Option<Publisher>) -> EventSink {
        EventSink {
            out,
            written: 0,
            publisher,
        }
    }

    /// Writes one event (and publishes it).
    pub fn write(&mut self, e: &Event<'_>) -> io::Result<()> {
        self.publish(RecordKind::Event, e.time, e);
        serde_json::to_writer(&mut self.out, e)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Publishes a record that is not an event (a connection record, a finding); never
    /// waits.
    pub fn publish<T: Serialize>(&mut self, kind: RecordKind, captured: Timestamp, body: &T) {
        if let Some(p) = self.publisher.as_mut() {
            p.send(kind, captured, body);
        }
    }

    /// What was published so far, when publishing.
    pub fn published(&self) -> Option<PublishTotals> {
        self.publisher.as_ref().map(Publisher::totals)
    }

    /// Ends publishing (queued records get the publisher's wait) and tells on stderr.
    pub fn finish_publishing(&mut self) -> Option<PublishTotals> {
        let p = self.publisher.take()?;
        let url = p.url().to_string();
        let t = p.finish();
        eprintln!(
            "dropscope: published {} of {} records to {url}; {} not published",
            t.published, t.emitted, t.lost
        );
        Some(t)
    }

    /// Pushes buffered lines out.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::FrameRef;
    use crate::live::window::Overdue;

    #[test]
    fn overdue_lines_carry_the_common_fields() {
        let o = Overdue {
            id: 3,
            client: "10.0.0.1:5000".parse().unwrap(),
            server: "10.0.0.2:1883".parse().unwrap(),
            client_id: "dev-1".into(),
            keepalive: 2,
            last_client_packet: FrameRef::new(7, Timestamp::from_parts(100, 0)),
            silent_for: Span::from_secs(4),
        };
        let line = serde_json::to_value(Event::overdue(&o, Timestamp::from_parts(104, 0))).unwrap();
        assert_eq!(line["event"], "keepalive_overdue");
        assert_eq!(line["time"], 104.0);
        assert_eq!(line["client_id"], "dev-1");
        assert_eq!(line["server"], "10.0.0.2:1883");
        assert_eq!(line["last_client_frame"], 7);
        assert!(line.get("verdict").is_none());
    }
}
