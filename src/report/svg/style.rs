//! Colours, fonts and the glyphs shared by every chart, so one mark means one thing in all of
//! them and the legend can draw exactly what the chart drew.

use super::{Area, DrawResult};
use crate::verdict::{Cause, Layer};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Font family of every label: generic, so no system font is looked up.
pub const FONT: &str = "sans-serif";
/// Font size passed to plotters for ordinary labels (the SVG gets 12 px: plotters divides by
/// 1.24).
pub const TEXT: f64 = 15.0;
/// Font size of chart titles.
pub const TITLE: f64 = 20.0;
/// Width of one character of `TEXT`, in pixels, as budgeted for layout (a generous average
/// for sans-serif, so labels placed with it do not collide).
pub const CHAR_PX: i32 = 7;
/// Light grey of grid lines and lane rules.
pub const RULE: RGBColor = RGBColor(0xCF, 0xD8, 0xDC);
/// Dark grey of secondary text.
pub const MUTED: RGBColor = RGBColor(0x61, 0x61, 0x61);

/// Something a chart marks; each has one colour and one shape everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// CONNECT (client) or CONNACK (server).
    Connect,
    /// PUBLISH.
    Publish,
    /// PINGREQ (client) or PINGRESP (server).
    Ping,
    /// DISCONNECT.
    Disconnect,
    /// Any other MQTT packet (SUBSCRIBE, PUBACK, …).
    OtherMqtt,
    /// A TCP retransmission.
    Retransmission,
    /// A TCP FIN.
    Fin,
    /// A TCP RST.
    Rst,
    /// A keepalive deadline the client met.
    Deadline,
    /// A keepalive deadline that passed with no client packet.
    MissedDeadline,
    /// An idle gap (no packet either way).
    IdleGap,
    /// A WebSocket Close frame.
    WsClose,
    /// A WebSocket ping or pong.
    WsPing,
}

impl Mark {
    /// Every mark, in legend order.
    pub const ALL: [Mark; 11] = [
        Mark::Connect,
        Mark::Publish,
        Mark::Ping,
        Mark::Disconnect,
        Mark::OtherMqtt,
        Mark::Retransmission,
        Mark::Fin,
        Mark::Rst,
        Mark::Deadline,
        Mark::MissedDeadline,
        Mark::IdleGap,
    ];

    /// The marks of WebSocket connections, in the legend only when one is drawn.
    pub const WEBSOCKET: [Mark; 2] = [Mark::WsClose, Mark::WsPing];

    /// Its colour; no two marks share one.
    pub fn colour(self) -> RGBColor {
        match self {
            Mark::Connect => RGBColor(0x2E, 0x7D, 0x32),
            Mark::Publish => RGBColor(0x00, 0x83, 0x8F),
            Mark::Ping => RGBColor(0x6A, 0x1B, 0x9A),
            Mark::Disconnect => RGBColor(0x21, 0x21, 0x21),
            Mark::OtherMqtt => RGBColor(0x90, 0xA4, 0xAE),
            Mark::Retransmission => RGBColor(0xEF, 0x6C, 0x00),
            Mark::Fin => RGBColor(0x79, 0x55, 0x48),
            Mark::Rst => RGBColor(0xD5, 0x00, 0x00),
            Mark::Deadline => RGBColor(0x9E, 0x9E, 0x9F),
            Mark::MissedDeadline => RGBColor(0xC2, 0x18, 0x5B),
            Mark::IdleGap => RGBColor(0xFF, 0xF1, 0xC1),
            Mark::WsClose => RGBColor(0x28, 0x35, 0x93),
            Mark::WsPing => RGBColor(0x00, 0x89, 0x7B),
        }
    }

    /// Its colour as the SVG writes it (`#RRGGBB`).
    pub fn hex(self) -> String {
        hex(self.colour())
    }

    /// What the legend says about it.
    pub fn label(self) -> &'static str {
        match self {
            Mark::Connect => "CONNECT / CONNACK",
            Mark::Publish => "PUBLISH",
            Mark::Ping => "PINGREQ / PINGRESP",
            Mark::Disconnect => "DISCONNECT",
            Mark::OtherMqtt => "other MQTT packet",
            Mark::Retransmission => "TCP retransmission",
            Mark::Fin => "TCP FIN",
            Mark::Rst => "TCP RST",
            Mark::Deadline => "keepalive deadline met (dashed)",
            Mark::MissedDeadline => "keepalive deadline missed (dashed)",
            Mark::IdleGap => "idle gap (no packet)",
            Mark::WsClose => "WebSocket Close",
            Mark::WsPing => "WebSocket ping / pong",
        }
    }

    /// Draws the mark centred on a pixel; `half` is half the lane height.
    pub fn draw(self, area: &Area, (x, y): (i32, i32), half: i32) -> DrawResult {
        let c = self.colour();
        match self {
            Mark::Connect => area.draw(&Rectangle::new(
                [(x - 4, y - 4), (x + 4, y + 4)],
                c.filled(),
            )),
            Mark::Publish => area.draw(&Circle::new((x, y), 3, c.filled())),
            Mark::Ping => area.draw(&TriangleMarker::new((x, y), 5, c.filled())),
            Mark::Disconnect => diamond(area, (x, y), 5, c),
            Mark::OtherMqtt => area.draw(&Circle::new((x, y), 2, c.filled())),
            Mark::Retransmission => area.draw(&Cross::new((x, y), 4, c.stroke_width(2))),
            Mark::Fin => bar(area, x, y, half, c.stroke_width(2)),
            Mark::Rst => bar(area, x, y, half, c.stroke_width(3)),
            Mark::Deadline => dashed(area, x, y, half, c.stroke_width(2)),
            Mark::MissedDeadline => dashed(area, x, y, half, c.stroke_width(3)),
            Mark::IdleGap => area.draw(&Rectangle::new(
                [(x - 8, y - half), (x + 8, y + half)],
                c.filled(),
            )),
            Mark::WsClose => bar(area, x, y, half, c.stroke_width(1)),
            Mark::WsPing => area.draw(&Circle::new((x, y), 3, c.stroke_width(1))),
        }
    }
}

