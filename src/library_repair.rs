//! `relate repair`: mends everything in a library folder that is derived
//! from its database, as the one writer. The database is the source of
//! truth: if SQLite finds it damaged, repair stops and says to restore a
//! backup or ingest again. Otherwise it restores a missing manifest from
//! the database, rebuilds the vector file (from the database and the intact
//! rows of the old file; papers whose vectors only the file held and lost
//! are marked in the database for embedding again, and named), removes a
//! saved index that is stale or does not open, and removes saved topics
//! that cannot be read or do not fit the library.
//! Stale topics are kept: `relate topics --update` builds on them. On
//! request it also keeps each vector once, in a library made before format
//! version 3 that held every vector in the database as well.

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::library_check::{check_dir, LibraryCheck};
use crate::library_index;
use crate::library_topics;
use crate::store::{Library, DATABASE_FIX};
use crate::{Error, Result};

/// How many papers with lost vectors a repair names.
const LOST_NAMED: usize = 20;
/// Bytes in a mebibyte, for sizes in messages.
const MIB: f64 = 1024.0 * 1024.0;

/// What a repair did, and what the check after it found.
#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    /// One line per action taken.
    pub actions: Vec<String>,
    /// Ids of the papers whose vectors were lost and that wait to be
    /// ingested again, all of them.
    pub lost_papers: Vec<String>,
    /// The input files those papers came from, with how many each gave,
    /// for the papers that came from one file only.
    pub lost_papers_sources: Vec<LostSource>,
    /// How many of those papers came from several files (which one holds
    /// the current version is not recorded).
    pub lost_papers_from_several_files: usize,
    /// The integrity check run after the repair.
    pub check: LibraryCheck,
}

/// An input file that papers with lost vectors came from.
#[derive(Debug, Clone, Serialize)]
pub struct LostSource {
    pub file: String,
    pub papers: usize,
}

/// Repairs the library in `dir`, waiting up to `wait` for another writer.
/// With `compact`, vectors the database holds whole beside the vector file
/// are then reduced to their checksums (see
/// [`Library::keep_each_vector_once`]).
pub fn repair(dir: &Path, wait: Duration, compact: bool) -> Result<RepairReport> {
    let manifest_missing = !dir.join("manifest.json").exists();
    let mut library = Library::open_for_update(dir, wait)?;
    let mut actions = Vec::new();
    if manifest_missing {
        // Opening for writing restored it from the database's record.
        actions.push("restored manifest.json from the database".to_string());
    }
    let damage = library.database_damage()?;
    if !damage.is_empty() {
        return Err(Error::StoreCorrupt {
            path: dir.join("library.sqlite"),
            problem: format!("SQLite's check found damage: {}", damage.join("; ")),
            fix: DATABASE_FIX.into(),
        });
    }
    let (vectors, lost) = library.rebuild_vectors_from_database()?;
    actions.push(format!("rebuilt vectors.f32 ({vectors} vectors)"));
    if !lost.ids.is_empty() {
        let named = lost.ids.len().min(LOST_NAMED);
        let more = if lost.ids.len() > named {
            format!(
                " and {} more (`--json` lists them all)",
                lost.ids.len() - named
            )
        } else {
            String::new()
        };
        let mut from = String::new();
        if !lost.sources.is_empty() {
            let files: Vec<String> = lost
                .sources
                .iter()
                .map(|(file, n)| format!("{file} ({n})"))
                .collect();
            from.push_str(&format!(" Came from one file each: {}.", files.join(", ")));
        }
        if lost.from_several_files > 0 {
            from.push_str(&format!(
                " {} came from several files; ingesting an older one would bring back older \
                 versions of its papers.",
                lost.from_several_files
            ));
        }
        actions.push(format!(
            "{} papers had lost their vectors (only vectors.f32 held them): {}{more}.{from} \
             They match nothing now; ingest again the files that hold their current versions \
             to embed them afresh",
            lost.ids.len(),
            lost.ids[..named].join(", ")
        ));
    }
    if compact {
        let before = library.size_on_disk()?;
        let reduced = library.keep_each_vector_once()?;
        let after = library.size_on_disk()?;
        actions.push(format!(
            "kept {reduced} vectors once that the database also held whole; the library takes \
             {:.1} MiB on disk, {:.1} MiB before",
            after as f64 / MIB,
            before as f64 / MIB
        ));
    }
    let generation = library.generation()?;
    if let Some(saved) = library_index::saved_generation(&library) {
        let why = if saved != generation {
            Some("stale".to_string())
        } else {
            library_index::load(&library)
                .err()
                .map(|e| format!("damaged: {e}"))
        };
        if let Some(why) = why {
            remove(&library_index::stamp_path(&library))?;
            remove(&library_index::graph_dir(&library))?;
            actions.push(format!(
                "removed the saved HNSW index ({why}); run `relate index` to build it again"
            ));
        }
    }
    let topics = library_topics::topics_path(&library);
    if topics.exists() {
        match library_topics::load_any(&library) {
            None => {
                remove(&topics)?;
                actions.push(
                    "removed the saved topics (unreadable); run `relate topics` to compute them \
                     again"
                        .to_string(),
                );
            }
            Some(saved)
                if saved.generation == generation && saved.topics.len() != library.len() =>
            {
                remove(&topics)?;
                actions.push(
                    "removed the saved topics (they do not fit the library); run `relate topics` \
                     to compute them again"
                        .to_string(),
                );
            }
            Some(_) => {}
        }
    }
    drop(library);
    let check = check_dir(dir)?;
    Ok(RepairReport {
        actions,
        lost_papers: lost.ids,
        lost_papers_from_several_files: lost.from_several_files,
        lost_papers_sources: lost
            .sources
            .into_iter()
            .map(|(file, papers)| LostSource { file, papers })
            .collect(),
        check,
    })
}

/// Removes a file or a folder, if it is there.
fn remove(path: &Path) -> Result<()> {
    let result = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}
