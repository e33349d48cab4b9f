//! `relate repair`: mends the library's files around its database (and on
//! request keeps each vector once) and reports what it did and what the
//! check after it found.

use clap::Args;
use relate::library_repair::repair;

use super::store_args::{StoreArgs, WaitArgs};
use super::Outcome;

#[derive(Debug, Args)]
#[command(
    after_help = "The database (library.sqlite) is the source of truth. If SQLite finds it \
damaged, nothing is done: restore the library from a backup or ingest the papers again. \
Otherwise repair restores a missing manifest.json from the database, rebuilds vectors.f32 from \
its intact vectors and those the database holds (papers whose vectors only the file held and \
lost are named and marked, so that ingesting their files again embeds them afresh), removes a \
saved HNSW index that is stale or does not open (run `relate index` again) and removes saved \
topics that cannot be read or do not fit the library (run `relate topics` again); stale topics \
are kept for `relate topics --update`. It then runs the check of `relate info --check` and \
lists what is still wrong.\n\n\
Exit status: 0 when the library is sound afterwards, 1 on error (no library, a damaged \
database, another writer still busy after --wait) or when a problem remains, 2 on bad usage."
)]
pub struct RepairArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,

    /// Also keep each vector once: a library made before format version 3
    /// holds every vector in the database as well as in vectors.f32; those
    /// copies are reduced to checksums and the database is rewritten
    /// smaller (needs free space about the database's size while it runs)
    #[arg(long)]
    pub compact: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub wait: WaitArgs,
}

pub fn run(args: RepairArgs) -> anyhow::Result<Outcome> {
    let dir = args.store.dir()?;
    let report = repair(&dir, args.wait.duration(), args.compact)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for action in &report.actions {
            println!("{action}");
        }
        if report.check.is_sound() {
            println!("the library passes the integrity check");
        } else {
            println!("{} problem(s) remain:", report.check.problems.len());
            for problem in &report.check.problems {
                println!("  {}: {}", problem.file, problem.problem);
                println!("    fix: {}", problem.fix);
            }
        }
    }
    Ok(if report.check.is_sound() {
        Outcome::Complete
    } else {
        Outcome::ProblemsFound
    })
}
