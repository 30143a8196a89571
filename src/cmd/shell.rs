//! `dropscope completions` and `dropscope man`: shell completions (`clap_complete`) and man
//! pages (`clap_mangen`) generated from the clap definitions, so they never drift from them.

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use clap::CommandFactory;
use std::io::{self, Write};
use std::process::ExitCode;

/// Prints the completion script of one shell.
pub fn completions(args: CompletionsArgs) -> ExitCode {
    // Generated into memory first: `clap_complete` panics on a failed write (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "dropscope", &mut script);
    print(&script)
}

/// Prints dropscope(1), or writes every command's page into `--dir`.
pub fn man(args: ManArgs) -> ExitCode {
    let cmd = Cli::command();
    if let Some(dir) = &args.dir {
        return match std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir))
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dropscope: writing man pages to {}: {e}", dir.display());
                ExitCode::from(1)
            }
        };
    }
    let mut page = Vec::new();
    match clap_mangen::Man::new(cmd).render(&mut page) {
        Ok(()) => print(&page),
        Err(e) => super::output_failed(&e).unwrap_or(ExitCode::SUCCESS),
    }
}

fn print(bytes: &[u8]) -> ExitCode {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::output_failed(&e).unwrap_or(ExitCode::SUCCESS),
    }
}
