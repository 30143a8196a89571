//! Chart 4: histograms of session duration and of time to reconnect (a log scale when the
//! values span more than two decades).

use super::legend::{Entry, Legend};
use super::style::{self, TEXT};
use super::{Area, DrawResult, WIDTH};
use crate::engine::Analysis;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::io;

const TOP: i32 = 48;
const PANEL: i32 = 320;
const BINS: usize = 20;
const BAR: RGBColor = RGBColor(0x54, 0x6E, 0x7A);

/// Renders the durations chart.
pub fn render(a: &Analysis) -> io::Result<String> {
    let durations: Vec<f64> = a
        .connections
        .iter()
        .map(|c| c.duration.as_secs_f64().max(0.0))
        .collect();
    let waits = &a.summary.reconnect_waits;
    let entries = vec![
        Entry::block(BAR, "connections per bin"),
        Entry::note(
            "Time to reconnect: from a connection's last packet to the same client id's next connection.",
        ),
        Entry::note(
            "A log scale is used when the values span more than two decades; zero is drawn in the first bin.",
        ),
    ];
    let legend = Legend::new(&entries, WIDTH as i32 - 32);
    let height = TOP + PANEL + 12 + legend.height();
    super::render(height as u32, |root| {
        style::title(
            root,
            "Durations: how long sessions lasted, how soon clients came back",
        )?;
        let half = WIDTH as i32 / 2;
        let left = root.clone().shrink((0, TOP), (half as u32, PANEL as u32));
        let right = root
            .clone()
            .shrink((half, TOP), (half as u32, PANEL as u32));
        panel(&left, "session duration", &durations)?;
        panel(&right, "time to reconnect", waits)?;
        legend.draw(root, (16, TOP + PANEL + 12))
    })
}

fn panel(area: &Area, what: &str, values: &[f64]) -> DrawResult {
    let area = area.margin(0, 0, 16, 24);
    let caption = format!("{what} ({} values)", values.len());
    if values.is_empty() {
        area.titled(&caption, (style::FONT, TEXT))?;
        let s = style::text(TEXT, style::MUTED, HPos::Center, VPos::Center);
        let (w, h) = area.dim_in_pixel();
        return style::label(
            &area,
            "none in this capture",
            (w as i32 / 2, h as i32 / 2),
            &s,
        );
    }
    let max = values.iter().copied().fold(0.0, f64::max).max(0.001);
    let min = values
        .iter()
        .copied()
        .filter(|&v| v > 0.0)
        .fold(f64::INFINITY, f64::min);
    if min.is_finite() && max / min > 100.0 {
        let lo = 10f64.powf(min.log10().floor());
        let edges = log_edges(lo, max);
        let bins = counts(values, &edges);
        draw(
            &area,
            &caption,
            (lo..max * 1.05).log_scale(),
            &edges,
            &bins,
            "seconds (log scale)",
        )
    } else {
        let edges: Vec<f64> = (0..=BINS).map(|i| max * i as f64 / BINS as f64).collect();
        let bins = counts(values, &edges);
        draw(&area, &caption, 0.0..max * 1.05, &edges, &bins, "seconds")
    }
}

fn log_edges(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10(), hi.log10());
    (0..=BINS)
        .map(|i| 10f64.powf(a + (b - a) * i as f64 / BINS as f64))
        .collect()
}

/// How many values fall in each bin; values below the first edge count in the first bin.
fn counts(values: &[f64], edges: &[f64]) -> Vec<usize> {
    let mut bins = vec![0; edges.len() - 1];
    for &v in values {
        let i = edges[1..].partition_point(|&e| e < v).min(bins.len() - 1);
        bins[i] += 1;
    }
    bins
}

fn draw<X>(
    area: &Area,
    caption: &str,
    x: X,
    edges: &[f64],
    bins: &[usize],
    unit: &str,
) -> DrawResult
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let top = bins.iter().copied().max().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (style::FONT, TEXT))
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(x, 0.0..top * 1.1)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&|v| style::seconds(*v))
        .y_label_formatter(&|y| style::whole(*y))
        .x_label_style((style::FONT, TEXT))
        .y_label_style((style::FONT, TEXT))
        .x_desc(unit)
        .y_desc("connections (count)")
        .axis_desc_style((style::FONT, TEXT))
        .light_line_style(TRANSPARENT)
        .draw()?;
    let rects = bins
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, &n)| Rectangle::new([(edges[i], 0.0), (edges[i + 1], n as f64)], BAR.filled()));
    chart.draw_series(rects)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_their_bins() {
        let edges = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(counts(&[0.0, 0.5, 1.0, 1.5, 3.0, 9.0], &edges), [3, 1, 2]);
    }
}
