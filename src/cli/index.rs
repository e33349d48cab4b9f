//! `relate index`: builds (or rebuilds) the library's HNSW index and checks
//! its recall against exact search.

use clap::{Args, ValueEnum};
use relate::index::{
    index_worth_using, GraphBuilder, HnswParams, AUTO_MIN_RECALL, EF_SEARCH_LADDER,
    MAX_CONNECTIONS, MAX_EF,
};
use relate::library_index;
use relate::store::Library;
use relate::wording::count;

use super::progress;
use super::store_args::{StoreArgs, WaitArgs};
use super::Outcome;

#[derive(Debug, Args)]
#[command(
    after_help = "`similar` and `search` use the index for libraries of 20,000 papers or more \
(below that an exact search over every stored vector is as fast) when its tuned recall@10 \
reaches 0.90 (vectors with little structure for a graph to follow can fall below it, and an \
exact search is then both right and about as fast), and `--hnsw` makes them use it at any size. \
An index older than the library is never used. `relate ingest` inserts the papers it \
adds or changes into a saved index; `relate index` brings an older index up to date the same way \
(unless more than half the library changed, the links per node or ef_construction differ, or \
--rebuild or --builder hnsw-rs is given, when it builds anew), then tunes ef_search and checks \
recall.\n\n\
Exit status: 0 when the index was built, 1 on error, 2 on bad usage."
)]
pub struct IndexArgs {
    /// Links per node (M); 2 to 255. Without it, 16, or 24 for libraries
    /// of 500,000 papers or more
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..=MAX_CONNECTIONS as u64))]
    pub max_connections: Option<u64>,

    /// Candidate list size while building; 1 to 10,000
    #[arg(long, default_value_t = HnswParams::default().ef_construction as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_EF as u64))]
    pub ef_construction: u64,

    /// Candidate list size while searching; 1 to 10,000. Without it, the
    /// smallest of 40, 60, 80, 100, 150, 200, 300, 400, 600, 800, 1200 and
    /// 1600 that reaches --target-recall on a sample of the library
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_EF as u64))]
    pub ef_search: Option<u64>,

    /// Recall@10 against exact search that the automatic --ef-search aims
    /// for, measured on 200 stored papers; 0.5 to 1
    #[arg(long, default_value_t = 0.97, value_parser = parse_target_recall,
          conflicts_with = "ef_search")]
    pub target_recall: f64,

    /// Code that inserts the vectors: relate's own (faster, better recall),
    /// or hnsw_rs's followed by a repair of the links it drops
    #[arg(long, value_enum, default_value_t = BuilderArg::Native)]
    pub builder: BuilderArg,

    /// Build the graph from scratch, even where the saved one could be
    /// brought up to date by inserting the papers added or changed since
    #[arg(long)]
    pub rebuild: bool,

    /// Seed of the sample used for the recall self-check
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub wait: WaitArgs,
}

fn parse_target_recall(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number; give a share such as 0.97"))?;
    if (0.5..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{value} is outside 0.5 to 1 (0.95 to 0.99 is usual)"
        ))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BuilderArg {
    Native,
    HnswRs,
}

pub fn run(args: IndexArgs) -> anyhow::Result<Outcome> {
    let library = Library::open_for_update(&args.store.dir()?, args.wait.duration())?;
    let params = HnswParams {
        max_connections: args
            .max_connections
            .map_or_else(|| HnswParams::links_for_size(library.len()), |m| m as usize),
        ef_construction: args.ef_construction as usize,
        // Tuning starts from the smallest beam it tries.
        ef_search: args.ef_search.map_or(EF_SEARCH_LADDER[0], |ef| ef as usize),
    };
    params.validate()?;
    let builder = match args.builder {
        BuilderArg::Native => GraphBuilder::Native,
        BuilderArg::HnswRs => GraphBuilder::HnswRs,
    };
    let bar = progress::bar(
        0,
        "{bar:40} {pos}/{len} papers linked  {per_sec}  eta {eta}",
    );
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let options = library_index::BuildOptions {
        params,
        builder,
        target_recall: args.ef_search.is_none().then_some(args.target_recall),
        check_seed: Some(args.seed),
        update: !args.rebuild,
    };
    let report = library_index::build(&library, &options, &progress)?;
    bar.finish_and_clear();
    let how = match report.inserted {
        None => "built".to_string(),
        Some(n) => format!(
            "brought up to date ({} inserted into the saved graph)",
            count(n, "added or changed paper")
        ),
    };
    eprintln!(
        "relate: HNSW index over {} {how} in {:.1}s (M {}, ef_construction {}, ef_search {})",
        count(report.papers, "paper"),
        report.build_time.as_secs_f64(),
        report.params.max_connections,
        report.params.ef_construction,
        report.params.ef_search
    );
    if let Some(tuned) = report.tuned {
        let verdict = if tuned.recall >= args.target_recall {
            "the smallest that reaches"
        } else {
            "the largest tried; it falls short of"
        };
        eprintln!(
            "relate: ef_search {} is {verdict} recall@10 {} on a tuning sample ({:.4})",
            report.params.ef_search, args.target_recall, tuned.recall
        );
        if !index_worth_using(Some(tuned.recall)) {
            eprintln!(
                "relate: below recall@10 {AUTO_MIN_RECALL} the graph misses too many neighbours \
                 (these vectors have little structure for it to follow): similar, search and the \
                 server compare every vector instead; --hnsw makes similar and search use it"
            );
        }
    }
    if let Some(recall) = report.recall {
        eprintln!("relate: self-check against exact search: {recall}");
    }
    Ok(Outcome::Complete)
}
