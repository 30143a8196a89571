//! Chart 1: one lane per connection across capture time, with its packets, TCP events, idle
//! gaps and keepalive deadlines, and its verdict at the end of the lane.

use super::clock::{self, Clock};
use super::lanes::{self, Placed, Plan};
use super::legend::{Entry, Legend};
use super::style::{self, CHAR_PX, Mark, TEXT};
use super::{Area, DrawResult, WIDTH};
use crate::engine::Analysis;
use crate::tcp::Side;
use crate::verdict::Judged;
use crate::verdict::{Cause, Layer};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::io;

/// Most lanes drawn; the rest are counted under the chart.
pub const MAX_LANES: usize = 40;
const LANE: i32 = 34;
const LEFT: i32 = 200;
const RIGHT: i32 = 240;
const TOP: i32 = 48;
const AXIS: i32 = 50;

/// A lane ready to draw: its connection and its sampled marks.
struct Lane<'a> {
    conn: &'a Judged,
    marks: Vec<Placed>,
}

/// Renders the timeline chart.
pub fn render(a: &Analysis) -> io::Result<String> {
    let plan = lanes::plan(&a.connections, MAX_LANES);
    let clock = clock(&plan);
    let plot_px = f64::from(WIDTH as i32 - LEFT - RIGHT);
    let px = |t| (clock.x(t) - clock.lo) / (clock.hi - clock.lo) * plot_px;
    let mut drawn = 0;
    let mut total = 0;
    let lanes: Vec<Lane> = plan
        .lanes
        .iter()
        .map(|&conn| {
            let (marks, all) = lanes::sample(lanes::marks(conn), px);
            drawn += marks.len();
            total += all;
            Lane { conn, marks }
        })
        .collect();
    let entries = legend(&plan, drawn, total);
    let legend = Legend::new(&entries, WIDTH as i32 - 32);
    let rows = lanes.len().max(1) as i32 * LANE;
    let height = TOP + rows + AXIS + 12 + legend.height();
    let mut centres = Vec::new();
    let svg = super::render(height as u32, |root| {
        style::title(root, "Connection timeline: how each connection ended")?;
        centres = draw_lanes(root, &lanes, &clock, rows)?;
        legend.draw(root, (16, TOP + rows + AXIS + 12))
    })?;
    Ok(with_lane_anchors(svg, &centres))
}

/// The connections that get a lane on the timeline, top to bottom.
pub fn laned(conns: &[Judged]) -> Vec<usize> {
    lanes::plan(conns, MAX_LANES)
        .lanes
        .iter()
        .map(|c| c.id)
        .collect()
}

/// The id of a connection's lane in the timeline (`conn-17`), for links into it.
pub fn lane_id(connection: usize) -> String {
    format!("conn-{connection}")
}

/// Adds one invisible rectangle per lane, spanning the lane, with the lane's id, so a link
/// `#conn-17` scrolls to it (and CSS `:target` can light it up) where the SVG is inlined.
/// Plotters draws no ids, so they are appended to its output. No `fill` colour is set (only
/// a zero opacity), so the rectangles draw nothing and add no colour to the chart.
fn with_lane_anchors(mut svg: String, centres: &[(usize, i32)]) -> String {
    let Some(end) = svg.rfind("</svg>") else {
        return svg;
    };
    let mut anchors = String::new();
    for &(id, y) in centres {
        anchors.push_str(&format!(
            "<rect id=\"{}\" class=\"lane\" x=\"0\" y=\"{}\" width=\"{WIDTH}\" height=\"{LANE}\" fill-opacity=\"0\"/>\n",
            lane_id(id),
            y - LANE / 2
        ));
    }
    svg.insert_str(end, &anchors);
    svg
}

fn clock(plan: &Plan) -> Clock {
    let start = plan.lanes.iter().map(|c| c.start).min().unwrap_or_default();
    let end = plan.lanes.iter().map(|c| c.end).max().unwrap_or_default();
    Clock::new(start, end, 8)
}

/// Draws the lanes; returns each drawn lane's connection id and the y of its centre line.
fn draw_lanes(
    root: &Area,
    lanes: &[Lane],
    clock: &Clock,
    rows: i32,
) -> Result<Vec<(usize, i32)>, DrawingAreaErrorKind<io::Error>> {
    let n = lanes.len().max(1) as f64;
    let area = root.clone().shrink(
        (LEFT, TOP),
        ((WIDTH as i32 - LEFT - RIGHT) as u32, (rows + AXIS) as u32),
    );
    let chart = ChartBuilder::on(&area)
        .x_label_area_size(AXIS)
        .build_cartesian_2d(clock.lo..clock.hi, 0.0..n)?;
    let px = |x| chart.backend_coord(&(x, 0.0)).0;
    clock::draw_axis(root, clock, px, (TOP, TOP + rows))?;
    if lanes.is_empty() {
        let at = chart.backend_coord(&((clock.lo + clock.hi) / 2.0, 0.5));
        let s = style::text(TEXT, style::MUTED, HPos::Center, VPos::Center);
        style::label(root, "no MQTT connections in the capture", at, &s)?;
        return Ok(Vec::new());
    }
    let mut centres = Vec::with_capacity(lanes.len());
    for (i, lane) in lanes.iter().enumerate() {
        let y = n - i as f64 - 0.5;
        let at = |t| chart.backend_coord(&(clock.x(t), y));
        centres.push((lane.conn.id, at(lane.conn.start).1));
        draw_lane(root, lane, i, &at)?;
    }
    Ok(centres)
}

