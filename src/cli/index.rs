//! `relate index`: builds (or rebuilds) the library's HNSW index and checks
//! its recall against exact search.

use clap::Args;
use relate::index::HnswParams;
use relate::library_index;
use relate::store::Library;

use super::store_args::StoreArgs;
use super::Outcome;

#[derive(Debug, Args)]
#[command(
    after_help = "The index is used by `similar` and `search` with --hnsw, and by default \
for libraries above the measured size where it beats exact search. It is rebuilt from the stored \
vectors; an index older than the library is never used."
)]
pub struct IndexArgs {
    /// Links per node (M); 2 to 255
    #[arg(long, default_value_t = HnswParams::default().max_connections)]
    pub max_connections: usize,

    /// Candidate list size while building
    #[arg(long, default_value_t = HnswParams::default().ef_construction)]
    pub ef_construction: usize,

    /// Candidate list size while searching
    #[arg(long, default_value_t = HnswParams::default().ef_search)]
    pub ef_search: usize,

    /// Seed of the sample used for the recall self-check
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: IndexArgs) -> anyhow::Result<Outcome> {
    let library = Library::open(&args.store.dir()?)?;
    let params = HnswParams {
        max_connections: args.max_connections,
        ef_construction: args.ef_construction,
        ef_search: args.ef_search,
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
