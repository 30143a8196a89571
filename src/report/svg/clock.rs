//! The capture-time axis: positions are seconds since the UTC midnight before the first
//! instant shown, so ticks fall on round clock times and read as HH:MM:SS UTC.

use super::style::{self, TEXT};
use super::{Area, DrawResult};
use crate::time::Timestamp;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

const DAY: i64 = 86_400;
/// Tick steps a clock axis may use, in seconds.
const STEPS: [f64; 20] = [
    0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
    3600.0, 7200.0, 10800.0, 21600.0, 43200.0,
];

/// A time axis over a span of capture time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The UTC midnight the positions count from, seconds since the epoch.
    midnight: i64,
    /// First position shown.
    pub lo: f64,
    /// Last position shown.
    pub hi: f64,
    step: f64,
}

impl Clock {
    /// An axis from `start` to `end` with a little room either side; at most `ticks` ticks.
    pub fn new(start: Timestamp, end: Timestamp, ticks: usize) -> Clock {
        let midnight = start.0.div_euclid(1_000_000_000).div_euclid(DAY) * DAY;
        let pos = |t: Timestamp| t.as_secs_f64() - midnight as f64;
        let (a, b) = (pos(start), pos(end.max(start)));
        let pad = ((b - a) * 0.02).max(0.05);
        let (lo, hi) = (a - pad, b + pad);
        let step = nice_step((hi - lo) / ticks.max(2) as f64);
        Clock {
            midnight,
            lo,
            hi,
            step,
        }
    }

    /// A round bin width (from the tick steps) that cuts the axis into at most `bins` bins.
    pub fn bin_width(&self, bins: usize) -> f64 {
        nice_step((self.hi - self.lo) / bins.max(1) as f64)
    }

    /// The axis position of an instant.
    pub fn x(&self, t: Timestamp) -> f64 {
        t.as_secs_f64() - self.midnight as f64
    }

    /// Tick positions: whole multiples of the step.
    pub fn ticks(&self) -> Vec<f64> {
        let first = (self.lo / self.step).ceil() as i64;
        let last = (self.hi / self.step).floor() as i64;
        (first..=last).map(|k| k as f64 * self.step).collect()
    }

    /// The clock reading at a position: HH:MM:SS, with tenths when ticks are that close.
    pub fn label(&self, x: f64) -> String {
        let tenths = (x * 10.0).round() as i64;
        let secs = tenths.div_euclid(10).rem_euclid(DAY);
        let hms = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
        if self.step < 1.0 {
            format!("{hms}.{}", tenths.rem_euclid(10))
        } else {
            hms
        }
    }

    /// The axis caption, naming the time zone and the date of the first instant.
    pub fn caption(&self) -> String {
        let (y, m, d) = crate::time::civil(self.midnight.div_euclid(DAY));
        format!("capture time (HH:MM:SS UTC, {y:04}-{m:02}-{d:02})")
    }
}

/// Draws the time axis under a plot: grid lines from `top` to `bottom` at each tick, the
/// clock readings under `bottom` and the caption below them; `px` maps a position to its pixel
/// column.
pub fn draw_axis(
    root: &Area,
    clock: &Clock,
    px: impl Fn(f64) -> i32,
    (top, bottom): (i32, i32),
) -> DrawResult {
    let font = style::text(TEXT, BLACK, HPos::Center, VPos::Top);
    for x in clock.ticks() {
        let at = px(x);
        root.draw(&PathElement::new(
            vec![(at, top), (at, bottom)],
            style::RULE.mix(0.6).stroke_width(1),
        ))?;
        root.draw(&PathElement::new(
            vec![(at, bottom), (at, bottom + 5)],
            BLACK.stroke_width(1),
        ))?;
        style::label(root, &clock.label(x), (at, bottom + 8), &font)?;
    }
    let (left, right) = (px(clock.lo), px(clock.hi));
    root.draw(&PathElement::new(
        vec![(left, bottom), (right, bottom)],
        BLACK.stroke_width(1),
    ))?;
    style::label(
        root,
        &clock.caption(),
        ((left + right) / 2, bottom + 28),
        &font,
    )
}

/// The smallest tick step at least `wanted` seconds long.
fn nice_step(wanted: f64) -> f64 {
    STEPS
        .iter()
        .copied()
        .find(|&s| s >= wanted)
        .unwrap_or(DAY as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_clock_times() {
        let start = Timestamp::from_parts(20_780 * DAY + 3600 + 7, 300_000_000);
        let clock = Clock::new(start, start + crate::time::Span::from_secs(40), 10);
        let ticks = clock.ticks();
        assert_eq!(clock.label(ticks[0]), "01:00:10");
        assert!(ticks.windows(2).all(|p| p[1] - p[0] == 5.0));
        assert_eq!(clock.caption(), "capture time (HH:MM:SS UTC, 2026-11-23)");
    }
}