fn draw_lane(
    root: &Area,
    lane: &Lane,
    row: usize,
    at: &dyn Fn(crate::time::Timestamp) -> (i32, i32),
) -> DrawResult {
    let c = lane.conn;
    let (x0, y) = at(c.start);
    let (x1, _) = at(c.end);
    if row % 2 == 1 {
        let band = [(LEFT, y - LANE / 2), (WIDTH as i32 - RIGHT, y + LANE / 2)];
        root.draw(&Rectangle::new(band, RGBColor(0xF7, 0xF9, 0xFA).filled()))?;
    }
    for g in &c.idle_gaps {
        let (a, b) = (at(g.after.ts).0, at(g.before.ts).0);
        let gap = [(a, y - LANE / 4), (b.max(a + 1), y + LANE / 4)];
        root.draw(&Rectangle::new(gap, Mark::IdleGap.colour().filled()))?;
    }
    root.draw(&PathElement::new(
        vec![(x0, y), (x1.max(x0 + 1), y)],
        style::RULE.stroke_width(2),
    ))?;
    for m in &lane.marks {
        draw_mark(root, m, at(m.at))?;
    }
    lane_labels(root, c, y)
}

/// Client marks sit above the lane's centre line, server marks below; deadlines span it.
fn draw_mark(root: &Area, m: &Placed, (x, y): (i32, i32)) -> DrawResult {
    let quarter = LANE / 4;
    match m.side {
        None => m.mark.draw(root, (x, y), LANE / 2 - 2),
        Some(Side::Client) => m.mark.draw(root, (x, y - quarter), quarter),
        Some(Side::Server) => m.mark.draw(root, (x, y + quarter), quarter),
    }
}

fn lane_labels(root: &Area, c: &Judged, y: i32) -> DrawResult {
    let name = format!(
        "#{} {}",
        c.id,
        c.client_id.as_deref().unwrap_or("(no client id)")
    );
    let name = style::fit(&name, ((LEFT - 16) / CHAR_PX) as usize);
    let left = style::text(TEXT, BLACK, HPos::Right, VPos::Center);
    style::label(root, &name, (LEFT - 8, y), &left)?;
    let (text, colour) = verdict_label(c);
    let text = style::fit(&text, ((RIGHT - 16) / CHAR_PX) as usize);
    let right = style::text(TEXT, colour, HPos::Left, VPos::Center);
    style::label(root, &text, (WIDTH as i32 - RIGHT + 10, y), &right)
}

/// The words and colour at the end of a lane: the cause, its code, who ended it.
pub fn verdict_label(c: &Judged) -> (String, RGBColor) {
    let v = &c.verdict;
    let mut s = v.cause.name().to_string();
    // MQTT reason codes and TLS alerts in hex as the specs give them; HTTP statuses and
    // WebSocket close codes (above 255) in decimal.
    match v.code {
        Some(code) if code > 0xFF => s.push_str(&format!(" {code}")),
        Some(code) => s.push_str(&format!(" 0x{code:02X}")),
        None => {}
    }
    if let Some(side) = v.side.filter(|_| v.cause.is_drop()) {
        s.push_str(&format!(" ({})", side.name()));
    }
    (s, style::verdict_colour(v.cause, v.layer))
}

fn legend(plan: &Plan, drawn: usize, total: usize) -> Vec<Entry> {
    let mut e: Vec<Entry> = Mark::ALL.iter().map(|&m| Entry::mark(m)).collect();
    if plan.lanes.iter().any(|c| c.ws.is_some()) {
        e.extend(Mark::WEBSOCKET.iter().map(|&m| Entry::mark(m)));
    }
    let verdicts = [
        (
            Cause::Reset,
            Some(Layer::Network),
            "verdict: network drop (reds)",
        ),
        (
            Cause::ServerClose,
            Some(Layer::Protocol),
            "verdict: protocol drop (blues)",
        ),
        (
            Cause::ClientDisconnect,
            Some(Layer::None),
            "verdict: clean end / open (grey)",
        ),
    ];
    for (cause, layer, label) in verdicts {
        e.push(Entry::block(style::verdict_colour(cause, layer), label));
    }
    e.push(Entry::note(
        "Above a lane's centre line: sent by the client; below: by the server. FIN/RST bars sit on the sender's half.",
    ));
    e.push(Entry::note(
        "Keepalive deadline = 1.5 × keepalive after the client's last packet, drawn where the client then went quiet for a keepalive or more.",
    ));
    e.push(Entry::note(format!(
        "Sampled: marks of one kind and side closer than {} px are drawn once ({drawn} of {total} marks drawn).",
        lanes::SAMPLE_PX
    )));
    e.push(Entry::note(
        "Lanes: dropped connections first, then the rest, grouped by client id; label = #connection id, client id.",
    ));
    e.extend(hidden_notes(plan));
    e
}

fn hidden_notes(plan: &Plan) -> Vec<Entry> {
    let mut notes = Vec::new();
    if plan.hidden_drops > 0 {
        notes.push(Entry::note(format!(
            "+ {} more dropped connections not shown (see index.html).",
            plan.hidden_drops
        )));
    }
    let clean: usize = plan.hidden_clean.values().sum();
    if clean > 0 {
        let by: Vec<String> = plan
            .hidden_clean
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        notes.push(Entry::note(format!(
            "+ {clean} clean connections not shown ({}).",
            by.join(", ")
        )));
    }
    notes
}
