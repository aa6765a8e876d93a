//! The `drgan-studio` binary: one subcommand per task (see `cli/`).

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use drgan_studio::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Synth(args)) => drgan_studio::cli::synth::run(&args),
        Some(Command::Train(args)) => drgan_studio::cli::train::run(&args),
        Some(Command::Inspect(args)) => drgan_studio::cli::inspect::run(&args),
        Some(Command::Bench(args)) => drgan_studio::cli::bench::run(&args),
        None => {
            // The studio window will open here; until then, show what the command line does.
            let _ = Cli::command().print_long_help();
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
