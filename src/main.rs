//! The `drgan-studio` binary: the studio window without arguments, otherwise one subcommand
//! per task (see `cli/`).

use std::process::ExitCode;

use clap::Parser;
use drgan_studio::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Synth(args)) => drgan_studio::cli::synth::run(&args),
        Some(Command::Train(args)) => drgan_studio::cli::train::run(&args),
        Some(Command::Inspect(args)) => drgan_studio::cli::inspect::run(&args),
        Some(Command::Bench(args)) => drgan_studio::cli::bench::run(&args),
        Some(Command::Eval(args)) => drgan_studio::cli::eval::run(&args),
        Some(Command::Rotate(args)) => drgan_studio::cli::rotate::run(&args),
        Some(Command::Window(args)) => drgan_studio::cli::window::run(args),
        None => drgan_studio::cli::window::run(Default::default()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
