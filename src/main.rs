//! The `dropscope` command: parse arguments, run the library, map errors to exit codes.

mod cli;
mod cmd;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Analyze(args) => cmd::analyze::analyze(args),
        Command::Trace(args) => cmd::trace::trace(args),
        Command::Report(args) => cmd::report::report(args),
        Command::Live(args) => cmd::live::live(args),
        Command::Fleet(args) => cmd::fleet::fleet(args),
        Command::Completions(args) => cmd::shell::completions(args),
        Command::Man(args) => cmd::shell::man(args),
    }
}
