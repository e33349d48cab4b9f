//! Keeps a library's saved HNSW index in step with its vectors: the graph is
//! saved under the library's index folder together with the library
//! generation it was built from, so a stale index is never used. Both are
//! replaced atomically (see [`crate::atomic_file`]).

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use crate::atomic_file::{create_dir_all_durably, replace_file};
use crate::index::{measure_recall, HnswIndex, HnswParams, RecallReport};
use crate::store::Library;
use crate::{Error, Result};

const GRAPH_DIR: &str = "hnsw";
const STAMP_FILE: &str = "generation";

/// The folder the saved graph is kept in.
pub fn graph_dir(library: &Library) -> PathBuf {
    library.index_dir().join(GRAPH_DIR)
}

/// The file naming the generation the saved graph was built from.
pub fn stamp_path(library: &Library) -> PathBuf {
    library.index_dir().join(STAMP_FILE)
}

/// The library generation the saved index was built from, if there is one.
pub fn saved_generation(library: &Library) -> Option<u64> {
    fs::read_to_string(stamp_path(library))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether a saved index exists and matches the library's current vectors.
pub fn is_fresh(library: &Library) -> Result<bool> {
    Ok(saved_generation(library) == Some(library.generation()?) && graph_dir(library).is_dir())
}

/// Loads the saved index over the library's current vectors, refusing a
/// missing or stale one.
pub fn load(library: &Library) -> Result<HnswIndex> {
    let view = library.vectors()?;
    if saved_generation(library) != Some(view.generation()) || !graph_dir(library).is_dir() {
        return Err(Error::IndexStale {
            path: graph_dir(library),
        });
    }
    HnswIndex::load(&graph_dir(library), Arc::new(view))
}

/// What building the index did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub papers: usize,
    pub params: HnswParams,
    pub recall: Option<RecallReport>,
}

/// Builds the HNSW index over the library's vectors and saves it. With
/// `check`, compares it with exact search on a sample and reports recall@10.
pub fn build(library: &Library, params: &HnswParams, check: Option<u64>) -> Result<BuildReport> {
    let view = Arc::new(library.vectors()?);
    let index = HnswIndex::build_over(view.clone(), view.dim(), params)?;
    let dir = library.index_dir();
    create_dir_all_durably(&dir)?;
    // Invalidate first: a crash between saving the graph and writing the
    // stamp leaves an index that is not used, never a mismatched one.
    let stamp = stamp_path(library);
    match fs::remove_file(&stamp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", &stamp, e)),
    }
    index.save(&graph_dir(library))?;
    replace_file(&stamp, view.generation().to_string().as_bytes())?;
    let recall = match check {
        Some(seed) => Some(measure_recall(
            &index,
            view.as_slice(),
            view.dim(),
            200.min(view.len()),
            10,
            seed,
        )?),
        None => None,
    };
    Ok(BuildReport {
        papers: view.len(),
        params: index.params(),
        recall,
    })
}
