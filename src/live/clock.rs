//! The live clock. On an interface it is the wall clock (libpcap stamps packets with it).
//! On a stream (`live --read`) it is the packets' own: the newest packet's timestamp,
//! running on with the wall clock while the stream is silent, so that keepalive deadlines
//! and lingering closes come due on a quiet link as they do on an interface; at the end of
//! the stream it stops at the newest packet, and what is still open is open at the end.

use super::wall_now;
use crate::time::{Span, Timestamp};
use std::time::Instant;

/// Where the live driver's time comes from.
#[derive(Debug)]
pub enum Clock {
    /// The wall clock.
    Wall,
    /// The newest packet's timestamp and when it was seen (`None` before the first).
    Packets(Option<(Timestamp, Instant)>),
}

impl Clock {
    /// The clock of an interface (`false`) or a stream (`true`).
    pub fn new(stream: bool) -> Clock {
        if stream {
            Clock::Packets(None)
        } else {
            Clock::Wall
        }
    }

    /// Packets up to `newest` were read; true for a stream's first ones.
    pub fn saw(&mut self, newest: Timestamp) -> bool {
        let Clock::Packets(last) = self else {
            return false;
        };
        let first = last.is_none();
        let ts = last.map_or(newest, |(ts, _)| ts.max(newest));
        *last = Some((ts, Instant::now()));
        first
    }

    /// The time now.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::Wall => wall_now(),
            Clock::Packets(None) => Timestamp::default(),
            Clock::Packets(Some((ts, at))) => *ts + Span::from_secs_f64(at.elapsed().as_secs_f64()),
        }
    }

    /// The time at the end of the run: a stream's newest packet.
    pub fn end(&self) -> Timestamp {
        match self {
            Clock::Packets(Some((ts, _))) => *ts,
            _ => self.now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_clock_follows_the_newest_packet_and_ends_there() {
        let mut c = Clock::new(true);
        assert_eq!(c.now(), Timestamp::default());
        assert!(c.saw(Timestamp::from_parts(100, 0)));
        assert!(!c.saw(Timestamp::from_parts(90, 0)));
        assert!(c.now() >= Timestamp::from_parts(100, 0));
        assert!(c.now() < Timestamp::from_parts(200, 0));
        assert_eq!(c.end(), Timestamp::from_parts(100, 0));
        let mut wall = Clock::new(false);
        assert!(!wall.saw(Timestamp::from_parts(100, 0)));
        assert!(wall.now() > Timestamp::from_parts(1_600_000_000, 0));
    }
}
