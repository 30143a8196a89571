//! What the fleet reads from a probe's record: a connection record (`analyze --format
//! ndjson`, `live --publish`), a live event, or a finding, each tagged with its probe. Only
//! the fields the fleet correlates are read; the rest of the line is kept for the join.

use crate::time::Timestamp;
use crate::verdict::{Cause, Layer};
use serde::Deserialize;
use std::net::SocketAddr;

/// The fields of a line the fleet reads; everything else is ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Line {
    record: Option<String>,
    event: Option<String>,
    id: Option<u64>,
    connection: Option<u64>,
    client_id: Option<String>,
    client: Option<String>,
    server: Option<String>,
    connect: Option<At>,
    start: Option<f64>,
    end: Option<f64>,
    time: Option<f64>,
    /// Seconds on a `connection_closed` event; an object on a summary line.
    duration: Option<serde_json::Value>,
    verdict: Option<VerdictPart>,
    kind: Option<String>,
    probe: Option<ProbePart>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct At {
    time: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VerdictPart {
    cause: Option<Cause>,
    layer: Option<Layer>,
    side: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProbePart {
    id: Option<String>,
    captured: Option<f64>,
}

/// One connection as one probe saw it (from its record or one of its events).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnView {
    /// The probe that saw it.
    pub probe: String,
    /// The probe's id of the connection.
    pub conn: u64,
    /// CONNECT's client identifier.
    pub client_id: Option<String>,
    /// Client endpoint as the probe saw it (a NAT's outside address at a broker).
    pub client: Option<SocketAddr>,
    /// Server endpoint as the probe saw it.
    pub server: Option<SocketAddr>,
    /// When the CONNECT was seen, if it was.
    pub connect: Option<Timestamp>,
    /// First packet.
    pub start: Timestamp,
    /// Last packet, once closed.
    pub end: Option<Timestamp>,
    /// The probe's verdict, once closed.
    pub cause: Option<Cause>,
    /// The verdict's layer.
    pub layer: Option<Layer>,
    /// Who ended it, by the probe's verdict (`client`, `server`, `middlebox`).
    pub side: Option<String>,
}

impl ConnView {
    /// Whether the probe judged the end a drop.
    pub fn is_drop(&self) -> bool {
        self.cause.is_some_and(Cause::is_drop)
    }

    /// Whether the broker ended it without being asked: what a takeover looks like to a
    /// probe that did not see the newcomer's CONNECT.
    pub fn closed_by_server(&self) -> bool {
        self.side.as_deref() == Some("server")
            && matches!(
                self.cause,
                Some(Cause::ServerClose | Cause::ServerDisconnect | Cause::SessionTakenOver)
            )
    }
}

/// What one record tells the fleet.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A connection record: the whole connection, closed (or open at the capture's end).
    Connection(ConnView),
    /// A `connection_opened` event: a CONNECT, as it happened.
    Opened(ConnView),
    /// A `connection_closed` event: the end and its verdict, as it happened.
    Closed(ConnView),
    /// A probe's own cross-connection finding, by kind.
    Finding {
        /// The probe.
        probe: String,
        /// The finding's kind (`session_taken_over`, …).
        kind: String,
    },
    /// Anything else (a summary, a keepalive_overdue event): counted, not correlated.
    Other,
}

/// One record of one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The probe.
    pub probe: String,
    /// The record's capture time: what the fleet's clock follows.
    pub captured: Timestamp,
    /// What it says.
    pub observation: Observation,
}

/// Why a line is not a record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not a JSON object of the expected shape.
    #[error("not a dropscope record: {0}")]
    Json(#[from] serde_json::Error),
    /// No probe tag and no default probe id.
    #[error("record has no probe id")]
    NoProbe,
    /// No time to place it by.
    #[error("record has no time")]
    NoTime,
}

fn ts(secs: f64) -> Timestamp {
    Timestamp((secs * 1e9).round() as i64)
}

fn addr(s: &Option<String>) -> Option<SocketAddr> {
    s.as_deref()?.parse().ok()
}

/// Reads one line; `default_probe` tags lines that carry no probe (saved NDJSON).
pub fn parse(line: &[u8], default_probe: Option<&str>) -> Result<Record, RecordError> {
    let l: Line = serde_json::from_slice(line)?;
    let probe = l
        .probe
        .as_ref()
        .and_then(|p| p.id.clone())
        .or_else(|| default_probe.map(str::to_string))
        .ok_or(RecordError::NoProbe)?;
    let observation = observe(&l, &probe);
    let own_time = l.time.or(l.end).or(l.start);
    let captured = match l.probe.as_ref().and_then(|p| p.captured).or(own_time) {
        Some(t) => ts(t),
        // A summary has no time of its own and nothing to place.
        None if observation == Observation::Other => Timestamp::default(),
        None => return Err(RecordError::NoTime),
    };
    Ok(Record {
        probe,
        captured,
        observation,
    })
}

