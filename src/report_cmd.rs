//! `dropscope report`: SVG charts and an index.html over one analysis.

use crate::cli::InputArgs;
use clap::Args;
use dropscope::Analysis;
use dropscope::report::svg::{self, Chart};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `dropscope report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// Directory to write the charts and index.html into.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
}

/// Runs `dropscope report`: one analysis with full timelines, rendered as SVG charts and an
/// index.html in the output directory.
pub fn report(args: ReportArgs) -> ExitCode {
    let analysis = match crate::run(&args.input, crate::config(&args.input, true)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if let Err(e) = write_report(&analysis, &args.output) {
        eprintln!(
            "dropscope: writing the report to {}: {e}",
            args.output.display()
        );
        return ExitCode::from(1);
    }
    crate::warn_and_exit(&analysis)
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