fn diamond(area: &Area, (x, y): (i32, i32), r: i32, c: RGBColor) -> DrawResult {
    let points = vec![(x, y - r), (x + r, y), (x, y + r), (x - r, y)];
    area.draw(&Polygon::new(points, c.filled()))
}

fn bar(area: &Area, x: i32, y: i32, half: i32, style: ShapeStyle) -> DrawResult {
    area.draw(&PathElement::new(vec![(x, y - half), (x, y + half)], style))
}

fn dashed(area: &Area, x: i32, y: i32, half: i32, style: ShapeStyle) -> DrawResult {
    let line = vec![(x, y - half), (x, y + half)];
    area.draw(&DashedPathElement::new(line, 3, 2, style))
}

/// A colour as the SVG writes it (`#RRGGBB`).
pub fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// The colour of a verdict: shades of red and orange for network drops, of blue and violet for
/// protocol drops, grey for clean ends, dark grey for `unknown`.
pub fn verdict_colour(cause: Cause, layer: Option<Layer>) -> RGBColor {
    const NETWORK: [RGBColor; 4] = [
        RGBColor(0xC6, 0x28, 0x28),
        RGBColor(0xE6, 0x51, 0x00),
        RGBColor(0xAD, 0x14, 0x57),
        RGBColor(0xF5, 0x7F, 0x17),
    ];
    const PROTOCOL: [RGBColor; 4] = [
        RGBColor(0x15, 0x65, 0xC0),
        RGBColor(0x45, 0x27, 0xA0),
        RGBColor(0x00, 0x69, 0x7C),
        RGBColor(0x28, 0x35, 0x93),
    ];
    let shade = cause as usize;
    match layer {
        Some(Layer::Network) => NETWORK[shade % NETWORK.len()],
        Some(Layer::Protocol) => PROTOCOL[shade % PROTOCOL.len()],
        Some(Layer::None) => RGBColor(0x9E, 0x9E, 0x9E),
        None => RGBColor(0x42, 0x42, 0x42),
    }
}

/// The base colour of a layer (bars stacked by layer use it).
pub fn layer_colour(layer: Option<Layer>) -> RGBColor {
    match layer {
        Some(Layer::Network) => RGBColor(0xE5, 0x39, 0x35),
        Some(Layer::Protocol) => RGBColor(0x1E, 0x88, 0xE5),
        Some(Layer::None) => RGBColor(0xBD, 0xBD, 0xBD),
        None => RGBColor(0x42, 0x42, 0x42),
    }
}

/// A text style of `size` in `colour`, anchored at `h`/`v`.
pub fn text(size: f64, colour: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    (FONT, size).into_font().color(&colour).pos(Pos::new(h, v))
}

/// Draws one line of text at a pixel.
pub fn label(area: &Area, s: &str, at: (i32, i32), style: &TextStyle<'_>) -> DrawResult {
    area.draw(&Text::new(s.to_string(), at, style.clone()))
}

/// Cuts a label to `max` characters, marking the cut with an ellipsis.
pub fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{head}…")
}

/// A tick label for counts: whole numbers only, nothing between them.
pub fn whole(y: f64) -> String {
    if y.fract() == 0.0 {
        format!("{y:.0}")
    } else {
        String::new()
    }
}

/// A tick label in seconds, with the fewest decimals (up to four) that show it exactly.
pub fn seconds(v: f64) -> String {
    let decimals = (0..4)
        .find(|&d| {
            let scale = 10f64.powi(d);
            ((v * scale).round() - v * scale).abs() < 1e-6
        })
        .unwrap_or(4) as usize;
    format!("{v:.decimals$}")
}

/// Draws a chart title at the top left.
pub fn title(area: &Area, s: &str) -> DrawResult {
    label(
        area,
        s,
        (16, 12),
        &text(TITLE, BLACK, HPos::Left, VPos::Top),
    )
}
