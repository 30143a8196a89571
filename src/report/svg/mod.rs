//! SVG charts of one `Analysis`, drawn with plotters' SVG backend (no system fonts: text is
//! written as SVG `<text>` and the viewer picks a sans-serif font). Every chart reads the
//! analysis only; numbers it needs beyond the analysis's own are derived from its fields.

mod causes;
mod clock;
mod drops;
mod durations;
mod gaps;
mod lanes;
mod legend;
pub mod style;
mod timeline;

use crate::engine::Analysis;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::io;

pub use style::Mark;
pub use timeline::{lane_id, laned, verdict_label};

/// The drawing surface every chart draws on.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
/// What a drawing step returns.
pub type DrawResult = Result<(), DrawingAreaErrorKind<io::Error>>;

/// Width of every chart, pixels.
pub const WIDTH: u32 = 1200;

/// One rendered chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File name to write it under (`timeline.svg`, …).
    pub file: &'static str,
    /// Its title, for the index page.
    pub title: &'static str,
    /// The SVG document.
    pub svg: String,
}

/// Renders every chart of an analysis, in the order the index shows them. The timeline shows
/// marks only where the connections' timelines were kept (run with `Config.timeline` full).
pub fn charts(a: &Analysis) -> io::Result<Vec<Chart>> {
    Ok(vec![
        chart("timeline.svg", "Connection timeline", timeline::render(a)?),
        chart("causes.svg", "Drops by cause", causes::render(a)?),
        chart("drops.svg", "Drops over time", drops::render(a)?),
        chart("durations.svg", "Durations", durations::render(a)?),
        chart("idle-gaps.svg", "Idle gaps", gaps::render(a)?),
    ])
}

fn chart(file: &'static str, title: &'static str, svg: String) -> Chart {
    Chart { file, title, svg }
}

/// Renders one SVG document of `height` pixels with `draw`.
fn render(height: u32, draw: impl FnOnce(&Area) -> DrawResult) -> io::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        draw(&root).map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

fn failed(e: DrawingAreaErrorKind<io::Error>) -> io::Error {
    io::Error::other(format!("drawing a chart: {e}"))
}
