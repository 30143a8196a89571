//! `dropscope report`: SVG charts and an index.html over one analysis.

use crate::cli::ReportArgs;
use dropscope::Analysis;
use dropscope::report::present;
use dropscope::report::svg::{self, Chart};
use dropscope::verdict::Vocabulary;
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

/// Runs `dropscope report`: one analysis with full timelines, rendered as SVG charts and an
/// index.html in the output directory.
pub fn report(args: ReportArgs) -> ExitCode {
    let analysis = match super::run(&args.input, super::config(&args.input, true)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let shown = present(
        &analysis,
        &super::presentation(&args.input, Vocabulary::Mqtt),
    );
    if let Err(e) = write_report(&shown, &args.output) {
        eprintln!(
            "dropscope: writing the report to {}: {e}",
            args.output.display()
        );
        return ExitCode::from(1);
    }
    super::warn_and_exit(&analysis)
}

fn write_report(a: &Analysis, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let charts: Vec<Chart> = svg::charts(a)?;
    for c in &charts {
        fs::write(dir.join(c.file), &c.svg)?;
    }
    let mut index = io::BufWriter::new(fs::File::create(dir.join("index.html"))?);
    dropscope::report::write_index(a, &charts, &mut index)?;
    index.flush()
}
