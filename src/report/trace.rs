//! The trace view: one device's connection history, a row per connect, disconnect and
//! close, in the style of a broker console's connection log.

use crate::engine::Analysis;
use crate::tcp::Side;
use crate::time::Timestamp;
use crate::verdict::Judged;
use crate::verdict::{Cause, Vocabulary, describe};
use serde::Serialize;
use std::io::{self, Write};

/// One row of a device's history.
#[derive(Debug, Clone, Serialize)]
pub struct TraceRow {
    /// Capture time.
    pub time: Timestamp,
    /// The connection.
    pub connection: usize,
    /// `connect`, `disconnect` or `close`.
    pub action: &'static str,
    /// What the broker's console would say.
    pub description: String,
    /// The frame.
    pub frame: u64,
}

fn connect_row(c: &Judged) -> Option<TraceRow> {
    let at = c.connect?;
    let description = match c.connack {
        None => "no answer".to_string(),
        Some(a) if a.code == 0 => "accepted".to_string(),
        Some(_) => describe(&c.verdict, Vocabulary::Apsara)
            .map(String::from)
            .unwrap_or_else(|| "refused".into()),
    };
    let description = match c.connack {
        Some(a) if a.code != 0 => format!("{description} (CONNACK {})", a.code),
        _ => description,
    };
    Some(TraceRow {
        time: at.ts,
        connection: c.id,
        action: "connect",
        description,
        frame: at.frame(),
    })
}

fn end_rows(c: &Judged) -> Vec<TraceRow> {
    let mut rows = Vec::new();
    if let Some(d) = &c.disconnect {
        let description = match d.side {
            Side::Client => "disconnected by client".to_string(),
            Side::Server => format!(
                "disconnected by server (reason 0x{:02X})",
                d.reason.unwrap_or(0)
            ),
        };
        rows.push(TraceRow {
            time: d.at.ts,
            connection: c.id,
            action: "disconnect",
            description,
            frame: d.at.frame(),
        });
    }
    let v = &c.verdict;
    if matches!(
        v.cause,
        Cause::OpenAtEnd | Cause::ClientDisconnect | Cause::ConnectRefused
    ) {
        return rows;
    }
    let (time, frame) = c
        .tcp_end
        .map_or((c.end, c.last_frame), |e| (e.at.ts, e.at.frame()));
    let word = describe(v, Vocabulary::Apsara).unwrap_or(v.cause.name());
    rows.push(TraceRow {
        time,
        connection: c.id,
        action: "close",
        description: format!(
            "{word} ({}, {})",
            v.cause.name(),
            v.layer.map_or("unknown", |l| l.name())
        ),
        frame,
    });
    rows
}

/// The history of `client_id` between `since` and `until`.
pub fn trace(
    a: &Analysis,
    client_id: &str,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> Vec<TraceRow> {
    let mut rows: Vec<TraceRow> = a
        .connections
        .iter()
        .filter(|c| c.client_id.as_deref() == Some(client_id))
        .flat_map(|c| connect_row(c).into_iter().chain(end_rows(c)))
        .filter(|r| since.is_none_or(|s| r.time >= s) && until.is_none_or(|u| r.time <= u))
        .collect();
    rows.sort_by_key(|r| (r.time, r.frame));
    rows
}

/// Writes the rows as a table.
pub fn write_trace(rows: &[TraceRow], out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<26} {:>5} {:<11} {:>7}  DESCRIPTION",
        "TIME (UTC)", "CONN", "ACTION", "FRAME"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<26} {:>5} {:<11} {:>7}  {}",
            utc(r.time),
            r.connection,
            r.action,
            r.frame,
            r.description
        )?;
    }
    Ok(())
}

/// Formats capture time as `YYYY-MM-DD HH:MM:SS.mmm` UTC (civil-from-days, no time crate needed).
pub fn utc(t: Timestamp) -> String {
    let secs = t.0.div_euclid(1_000_000_000);
    let millis = t.0.rem_euclid(1_000_000_000) / 1_000_000;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::time::civil(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_capture_time_in_utc() {
        assert_eq!(utc(Timestamp::from_parts(0, 0)), "1970-01-01 00:00:00.000");
        assert_eq!(
            utc(Timestamp::from_parts(1_700_000_000, 250_000_000)),
            "2023-11-14 22:13:20.250"
        );
        assert_eq!(
            utc(Timestamp::from_parts(951_782_400, 0)),
            "2000-02-29 00:00:00.000"
        );
    }
}
