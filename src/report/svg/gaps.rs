//! Chart 5: every idle gap against its outcome (the connection survived it, or it was the gap
//! a NAT idle expiry killed), with the bracketed NAT timeout and the keepalives in use.

use super::legend::{Entry, Legend};
use super::style::{self, CHAR_PX, TEXT};
use super::{Area, DrawResult, WIDTH};
use crate::correlate::FindingKind;
use crate::engine::Analysis;
use crate::verdict::GapOutcome;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::collections::{BTreeMap, BTreeSet};
use std::io;

const TOP: i32 = 48;
const LEFT: i32 = 120;
const RIGHT: i32 = 40;
const LABEL_ROW: i32 = 18;
const PLOT: i32 = 220;
const AXIS: i32 = 50;
/// Most keepalive values labelled (the most used); the rest are counted in the legend.
const MAX_KEEPALIVES: usize = 8;
const SURVIVED: RGBColor = RGBColor(0x43, 0xA0, 0x47);
const KILLED: RGBColor = RGBColor(0xC6, 0x28, 0x28);
const BRACKET: RGBColor = RGBColor(0xFF, 0xCD, 0xD2);
const KEEPALIVE: RGBColor = RGBColor(0x3F, 0x51, 0xB5);

/// One idle gap: its length and whether it killed its connection.
struct Gap {
    seconds: f64,
    killed: bool,
    jitter: f64,
}

fn gaps(a: &Analysis) -> Vec<Gap> {
    let mut out = Vec::new();
    for c in &a.connections {
        for (i, (g, &outcome)) in c.idle_gaps.iter().zip(&c.verdict.gap_outcomes).enumerate() {
            if outcome == GapOutcome::AfterFailure {
                continue;
            }
            let spread = ((c.id * 37 + i * 11) % 97) as f64 / 97.0;
            out.push(Gap {
                seconds: g.seconds(),
                killed: outcome == GapOutcome::Killed,
                jitter: spread - 0.5,
            });
        }
    }
    out
}

/// The keepalives in use, most used first, at most `MAX_KEEPALIVES`; and how many more.
fn keepalives(a: &Analysis) -> (Vec<u16>, usize) {
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    for k in a.connections.iter().filter_map(|c| c.keepalive) {
        if k > 0 {
            *counts.entry(k).or_default() += 1;
        }
    }
    let mut kas: Vec<(u16, usize)> = counts.into_iter().collect();
    kas.sort_by_key(|&(k, n)| (std::cmp::Reverse(n), k));
    let more = kas.len().saturating_sub(MAX_KEEPALIVES);
    kas.truncate(MAX_KEEPALIVES);
    (kas.into_iter().map(|(k, _)| k).collect(), more)
}

/// The NAT bracket (lower, upper seconds) from the `nat_timeout_bracket` finding.
fn bracket(a: &Analysis) -> Option<(f64, f64)> {
    let f = a
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::NatTimeoutBracket)?;
    let num = |k: &str| f.numbers.get(k);
    Some((num("lower_seconds")?, num("upper_seconds")?))
}

/// Renders the idle-gaps chart.
pub fn render(a: &Analysis) -> io::Result<String> {
    let gaps = gaps(a);
    let (kas, more) = keepalives(a);
    let bracket = bracket(a);
    let max = gaps
        .iter()
        .map(|g| g.seconds)
        .chain(kas.iter().map(|&k| f64::from(k)))
        .chain(bracket.map(|b| b.1))
        .fold(1.0, f64::max)
        * 1.08;
    let plot_px = f64::from(WIDTH as i32 - LEFT - RIGHT);
    let rows = label_rows(&kas, |s| LEFT + (s / max * plot_px) as i32);
    let strip = rows.iter().map(|r| r.1 + 1).max().unwrap_or(0) as i32 * LABEL_ROW;
    let entries = legend(a, bracket, more);
    let legend = Legend::new(&entries, WIDTH as i32 - 32);
    let height = TOP + strip + PLOT + AXIS + 12 + legend.height();
    super::render(height as u32, |root| {
        style::title(
            root,
            "Idle gaps and their outcome, with the NAT timeout bracket",
        )?;
        let area = root.clone().shrink(
            (0, TOP + strip),
            ((WIDTH as i32 - RIGHT) as u32, (PLOT + AXIS) as u32),
        );
        draw_plot(root, &area, &gaps, &kas, bracket, max)?;
        draw_keepalive_labels(root, &rows)?;
        legend.draw(root, (16, TOP + strip + PLOT + AXIS + 12))
    })
}

