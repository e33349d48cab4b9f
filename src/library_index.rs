//! Keeps a library's saved HNSW index in step with its vectors: the graph is
//! saved under the library's index folder together with the library
//! generation it was built from, so a stale index is never used. Both are
//! replaced atomically (see [`crate::atomic_file`]).

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::atomic_file::{create_dir_all_durably, replace_file};
use crate::index::{
    measure_recall, GraphBuilder, HnswIndex, HnswParams, RecallReport, RecallSample,
};
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

/// How to build the index.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    pub params: HnswParams,
    pub builder: GraphBuilder,
    /// When set, `ef_search` is raised from `params.ef_search` (see
    /// [`HnswIndex::tune_ef_search`]) until recall@10 on a sample of the
    /// library reaches this share.
    pub target_recall: Option<f64>,
    /// When set, recall@10 is measured on a sample chosen by this seed (a
    /// different sample from the one `ef_search` was tuned on).
    pub check_seed: Option<u64>,
}

/// Queries in the samples that tune `ef_search` and check recall.
const SAMPLE: usize = 200;

/// Neighbours per query in those samples.
const SAMPLE_K: usize = 10;

/// What building the index did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub papers: usize,
    /// The parameters saved, `ef_search` as tuned.
    pub params: HnswParams,
    /// Time to build the graph, tune it and save it.
    pub build_time: Duration,
    /// Recall@10 on the tuning sample at the `ef_search` chosen.
    pub tuned: Option<RecallReport>,
    pub recall: Option<RecallReport>,
}

/// Builds the HNSW index over the library's vectors and saves it, calling
/// `progress(inserted, total)` while it inserts.
pub fn build(
    library: &Library,
    options: &BuildOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<BuildReport> {
    let start = Instant::now();
    let view = Arc::new(library.vectors()?);
    let mut index = HnswIndex::build_with(
        view.clone(),
        view.dim(),
        &options.params,
        options.builder,
        progress,
    )?;
    let tuned = match options.target_recall {
        Some(target) if !view.is_empty() => {
            // Never the check's sample: a value tuned on the queries it is
            // then judged by would flatter it.
            let seed = options.check_seed.unwrap_or(0).wrapping_add(1);
            let sample = RecallSample::new(view.as_slice(), view.dim(), SAMPLE, SAMPLE_K, seed)?;
            Some(index.tune_ef_search(&sample, target)?)
        }
        _ => None,
    };
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
    let build_time = start.elapsed();
    let recall = match options.check_seed {
        Some(seed) if !view.is_empty() => Some(measure_recall(
            &index,
            view.as_slice(),
            view.dim(),
            SAMPLE,
            SAMPLE_K,
            seed,
        )?),
        _ => None,
    };
    Ok(BuildReport {
        papers: view.len(),
        params: index.params(),
        build_time,
        tuned,
        recall,
    })
}
