//! Chart 2: drops by cause, each bar stacked by layer.

use super::legend::{Entry, Legend};
use super::style::{self, TEXT};
use super::{Area, DrawResult, WIDTH};
use crate::engine::Analysis;
use crate::verdict::{Cause, Layer};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::collections::BTreeMap;
use std::io;

const ROW: i32 = 30;
const LEFT: i32 = 220;
const TOP: i32 = 48;
const AXIS: i32 = 50;
/// Stacking order of the layers within a bar.
const LAYERS: [Option<Layer>; 3] = [Some(Layer::Network), Some(Layer::Protocol), None];

/// Drops of one cause, by layer.
struct Bar {
    cause: Cause,
    by_layer: [usize; 3],
}

impl Bar {
    fn total(&self) -> usize {
        self.by_layer.iter().sum()
    }
}

fn bars(a: &Analysis) -> Vec<Bar> {
    let mut counts: BTreeMap<Cause, [usize; 3]> = BTreeMap::new();
    for v in a.connections.iter().map(|c| &c.verdict) {
        if !v.cause.is_drop() {
            continue;
        }
        let slot = LAYERS.iter().position(|&l| l == v.layer).unwrap_or(2);
        counts.entry(v.cause).or_default()[slot] += 1;
    }
    let mut bars: Vec<Bar> = counts
        .into_iter()
        .map(|(cause, by_layer)| Bar { cause, by_layer })
        .collect();
    bars.sort_by_key(|b| std::cmp::Reverse(b.total()));
    bars
}

/// Renders the causes chart.
pub fn render(a: &Analysis) -> io::Result<String> {
    let bars = bars(a);
    let clean = a.connections.len() - bars.iter().map(Bar::total).sum::<usize>();
    let entries = vec![
        Entry::block(style::layer_colour(Some(Layer::Network)), "network layer"),
        Entry::block(style::layer_colour(Some(Layer::Protocol)), "protocol layer"),
        Entry::block(style::layer_colour(None), "layer unknown"),
        Entry::note(format!(
            "{} drops in {} connections; {clean} ended cleanly or were still open (not drawn).",
            a.summary.drops, a.summary.connections
        )),
    ];
    let legend = Legend::new(&entries, WIDTH as i32 - 32);
    let rows = bars.len().max(1) as i32 * ROW;
    let height = TOP + rows + AXIS + 12 + legend.height();
    super::render(height as u32, |root| {
        style::title(root, "Drops by cause, stacked by layer")?;
        draw_bars(root, &bars, rows)?;
        legend.draw(root, (16, TOP + rows + AXIS + 12))
    })
}

fn draw_bars(root: &Area, bars: &[Bar], rows: i32) -> DrawResult {
    let n = bars.len().max(1) as f64;
    let max = bars.iter().map(Bar::total).max().unwrap_or(0).max(1) as f64;
    let area = root.clone().shrink(
        (LEFT, TOP),
        ((WIDTH as i32 - LEFT - 80) as u32, (rows + AXIS) as u32),
    );
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(AXIS)
        .build_cartesian_2d(0.0..max * 1.08, 0.0..n)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_labels(6)
        .x_label_formatter(&|x| style::whole(*x))
        .x_label_style((style::FONT, TEXT))
        .x_desc("connections (count)")
        .axis_desc_style((style::FONT, TEXT))
        .light_line_style(TRANSPARENT)
        .draw()?;
    if bars.is_empty() {
        let at = chart.backend_coord(&(max / 2.0, 0.5));
        let s = style::text(TEXT, style::MUTED, HPos::Center, VPos::Center);
        return style::label(root, "no drops", at, &s);
    }
    for (i, bar) in bars.iter().enumerate() {
        let y = n - i as f64 - 0.5;
        let mut from = 0.0;
        for (slot, &count) in bar.by_layer.iter().enumerate() {
            let to = from + count as f64;
            let rect = [(from, y - 0.32), (to, y + 0.32)];
            let colour = style::layer_colour(LAYERS[slot]);
            chart.draw_series(std::iter::once(Rectangle::new(rect, colour.filled())))?;
            from = to;
        }
        let (x, py) = chart.backend_coord(&(from, y));
        let count = style::text(TEXT, BLACK, HPos::Left, VPos::Center);
        style::label(root, &bar.total().to_string(), (x + 6, py), &count)?;
        let name = style::text(TEXT, BLACK, HPos::Right, VPos::Center);
        style::label(root, bar.cause.name(), (LEFT - 8, py), &name)?;
    }
    Ok(())
}
