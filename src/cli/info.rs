//! `relate info`: what the library holds and how it is searched.

use clap::Args;
use relate::library_info::LibraryInfo;
use relate::store::Library;

use super::store_args::StoreArgs;
use super::Outcome;

#[derive(Debug, Args)]
#[command(
    after_help = "With --json, \"model_fingerprint\" is the short form of the fingerprint \
of the model the library was built with (null in a library from before fingerprints, until \
its next ingest); \"hnsw_index\" and \"topics\" are each \"fresh\", \"stale\" \
(older than the library) or \"none\"; \"default_search\" is what similar and search use \
without --exact or --hnsw: \"hnsw\" when the library has 20,000 papers or more and a fresh \
index, else \"exact\".\n\n\
Exit status: 0 on success, 1 on error (no library at the folder), 2 on bad usage."
)]
pub struct InfoArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: InfoArgs) -> anyhow::Result<Outcome> {
    let dir = args.store.dir()?;
    let library = Library::open(&dir)?;
    let info = LibraryInfo::read(&library, dir.display().to_string())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        println!("library     {}", info.store);
        println!("papers      {}", info.papers);
        println!(
            "model       {} ({} dimensions, fingerprint {})",
            info.model,
            info.dimension,
            info.model_fingerprint
                .as_deref()
                .unwrap_or("not recorded yet: the next ingest records it")
        );
        println!(
            "format      version {}, generation {}",
            info.format_version, info.generation
        );
        println!(
            "search      {} (HNSW index: {}{})",
            info.default_search,
            info.hnsw_index,
            if info.hnsw_index == "stale" {
                ", run `relate index` to rebuild it"
            } else {
                ""
            }
        );
        println!(
            "topics      {}",
            match info.topics {
                "fresh" => "saved, up to date",
                "stale" =>
                    "saved, older than the library (run `relate topics --update` to \
                            place new papers, or `relate topics` again)",
                _ => "none (run `relate topics`)",
            }
        );
        if let (Some(unassigned), Some(added)) =
            (info.topics_unassigned, info.topics_added_since_clustering)
        {
            println!(
                "            {unassigned} papers in no topic yet; {added} placed by --update \
                 since the last clustering"
            );
        }
        println!(
            "size        {:.1} MiB on disk",
            info.bytes_on_disk as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(Outcome::Complete)
}
