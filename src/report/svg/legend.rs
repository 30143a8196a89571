//! Legends: a grid of swatches and labels under a chart, laid out so no label meets another.

use super::style::{self, CHAR_PX, Mark, TEXT};
use super::{Area, DrawResult};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// Height of one legend row, pixels.
const ROW: i32 = 20;
/// Room for the swatch before the label, pixels.
const SWATCH: i32 = 26;

/// What a legend entry shows before its label.
#[derive(Debug, Clone, Copy)]
pub enum Swatch {
    /// A mark, drawn as the chart draws it.
    Mark(Mark),
    /// A filled block of colour.
    Block(RGBColor),
    /// Nothing (a note).
    None,
}

/// One legend entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The swatch.
    pub swatch: Swatch,
    /// The words.
    pub label: String,
}

impl Entry {
    /// An entry for a mark, with its own label.
    pub fn mark(m: Mark) -> Entry {
        Entry {
            swatch: Swatch::Mark(m),
            label: m.label().to_string(),
        }
    }

    /// An entry with a colour block.
    pub fn block(c: RGBColor, label: impl Into<String>) -> Entry {
        Entry {
            swatch: Swatch::Block(c),
            label: label.into(),
        }
    }

    /// A line of text with no swatch.
    pub fn note(label: impl Into<String>) -> Entry {
        Entry {
            swatch: Swatch::None,
            label: label.into(),
        }
    }
}

/// A legend laid out for a width: entries with swatches in columns, notes on full rows below.
pub struct Legend<'a> {
    entries: &'a [Entry],
    columns: usize,
    column_px: i32,
}

impl<'a> Legend<'a> {
    /// Lays the entries out in as many equal columns as fit in `width` pixels.
    pub fn new(entries: &'a [Entry], width: i32) -> Legend<'a> {
        let longest = entries
            .iter()
            .filter(|e| !matches!(e.swatch, Swatch::None))
            .map(|e| e.label.chars().count() as i32)
            .max()
            .unwrap_or(0);
        let column_px = SWATCH + longest * CHAR_PX + 16;
        let columns = (width / column_px.max(1)).max(1) as usize;
        Legend {
            entries,
            columns,
            column_px,
        }
    }

    fn swatch_rows(&self) -> usize {
        let n = self.swatched().count();
        n.div_ceil(self.columns)
    }

    fn swatched(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| !matches!(e.swatch, Swatch::None))
    }

    fn notes(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.swatch, Swatch::None))
    }

    /// Its height in pixels.
    pub fn height(&self) -> i32 {
        (self.swatch_rows() + self.notes().count()) as i32 * ROW + 8
    }

    /// Draws it with its top left corner at `origin`.
    pub fn draw(&self, area: &Area, origin: (i32, i32)) -> DrawResult {
        let font = style::text(TEXT, BLACK, HPos::Left, VPos::Center);
        for (i, e) in self.swatched().enumerate() {
            let col = (i % self.columns) as i32;
            let row = (i / self.columns) as i32;
            let x = origin.0 + col * self.column_px;
            let y = origin.1 + row * ROW + ROW / 2;
            draw_swatch(area, e.swatch, (x + SWATCH / 2 - 2, y))?;
            style::label(area, &e.label, (x + SWATCH, y), &font)?;
        }
        let top = origin.1 + self.swatch_rows() as i32 * ROW;
        let note = style::text(TEXT, style::MUTED, HPos::Left, VPos::Center);
        for (i, e) in self.notes().enumerate() {
            let y = top + i as i32 * ROW + ROW / 2;
            style::label(area, &e.label, (origin.0, y), &note)?;
        }
        Ok(())
    }
}

fn draw_swatch(area: &Area, s: Swatch, at: (i32, i32)) -> DrawResult {
    match s {
        Swatch::Mark(m) => m.draw(area, at, 7),
        Swatch::Block(c) => area.draw(&Rectangle::new(
            [(at.0 - 7, at.1 - 6), (at.0 + 7, at.1 + 6)],
            c.filled(),
        )),
        Swatch::None => Ok(()),
    }
}
