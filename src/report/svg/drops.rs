//! Chart 3: when drops happened (drops per time bin, stacked by layer), with one row per
//! pattern finding (cluster, shutdown, regular or irregular drops) marking its drops.

use super::clock::{self, Clock};
use super::legend::{Entry, Legend};
use super::style::{self, CHAR_PX, TEXT};
use super::{Area, DrawResult, WIDTH};
use crate::correlate::{Finding, FindingKind};
use crate::engine::Analysis;
use crate::time::Timestamp;
use crate::verdict::Layer;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::collections::BTreeSet;
use std::io;

const LEFT: i32 = 260;
const RIGHT: i32 = 40;
const TOP: i32 = 48;
const ROW: i32 = 22;
const PLOT: i32 = 220;
const AXIS: i32 = 50;
const Y_AXIS: i32 = 70;
/// Most finding rows drawn; the rest are counted in the legend.
const MAX_ROWS: usize = 10;
const BINS: usize = 60;
const LAYERS: [Option<Layer>; 3] = [Some(Layer::Network), Some(Layer::Protocol), None];
const ANNOTATION: RGBColor = RGBColor(0x37, 0x47, 0x4F);

/// A finding row: its words and the drop times it covers.
struct Row {
    label: String,
    times: Vec<Timestamp>,
}

/// Renders the drops-over-time chart.
pub fn render(a: &Analysis) -> io::Result<String> {
    let drops: Vec<(Timestamp, Option<Layer>)> = a
        .connections
        .iter()
        .filter(|c| c.verdict.cause.is_drop())
        .map(|c| (c.drop_time(), c.verdict.layer))
        .collect();
    let start = a
        .connections
        .iter()
        .map(|c| c.start)
        .min()
        .unwrap_or_default();
    let end = a
        .connections
        .iter()
        .map(|c| c.end)
        .max()
        .unwrap_or_default();
    let clock = Clock::new(start, end, 8);
    let all_rows: Vec<Row> = a.findings.iter().filter_map(|f| row(a, f)).collect();
    let hidden = all_rows.len().saturating_sub(MAX_ROWS);
    let rows = &all_rows[..all_rows.len() - hidden];
    let bin = clock.bin_width(BINS);
    let entries = legend(hidden, bin);
    let legend = Legend::new(&entries, WIDTH as i32 - 32);
    let strip = rows.len() as i32 * ROW;
    let height = TOP + strip + PLOT + AXIS + 12 + legend.height();
    super::render(height as u32, |root| {
        style::title(root, "Drops over time, with drop patterns")?;
        let area = root.clone().shrink(
            (LEFT - Y_AXIS, TOP + strip),
            (
                (WIDTH as i32 - LEFT - RIGHT + Y_AXIS) as u32,
                (PLOT + AXIS) as u32,
            ),
        );
        let x = |t| clock.x(t);
        draw_rows(root, rows, &|t| {
            let frac = (x(t) - clock.lo) / (clock.hi - clock.lo);
            LEFT + (frac * f64::from(WIDTH as i32 - LEFT - RIGHT)) as i32
        })?;
        draw_histogram(root, &area, &clock, &drops, bin)?;
        legend.draw(root, (16, TOP + strip + PLOT + AXIS + 12))
    })
}

fn legend(hidden: usize, bin: f64) -> Vec<Entry> {
    let mut e = vec![
        Entry::block(style::layer_colour(Some(Layer::Network)), "network drops"),
        Entry::block(style::layer_colour(Some(Layer::Protocol)), "protocol drops"),
        Entry::block(style::layer_colour(None), "layer unknown"),
        Entry::block(ANNOTATION, "a pattern finding's drops"),
        Entry::note(format!(
            "Bars count drops per {bin} s bin; a drop's time is its first FIN or RST. Rows above: one per pattern finding, ticks at its drops."
        )),
    ];
    if hidden > 0 {
        e.push(Entry::note(format!(
            "+ {hidden} more pattern findings not drawn (see index.html)."
        )));
    }
    e
}