fn observe(l: &Line, probe: &str) -> Observation {
    let kind = l.event.as_deref().or(l.record.as_deref()).unwrap_or("");
    match kind {
        "connection" => view(l, probe).map_or(Observation::Other, Observation::Connection),
        "connection_opened" => view(l, probe).map_or(Observation::Other, Observation::Opened),
        "connection_closed" => view(l, probe).map_or(Observation::Other, Observation::Closed),
        "finding" => match &l.kind {
            Some(k) => Observation::Finding {
                probe: probe.to_string(),
                kind: k.clone(),
            },
            None => Observation::Other,
        },
        _ => Observation::Other,
    }
}

/// The connection view of a record or event; `None` without an id or a time.
fn view(l: &Line, probe: &str) -> Option<ConnView> {
    let conn = l.id.or(l.connection)?;
    let closed_event = l.event.as_deref() == Some("connection_closed");
    let opened_event = l.event.as_deref() == Some("connection_opened");
    let end = if closed_event { l.time } else { l.end };
    let connect = match &l.connect {
        Some(At { time: Some(t) }) => Some(*t),
        _ if opened_event => l.time,
        _ => None,
    };
    let start = l
        .start
        .or_else(|| Some(end? - l.duration.as_ref()?.as_f64()?))
        .or(connect)
        .or(l.time)?;
    let v = l.verdict.as_ref();
    let open = v.and_then(|v| v.cause) == Some(Cause::OpenAtEnd);
    Some(ConnView {
        probe: probe.to_string(),
        conn,
        client_id: l.client_id.clone(),
        client: addr(&l.client),
        server: addr(&l.server),
        connect: connect.map(ts),
        start: ts(start),
        end: if open { None } else { end.map(ts) },
        cause: v.and_then(|v| v.cause),
        layer: v.and_then(|v| v.layer),
        side: v.and_then(|v| v.side.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"record":"connection","id":0,"client":"10.0.0.2:5000",
        "server":"10.0.1.2:1883","client_id":"dev-1","connect":{"frame":6,"time":100.5},
        "start":100.0,"end":103.0,"verdict":{"cause":"server_close","layer":"protocol",
        "side":"server"}}"#;

    #[test]
    fn a_saved_connection_record_takes_the_default_probe() {
        let r = parse(RECORD.replace('\n', " ").as_bytes(), Some("gw")).unwrap();
        assert_eq!(r.probe, "gw");
        assert_eq!(r.captured, ts(103.0));
        let Observation::Connection(v) = r.observation else {
            panic!("not a connection: {:?}", r.observation);
        };
        assert_eq!(v.connect, Some(ts(100.5)));
        assert_eq!(v.end, Some(ts(103.0)));
        assert!(v.closed_by_server());
        assert!(v.is_drop());
    }

    #[test]
    fn a_published_record_carries_its_probe_and_capture_time() {
        let line = r#"{"record":"event","event":"connection_closed","connection":4,
            "client_id":"d","client":"10.0.0.2:5000","server":"10.0.1.2:1883","time":50.0,
            "duration":10.0,"verdict":{"cause":"client_disconnect","layer":"none",
            "side":"client"},"probe":{"id":"broker-1","captured":50.0,"clock":51.0}}"#;
        let r = parse(line.replace('\n', " ").as_bytes(), Some("ignored")).unwrap();
        assert_eq!(r.probe, "broker-1");
        let Observation::Closed(v) = r.observation else {
            panic!("not a close");
        };
        assert_eq!((v.conn, v.start, v.end), (4, ts(40.0), Some(ts(50.0))));
        assert!(!v.is_drop());
    }

    #[test]
    fn lines_without_probe_or_time_or_shape_are_errors() {
        assert!(matches!(
            parse(b"{\"record\":\"summary\"}", None),
            Err(RecordError::NoProbe)
        ));
        assert!(matches!(
            parse(
                b"{\"record\":\"finding\",\"kind\":\"reconnects\"}",
                Some("p")
            ),
            Err(RecordError::NoTime)
        ));
        assert!(parse(b"{\"record\":\"summary\"}", Some("p")).is_ok());
        assert!(matches!(
            parse(b"[1,2", Some("p")),
            Err(RecordError::Json(_))
        ));
        assert!(matches!(
            parse(
                b"{\"record\":\"finding\",\"kind\":\"reconnects\",\"time\":1}",
                Some("p")
            ),
            Ok(Record {
                observation: Observation::Finding { .. },
                ..
            })
        ));
    }
}
