//! Command-line interface: the clap definitions of `relate` and its
//! subcommands, each subcommand in its own file.

mod embed;
mod model_args;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Recommend research papers by meaning, on your own machine.
#[derive(Debug, Parser)]
#[command(name = "relate", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Embed texts from JSONL: adds an "embedding" field to each object.
    Embed(embed::EmbedArgs),
}

/// How a successful run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was processed.
    Complete,
    /// The run finished, but some input records were reported and skipped.
    SomeSkipped,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Complete => ExitCode::SUCCESS,
            Outcome::SomeSkipped => ExitCode::from(3),
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Embed(args) => embed::run(args),
    }
}
