//! `relate info`: what the library holds and how it is searched, and with
//! `--check` whether every file of it is intact.

use clap::Args;
use relate::index::index_worth_using;
use relate::library_check::{check_dir, LibraryCheck};
use relate::library_info::LibraryInfo;
use relate::store::Library;
use relate::wording::count;

use super::store_args::StoreArgs;
use super::Outcome;

#[derive(Debug, Args)]
#[command(
    after_help = "With --json, \"model_fingerprint\" is the short form of the fingerprint \
of the model the library was built with (null in a library from before fingerprints, until \
its next ingest); \"hnsw_index\" and \"topics\" are each \"fresh\", \"stale\" \
(older than the library) or \"none\"; \"default_search\" is what similar and search use \
without --exact or --hnsw: \"hnsw\" when the library has 20,000 papers or more and a fresh \
index whose tuned recall reaches 0.90, else \"exact\"; \"hnsw_recall\" is the recall@10 the \
index's beam was tuned to on a sample of the library (null without an index or tuning); \
\"sources\" lists every file papers were ingested from with how many papers it gave (a paper \
read from two files counts for both; papers stored before sources were recorded count \
nowhere).\n\n\
With --check, every file is read and checked: SQLite's own page check, every paper has its \
vector, every vector is finite and of unit length (norm within 0.001 of 1), the counts agree \
across the database, the vector file and the manifest, the vector file matches the database \
and its checksum, a current HNSW index opens and saved topics parse. Each problem found is \
listed with what to do (often `relate repair`).\n\n\
Exit status: 0 on success (with --check: no problem found), 1 on error or when --check \
found a problem (no library at the folder), 2 on bad usage."
)]
pub struct InfoArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,

    /// Read every file and check the library's integrity; exit status 1 if
    /// anything is wrong
    #[arg(long)]
    pub check: bool,

    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: InfoArgs) -> anyhow::Result<Outcome> {
    let dir = args.store.dir()?;
    if args.check {
        return run_check(&dir, args.json);
    }
    let library = Library::open(&dir)?;
    let info = LibraryInfo::read(&library, dir.display().to_string())?;
    let sources = library.source_counts()?;
    if args.json {
        let mut value = serde_json::to_value(&info)?;
        value["sources"] = sources
            .iter()
            .map(|(source, papers)| serde_json::json!({"source": source, "papers": papers}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("library     {}", info.store);
        println!("papers      {}", info.papers);
        if !sources.is_empty() {
            println!("sources     {}", sources_line(&sources));
        }
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
            "search      {} (HNSW index: {}{}{})",
            info.default_search,
            info.hnsw_index,
            match info.hnsw_recall {
                Some(r) => format!(", tuned to recall@10 {r:.4}"),
                None => String::new(),
            },
            if info.hnsw_index == "stale" {
                ", run `relate index` to rebuild it"
            } else if !index_worth_using(info.hnsw_recall) {
                ", too low to use unless --hnsw asks for it"
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
                "            {} in no topic yet; {added} placed by --update \
                 since the last clustering",
                count(unassigned, "paper")
            );
        }
        println!(
            "size        {:.1} MiB on disk",
            info.bytes_on_disk as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(Outcome::Complete)
}

/// Sources shown on the `sources` line; the rest are counted.
const SOURCES_SHOWN: usize = 4;

/// `3 files: a.jsonl (1,200), refs.bib (40), …`: the files papers came
/// from, those that gave most first.
fn sources_line(sources: &[(String, usize)]) -> String {
    let shown: Vec<String> = sources
        .iter()
        .take(SOURCES_SHOWN)
        .map(|(source, papers)| format!("{source} ({papers})"))
        .collect();
    let more = sources.len().saturating_sub(SOURCES_SHOWN);
    format!(
        "{} file{}: {}{}",
        sources.len(),
        if sources.len() == 1 { "" } else { "s" },
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more (`relate info --json` lists them)")
        } else {
            String::new()
        }
    )
}

/// `relate info --check`: prints what the check found; a problem makes the
/// exit status 1.
fn run_check(dir: &std::path::Path, json: bool) -> anyhow::Result<Outcome> {
    let report: LibraryCheck = check_dir(dir)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("library     {}", report.store);
        if let Some(store) = &report.details {
            println!(
                "papers      {} ({} vectors checked)",
                store.papers, store.vectors_checked
            );
            println!(
                "vectors     file {}{}",
                store.vector_file,
                if store.vector_file_checksum {
                    ", checksum recorded"
                } else {
                    ""
                }
            );
        }
        println!("index       {}", report.hnsw_index);
        println!("topics      {}", report.topics);
        if report.is_sound() {
            println!("no problems found");
        } else {
            println!("{} problem(s) found:", report.problems.len());
            for problem in &report.problems {
                println!("  {}: {}", problem.file, problem.problem);
                println!("    fix: {}", problem.fix);
            }
        }
    }
    Ok(if report.is_sound() {
        Outcome::Complete
    } else {
        Outcome::ProblemsFound
    })
}
