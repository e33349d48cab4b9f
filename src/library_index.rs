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

/// Recall@10 the saved index's `ef_search` was tuned to (see
/// [`HnswIndex::tuned_recall`]); `None` when there is no readable index or
/// it was never tuned.
pub fn saved_tuned_recall(library: &Library) -> Option<f64> {
    HnswIndex::saved_tuned_recall(&graph_dir(library))
        .ok()
        .flatten()
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
    /// Whether a saved index over an earlier state of the library may be
    /// brought up to date (see [`update`]) instead of built again, when it
    /// has the same `max_connections` and `ef_construction` and `builder`
    /// is relate's own (which does the inserting).
    pub update: bool,
}

/// Queries in the samples that tune `ef_search` and check recall.
const SAMPLE: usize = 200;

/// Neighbours per query in those samples.
const SAMPLE_K: usize = 10;

/// What building the index did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub papers: usize,
    /// `None` when the graph was built from scratch; when a saved graph was
    /// brought up to date instead, the papers inserted into it (added or
    /// changed since it was built).
    pub inserted: Option<usize>,
    /// The parameters saved, `ef_search` as tuned.
    pub params: HnswParams,
    /// Time to build the graph, tune it and save it.
    pub build_time: Duration,
    /// Recall@10 on the tuning sample at the `ef_search` chosen.
    pub tuned: Option<RecallReport>,
    pub recall: Option<RecallReport>,
}

/// Builds the HNSW index over the library's vectors and saves it, calling
/// `progress(inserted, total)` while it inserts. With `options.update`, a
/// saved index over an earlier state of the library is brought up to date
/// instead when it can be (see [`update`]).
pub fn build(
    library: &Library,
    options: &BuildOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<BuildReport> {
    let start = Instant::now();
    let view = Arc::new(library.vectors()?);
    let same_graph = |saved: &HnswParams| {
        saved.max_connections == options.params.max_connections
            && saved.ef_construction == options.params.ef_construction
            && options.builder == GraphBuilder::Native
    };
    let updated = match options.update {
        true => updated_index(library, &view, &same_graph, progress)?,
        false => None,
    };
    let (mut index, inserted) = match updated {
        Some((mut index, inserted)) => {
            index.set_ef_search(options.params.ef_search)?;
            (index, Some(inserted))
        }
        None => {
            let index = HnswIndex::build_with(
                view.clone(),
                view.dim(),
                &options.params,
                options.builder,
                progress,
            )?;
            (index, None)
        }
    };
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
    save(library, &index, view.generation())?;
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
        inserted,
        params: index.params(),
        build_time,
        tuned,
        recall,
    })
}

/// Saves `index` as the library's index for vectors of `generation`.
fn save(library: &Library, index: &HnswIndex, generation: u64) -> Result<()> {
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
    replace_file(&stamp, generation.to_string().as_bytes())
}

/// Share of the library above which inserting what changed costs about as
/// much as building again, and a new build is made instead.
const UPDATE_AT_MOST: f64 = 0.5;

/// The saved index brought up to date with `view` (the library's current
/// vectors), and how many papers were inserted into it; `None` when there
/// is no saved index to start from, it is damaged or of another version,
/// `same_graph` rejects its parameters, or more than half the library
/// changed since it was built.
fn updated_index(
    library: &Library,
    view: &Arc<crate::store::VectorView>,
    same_graph: &dyn Fn(&HnswParams) -> bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Option<(HnswIndex, usize)>> {
    let Some(saved) = saved_generation(library).filter(|&g| g <= view.generation()) else {
        return Ok(None);
    };
    let dir = graph_dir(library);
    match HnswIndex::saved_params(&dir) {
        Ok(params) if same_graph(&params) => {}
        Ok(_) | Err(Error::IndexFile { .. }) => return Ok(None),
        Err(e) => return Err(e),
    }
    let changed = library.slots_stored_after(saved)?;
    if changed.len() as f64 > UPDATE_AT_MOST * view.len() as f64 {
        return Ok(None);
    }
    let vectors: Arc<dyn crate::index::VectorSlice> = view.clone();
    match HnswIndex::update(&dir, vectors, &changed, progress) {
        Ok(index) => Ok(Some((index, changed.len()))),
        Err(Error::IndexFile { .. } | Error::IndexStale { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What [`update`] did.
#[derive(Debug, Clone)]
pub struct UpdateReport {
    pub papers: usize,
    /// Papers inserted into the graph (added or changed since it was saved).
    pub inserted: usize,
    pub time: Duration,
}

/// Brings the library's saved index up to date after papers were added or
/// changed, by inserting them into the graph rather than building it again,
/// and saves it with the parameters it had (`ef_search` included). Returns
/// `None`, leaving the index as it was, when there is none to update: never
/// built, damaged, or more than half the library changed since (then a
/// query searches exactly until `relate index` is run). An index already up
/// to date is left alone.
pub fn update(
    library: &Library,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Option<UpdateReport>> {
    let start = Instant::now();
    let view = Arc::new(library.vectors()?);
    if saved_generation(library) == Some(view.generation()) {
        return Ok(None);
    }
    let Some((index, inserted)) = updated_index(library, &view, &|_| true, progress)? else {
        return Ok(None);
    };
    save(library, &index, view.generation())?;
    Ok(Some(UpdateReport {
        papers: view.len(),
        inserted,
        time: start.elapsed(),
    }))
}
