//! `dropscope report`: SVG charts and an index.html over one analysis.

use crate::cli::InputArgs;
use clap::Args;
use std::path::PathBuf;
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

/// Runs `dropscope report`.
pub fn report(args: ReportArgs) -> ExitCode {
    let _ = args;
    eprintln!("dropscope report: not available yet");
    ExitCode::from(1)
}
