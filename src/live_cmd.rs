//! `dropscope live`: the live driver on an interface.

use clap::Args;
use std::process::ExitCode;

/// `dropscope live`.
#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Interface to capture on.
    #[arg(short = 'i', long = "interface")]
    pub interface: String,
}

/// Runs `dropscope live`.
pub fn live(args: LiveArgs) -> ExitCode {
    let _ = args;
    eprintln!("dropscope live: not available yet");
    ExitCode::from(1)
}