/// A finding's row, for the findings about when drops happen.
fn row(a: &Analysis, f: &Finding) -> Option<Row> {
    let num = |k: &str| f.numbers.get(k).unwrap_or(0.0);
    let who = f.client_id.as_deref().unwrap_or("?");
    let label = match f.kind {
        FindingKind::ClusteredDrops => format!("cluster: {:.0} clients at once", num("clients")),
        FindingKind::ServerShutdown => format!("shutdown: {:.0} closed", num("connections")),
        FindingKind::RegularDrops => {
            format!("{who}: every {:.1} s", num("mean_lifetime_seconds"))
        }
        FindingKind::IrregularDrops => format!("{who}: irregular drops"),
        FindingKind::DropsAfterMessages => format!("{who}: after ~{:.0} msgs", num("messages")),
        _ => return None,
    };
    let times = f
        .connections
        .iter()
        .filter_map(|&id| a.connections.get(id).filter(|c| c.id == id))
        .map(|c| c.drop_time())
        .collect();
    let label = style::fit(&label, ((LEFT - 24) / CHAR_PX) as usize);
    Some(Row { label, times })
}

fn draw_rows(root: &Area, rows: &[Row], px: &dyn Fn(Timestamp) -> i32) -> DrawResult {
    let font = style::text(TEXT, ANNOTATION, HPos::Right, VPos::Center);
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + i as i32 * ROW + ROW / 2;
        root.draw(&PathElement::new(
            vec![(LEFT, y), (WIDTH as i32 - RIGHT, y)],
            style::RULE.stroke_width(1),
        ))?;
        style::label(root, &r.label, (LEFT - 8, y), &font)?;
        let xs: BTreeSet<i32> = r.times.iter().map(|&t| px(t)).collect();
        for x in xs {
            root.draw(&PathElement::new(
                vec![(x, y - ROW / 2 + 4), (x, y + ROW / 2 - 4)],
                ANNOTATION.stroke_width(2),
            ))?;
        }
    }
    Ok(())
}

fn draw_histogram(
    root: &Area,
    area: &Area,
    clock: &Clock,
    drops: &[(Timestamp, Option<Layer>)],
    bin: f64,
) -> DrawResult {
    let mut counts: std::collections::BTreeMap<i64, [usize; 3]> = Default::default();
    for &(t, layer) in drops {
        let slot = LAYERS.iter().position(|&l| l == layer).unwrap_or(2);
        counts.entry((clock.x(t) / bin).floor() as i64).or_default()[slot] += 1;
    }
    let max = counts
        .values()
        .map(|c| c.iter().sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut chart = ChartBuilder::on(area)
        .x_label_area_size(AXIS)
        .y_label_area_size(Y_AXIS)
        .build_cartesian_2d(clock.lo..clock.hi, 0.0..max as f64 * 1.1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_label_formatter(&|y| style::whole(*y))
        .y_label_style((style::FONT, TEXT))
        .y_desc("drops (count)")
        .axis_desc_style((style::FONT, TEXT))
        .light_line_style(TRANSPARENT)
        .draw()?;
    let (top, bottom) = (
        chart.backend_coord(&(0.0, max as f64 * 1.1)).1,
        chart.backend_coord(&(0.0, 0.0)).1,
    );
    let px = |x| chart.backend_coord(&(x, 0.0)).0;
    clock::draw_axis(root, clock, px, (top, bottom))?;
    for (&k, c) in &counts {
        let x0 = k as f64 * bin;
        let mut from = 0.0;
        for (slot, &n) in c.iter().enumerate() {
            let to = from + n as f64;
            let rect = [(x0, from), (x0 + bin, to)];
            let colour = style::layer_colour(LAYERS[slot]);
            chart.draw_series(std::iter::once(Rectangle::new(rect, colour.filled())))?;
            from = to;
        }
    }
    Ok(())
}
