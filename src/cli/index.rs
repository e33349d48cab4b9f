//! `relate index`: builds (or rebuilds) the library's HNSW index and checks
//! its recall against exact search.

use clap::Args;
use relate::index::{HnswParams, MAX_CONNECTIONS, MAX_EF};
use relate::library_index;
use relate::store::Library;

use super::store_args::{StoreArgs, WaitArgs};
use super::Outcome;

#[derive(Debug, Args)]
#[command(
    after_help = "`similar` and `search` use the index for libraries of 20,000 papers or more \
(below that an exact search over every stored vector is as fast), and `--hnsw` makes them use it \
at any size. It is rebuilt from the stored vectors; an index older than the library is never \
used, so run `relate index` again after ingesting.\n\n\
Exit status: 0 when the index was built, 1 on error, 2 on bad usage."
)]
pub struct IndexArgs {
    /// Links per node (M); 2 to 255
    #[arg(long, default_value_t = HnswParams::default().max_connections as u64,
          value_parser = clap::value_parser!(u64).range(2..=MAX_CONNECTIONS as u64))]
    pub max_connections: u64,

    /// Candidate list size while building; 1 to 10,000
    #[arg(long, default_value_t = HnswParams::default().ef_construction as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_EF as u64))]
    pub ef_construction: u64,

    /// Candidate list size while searching; 1 to 10,000
    #[arg(long, default_value_t = HnswParams::default().ef_search as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_EF as u64))]
    pub ef_search: u64,

    /// Seed of the sample used for the recall self-check
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub wait: WaitArgs,
}

pub fn run(args: IndexArgs) -> anyhow::Result<Outcome> {
    let library = Library::open_for_update(&args.store.dir()?, args.wait.duration())?;
    let params = HnswParams {
        max_connections: args.max_connections as usize,
        ef_construction: args.ef_construction as usize,
        ef_search: args.ef_search as usize,
    };
    params.validate()?;
    let start = std::time::Instant::now();
    let report = library_index::build(&library, &params, Some(args.seed))?;
    eprintln!(
        "relate: HNSW index over {} papers built in {:.1}s (M {}, ef_construction {}, ef_search {})",
        report.papers,
        start.elapsed().as_secs_f64(),
        report.params.max_connections,
        report.params.ef_construction,
        report.params.ef_search
    );
    if let Some(recall) = report.recall {
        eprintln!("relate: self-check against exact search: {recall}");
    }
    Ok(Outcome::Complete)
}
