//! Command-line interface: the clap definitions of `relate` and its
//! subcommands, each subcommand in its own file.

mod embed;
mod export;
mod filter_args;
mod index;
mod info;
mod ingest;
mod model_args;
mod progress;
mod query;
mod recommend;
mod repair;
mod serve;
mod store_args;
mod table;
mod topics;

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
    /// Add papers from files (digest page, JSONL, CSV, arXiv metadata, BibTeX, RIS, RSS) to the library
    Ingest(ingest::IngestArgs),
    /// Papers related to a paper of the library (by id or title)
    Similar(query::SimilarArgs),
    /// Papers about a free text
    Search(query::SearchArgs),
    /// Rank the library, or new papers, for papers you like (and unlike), with reasons
    Recommend(Box<recommend::RecommendArgs>),
    /// What the library holds: papers, model, index, size
    Info(info::InfoArgs),
    /// Build the HNSW index of the library and check its recall
    Index(index::IndexArgs),
    /// Group the library's papers into labelled topics, optionally drawing a map
    Topics(topics::TopicsArgs),
    /// Embed texts from JSONL: adds an "embedding" field to each object
    Embed(embed::EmbedArgs),
    /// Serve the library over HTTP: a JSON API and a page for the browser
    Serve(serve::ServeArgs),
    /// Rebuild what is derived from the library's database (vector file, manifest), dropping a damaged index or topics
    Repair(repair::RepairArgs),
    /// Write the papers with their vectors (and topics) as JSON Lines or Parquet, for another library or a data tool
    Export(export::ExportArgs),
}

/// How a successful run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was processed.
    Complete,
    /// The run finished, but some input records were reported and skipped.
    SomeSkipped,
    /// A check ran to the end and found problems (it listed them).
    ProblemsFound,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Complete => ExitCode::SUCCESS,
            Outcome::SomeSkipped => ExitCode::from(3),
            Outcome::ProblemsFound => ExitCode::from(1),
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Ingest(args) => ingest::run(args),
        Command::Similar(args) => query::run_similar(args),
        Command::Search(args) => query::run_search(args),
        Command::Recommend(args) => recommend::run(*args),
        Command::Info(args) => info::run(args),
        Command::Index(args) => index::run(args),
        Command::Topics(args) => topics::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Repair(args) => repair::run(args),
        Command::Export(args) => export::run(args),
    }
}