fn legend(a: &Analysis, bracket: Option<(f64, f64)>, more: usize) -> Vec<Entry> {
    let total = gaps(a).len();
    let mut e = vec![
        Entry::block(SURVIVED, "gap survived (traffic went on after it)"),
        Entry::block(KILLED, "gap killed the connection (nat_idle_expiry)"),
        Entry::block(KEEPALIVE, "keepalive in use (dashed line)"),
        Entry::block(BRACKET, "NAT idle timeout bracket"),
    ];
    e.push(Entry::note(match bracket {
        Some((lo, hi)) => format!(
            "NAT idle timeout bracket (finding nat_timeout_bracket): between {lo:.1} s (longest gap survived) and {hi:.1} s (shortest that killed)."
        ),
        None => "No NAT idle expiry in this capture: no NAT timeout bracket.".to_string(),
    }));
    e.push(Entry::note(format!(
        "{total} idle gaps (each connection's longest and last, none after its failure); points are spread vertically within their row to stay apart, and points closer than 2 px are drawn once."
    )));
    if more > 0 {
        e.push(Entry::note(format!(
            "+ {more} more keepalive values in use, not drawn."
        )));
    }
    e
}

/// Stacks keepalive labels into rows so none overlaps another: (keepalive, row).
fn label_rows(kas: &[u16], px: impl Fn(f64) -> i32) -> Vec<(u16, usize, i32)> {
    let mut sorted = kas.to_vec();
    sorted.sort_unstable();
    let mut ends: Vec<i32> = Vec::new();
    let mut out = Vec::new();
    for k in sorted {
        let x = px(f64::from(k));
        let width = ka_text(k).chars().count() as i32 * CHAR_PX;
        let start = x - width / 2;
        let row = ends
            .iter()
            .position(|&e| e + 6 < start)
            .unwrap_or(ends.len());
        if row == ends.len() {
            ends.push(0);
        }
        ends[row] = start + width;
        out.push((k, row, x));
    }
    out
}

fn ka_text(k: u16) -> String {
    format!("keepalive {k} s")
}

fn draw_keepalive_labels(root: &Area, rows: &[(u16, usize, i32)]) -> DrawResult {
    let font = style::text(TEXT, KEEPALIVE, HPos::Center, VPos::Center);
    for &(k, row, x) in rows {
        let y = TOP + row as i32 * LABEL_ROW + LABEL_ROW / 2;
        style::label(root, &ka_text(k), (x, y), &font)?;
    }
    Ok(())
}

fn draw_plot(
    root: &Area,
    area: &Area,
    gaps: &[Gap],
    kas: &[u16],
    bracket: Option<(f64, f64)>,
    max: f64,
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .x_label_area_size(AXIS)
        .y_label_area_size(LEFT)
        .build_cartesian_2d(0.0..max, 0.0..2.0)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(10)
        .x_label_formatter(&|x| style::seconds(*x))
        .x_label_style((style::FONT, TEXT))
        .x_desc("idle gap length (seconds)")
        .axis_desc_style((style::FONT, TEXT))
        .light_line_style(TRANSPARENT)
        .draw()?;
    if let Some((lo, hi)) = bracket {
        let band = Rectangle::new(
            [(lo, 0.0), (hi.max(lo + max / 500.0), 2.0)],
            BRACKET.filled(),
        );
        chart.draw_series(std::iter::once(band))?;
    }
    for &k in kas {
        let x = f64::from(k);
        let line =
            DashedPathElement::new(vec![(x, 0.0), (x, 2.0)], 5, 4, KEEPALIVE.stroke_width(1));
        chart.draw_series(std::iter::once(line))?;
    }
    let font = style::text(TEXT, BLACK, HPos::Right, VPos::Center);
    for (name, y) in [("killed", 0.5), ("survived", 1.5)] {
        let (x, py) = chart.backend_coord(&(0.0, y));
        style::label(root, name, (x - 10, py), &font)?;
    }
    let mut seen = BTreeSet::new();
    for g in gaps {
        let y = if g.killed { 0.5 } else { 1.5 } + g.jitter * 0.7;
        let (px, py) = chart.backend_coord(&(g.seconds, y));
        if seen.insert((px / 2, py / 2)) {
            let colour = if g.killed { KILLED } else { SURVIVED };
            root.draw(&Circle::new((px, py), 3, colour.mix(0.8).filled()))?;
        }
    }
    Ok(())
}
