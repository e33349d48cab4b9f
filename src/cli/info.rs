//! `relate info`: what the library holds and how it is searched.

use clap::Args;
use relate::index::prefer_exact;
use relate::library_index;
use relate::library_topics;
use relate::store::{short_fingerprint, Library};
use serde::Serialize;

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

#[derive(Serialize)]
struct Info {
    store: String,
    papers: usize,
    model: String,
    /// Short form of the model's fingerprint; null for a library of format
    /// version 1 not yet written to since.
    model_fingerprint: Option<String>,
    dimension: usize,
    format_version: u32,
    generation: u64,
    /// Search `similar` and `search` use without `--exact` or `--hnsw`:
    /// `hnsw` or `exact`.
    default_search: &'static str,
    /// `fresh`, `stale` or `none`.
    hnsw_index: &'static str,
    /// Saved topic assignment (`relate topics`): `fresh`, `stale` or `none`.
    topics: &'static str,
    /// Papers stored since the saved topics were last computed or updated,
    /// so in no topic yet (`relate topics --update` places them); null
    /// without saved topics.
    topics_unassigned: Option<usize>,
    /// Papers placed by `relate topics --update` since the last clustering;
    /// null without saved topics.
    topics_added_since_clustering: Option<usize>,
    bytes_on_disk: u64,
}

pub fn run(args: InfoArgs) -> anyhow::Result<Outcome> {
    let dir = args.store.dir()?;
    let library = Library::open(&dir)?;
    let manifest = library.manifest();
    let generation = library.generation()?;
    let hnsw_index = match library_index::saved_generation(&library) {
        None => "none",
        Some(g) if g == generation => "fresh",
        Some(_) => "stale",
    };
    let saved = library_topics::load_any(&library);
    let info = Info {
        store: dir.display().to_string(),
        papers: library.len(),
        model: manifest.model.id.clone(),
        model_fingerprint: manifest
            .model
            .fingerprint
            .as_deref()
            .map(|f| short_fingerprint(f).to_string()),
        dimension: manifest.model.dim,
        format_version: manifest.format_version,
        generation,
        default_search: if hnsw_index == "fresh" && !prefer_exact(library.len()) {
            "hnsw"
        } else {
            "exact"
        },
        hnsw_index,
        topics: library_topics::status(&library)?,
        topics_unassigned: saved.as_ref().map(|s| s.unassigned(library.len())),
        topics_added_since_clustering: saved.as_ref().map(|s| s.added),
        bytes_on_disk: library.size_on_disk()?,
    };
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
