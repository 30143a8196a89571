//! Capture time: every instant in dropscope comes from packet timestamps, never the wall clock.

use serde::{Serialize, Serializer};
use std::fmt;
use std::ops::{Add, Sub};

/// A capture timestamp, in nanoseconds since the Unix epoch.
///
/// Serialized as seconds since the epoch (a float with microsecond resolution), the way
/// tshark prints `frame.time_epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// A span of capture time in nanoseconds (may be negative when packets are out of order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(pub i64);

impl Timestamp {
    /// Builds a timestamp from seconds and nanoseconds.
    pub fn from_parts(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// Seconds since the epoch as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

impl Span {
    /// A span of whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Span(secs * 1_000_000_000)
    }

    /// A span from fractional seconds.
    pub fn from_secs_f64(secs: f64) -> Self {
        Span((secs * 1e9) as i64)
    }

    /// The span in seconds as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

impl Sub for Timestamp {
    type Output = Span;
    fn sub(self, rhs: Timestamp) -> Span {
        Span(self.0.saturating_sub(rhs.0))
    }
}

impl Add<Span> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Span) -> Timestamp {
        Timestamp(self.0.saturating_add(rhs.0))
    }
}

fn round_micros(nanos: i64) -> f64 {
    ((nanos as f64) / 1e3).round() / 1e6
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(round_micros(self.0))
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(round_micros(self.0))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.as_secs_f64();
        if secs.abs() >= 3600.0 {
            write!(f, "{:.1}h", secs / 3600.0)
        } else if secs.abs() >= 60.0 {
            write!(f, "{:.1}m", secs / 60.0)
        } else {
            write!(f, "{secs:.3}s")
        }
    }
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01).
pub fn civil(days: i64) -> (i64, u32, u32) {
    // Count in 400-year eras starting on 0000-03-01, so the leap day ends each year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_epoch_seconds_with_microseconds() {
        let t = Timestamp::from_parts(1_700_000_000, 123_456_789);
        assert_eq!(serde_json::to_string(&t).unwrap(), "1700000000.123457");
    }

    #[test]
    fn spans_subtract_and_display() {
        let a = Timestamp::from_parts(10, 0);
        let b = Timestamp::from_parts(7, 500_000_000);
        assert_eq!(a - b, Span::from_secs_f64(2.5));
        assert_eq!((a - b).to_string(), "2.500s");
        assert_eq!(Span::from_secs(90).to_string(), "1.5m");
    }

    #[test]
    fn dates_of_known_days() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(civil(20_780), (2026, 11, 23));
    }
}
