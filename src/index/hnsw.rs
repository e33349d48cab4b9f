//! The approximate index: relate's own parallel insertion builds the graph
//! ([`super::build`]; hnsw_rs's, followed by [`super::repair`] of the links
//! it drops, on request), its search-time beam can be tuned to a recall
//! measured on a sample, and the result is kept, saved and memory-mapped in
//! relate's own compact form ([`super::graph`]). Building never panics or
//! exits on bad input, and saving is atomic (the graph file flushed to
//! disk, then the manifest naming it replaced through
//! [`crate::atomic_file`]).
//!
//! There is no delete: when papers are removed, callers keep them out of
//! results with the `skip` filter (tombstones) and rebuild the index.

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hnsw_rs::prelude::{Distance, Hnsw};
use serde::{Deserialize, Serialize};

use crate::atomic_file::{create_dir_all_durably, remove_stale_temps, replace_file};

use super::build;
use super::graph::{LayerLists, LayeredGraph};
use super::quantized::QuantizedVectors;
use super::recall::{RecallReport, RecallSample};
use super::{
    cosine_score, dot, index_worth_using, normalised_query, repair, sort_hits, validate_slots,
    validate_unit_vectors, vector_count, Hit, NeighbourSearch,
};
use crate::{Error, Result};

/// Number of layers hnsw_rs allocates; its dump format requires exactly this.
const MAX_LAYERS: usize = 16;

/// Most links a node keeps after repair, per unit of M: on layer 0 and on
/// the upper layers. hnsw_rs keeps 2M and M; with reverse links added,
/// 3M and 2M measured recall@10 0.967 against 0.951 at ef 100 on 100,000
/// clustered vectors (`examples/synthetic_library`, 100 clusters), for a
/// graph file of about 100 bytes per vector.
const BOTTOM_LINKS_PER_M: usize = 3;
const UPPER_LINKS_PER_M: usize = 2;

/// The `ef_search` values [`HnswIndex::tune_ef_search`] tries, in order.
/// Above 1,600 a query on a million vectors takes tens of milliseconds,
/// the time an exact scan on a few cores takes.
pub const EF_SEARCH_LADDER: [usize; 12] =
    [40, 60, 80, 100, 150, 200, 300, 400, 600, 800, 1200, 1600];

/// Name of the manifest that makes a saved index visible.
const MANIFEST: &str = "index.json";

/// Format tag and version written into the manifest.
const FORMAT: &str = "relate-hnsw";
/// Version 1 saved hnsw_rs's own dump (graph and a copy of the vectors);
/// version 2 saves relate's compact graph file.
const FORMAT_VERSION: u32 = 2;

/// Graph files are named `<prefix>-<unique><suffix>`.
const GRAPH_PREFIX: &str = "graph";
const GRAPH_SUFFIX: &str = ".links";

/// Largest `max_connections` (M): hnsw_rs ends the process above 256, and
/// its file format stores the value in one byte.
pub const MAX_CONNECTIONS: usize = 255;

/// Largest `ef_construction` and `ef_search`: each sizes a candidate list
/// allocated per insertion or query, so a huge value exhausts memory, and
/// far below this recall no longer improves.
pub const MAX_EF: usize = 10_000;

/// Which code inserts the vectors into the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GraphBuilder {
    /// relate's own parallel insertion (`super::build`).
    #[default]
    Native,
    /// hnsw_rs's parallel insertion, followed by relate's repair of the
    /// links it drops (`super::repair`).
    HnswRs,
}

/// Construction and search settings of an [`HnswIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Links kept per node on the upper layers (twice as many on the bottom
    /// layer); hnsw_rs calls it `max_nb_connection`, the paper `M`. 2..=255.
    pub max_connections: usize,
    /// Candidate list size while inserting; larger builds slower and better.
    pub ef_construction: usize,
    /// Candidate list size while searching (raised to `k` when smaller);
    /// larger searches slower and finds more true neighbours.
    pub ef_search: usize,
}

impl Default for HnswParams {
    /// M 16, ef_construction 100, ef_search 100. With relate's builder on
    /// 100,000 clustered 384-d vectors (`examples/synthetic_library`, 100
    /// clusters; 200 queries): recall@10 0.9945 in about 20 s on 2 cores,
    /// as hnswlib with the same settings; `relate index` then tunes
    /// ef_search to the recall asked for (see [`HnswIndex::tune_ef_search`]).
    fn default() -> Self {
        HnswParams {
            max_connections: 16,
            ef_construction: 100,
            ef_search: 100,
        }
    }
}

/// Library size from which [`HnswParams::links_for_size`] gives more
/// links per node.
pub const MANY_LINKS_FROM: usize = 500_000;

impl HnswParams {
    /// Links per node (M) for a graph over `len` vectors: 16, or 24 from
    /// [`MANY_LINKS_FROM`] vectors. Measured on 1,000,000 clustered vectors
    /// (`examples/synthetic_library`, 100 clusters, AMD EPYC, 2 cores): M 16
    /// needed ef_search 1600 for recall@10 0.968, and a one-shot `relate
    /// similar` took 0.13–0.17 s; M 24 reached 0.974 at ef_search 400, and
    /// took 0.09–0.13 s, for a build of the same length (578 s against
    /// 600 s, the latter before the huge-page copy). At 100,000, M 16
    /// reaches 0.98 at ef_search 60.
    pub fn links_for_size(len: usize) -> usize {
        if len >= MANY_LINKS_FROM {
            24
        } else {
            HnswParams::default().max_connections
        }
    }

    /// Rejects settings hnsw_rs cannot work with: `max_connections` outside
    /// 2..=[`MAX_CONNECTIONS`] (hnsw_rs ends the process above 256, and its
    /// file format stores the value in one byte, so 255 is the largest that
    /// survives a save), and `ef_construction` or `ef_search` outside
    /// 1..=[`MAX_EF`]. A saved index with such settings is refused on load.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, problem: String| {
            Err(Error::InvalidArgument {
                name: name.into(),
                problem,
            })
        };
        if !(2..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return bad(
                "max_connections",
                format!(
                    "{} is out of range; use 2 to 255 (16 to 48 suits sentence embeddings)",
                    self.max_connections
                ),
            );
        }
        if !(1..=MAX_EF).contains(&self.ef_construction) {
            return bad(
                "ef_construction",
                format!(
                    "{} is out of range; use 1 to {MAX_EF} (100 to 400 is usual)",
                    self.ef_construction
                ),
            );
        }
        if !(1..=MAX_EF).contains(&self.ef_search) {
            return bad(
                "ef_search",
                format!(
                    "{} is out of range; use 1 to {MAX_EF} (50 to 200 is usual)",
                    self.ef_search
                ),
            );
        }
        Ok(())
    }
}

/// Distance `1 - dot` for unit vectors, clamped to `[0, 2]`.
///
/// hnsw_rs asserts that distances are not negative; its own `DistDot`
/// returns `1 - dot` unclamped and panics (asserts) when rounding makes a
/// vector's dot with itself exceed 1. Clamping keeps self-matches at 0.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct UnitDot;

impl Distance<f32> for UnitDot {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        let d = 1.0 - dot(va, vb);
        // Inputs are checked to be finite, so a NaN cannot occur; should one
        // ever do, map it to 0 rather than let hnsw_rs panic on it.
        if d.is_nan() {
            0.0
        } else {
            d.clamp(0.0, 2.0)
        }
    }
}

/// A source of the `n * dim` floats an index searches: an owned vector, or
/// the library's memory-mapped vector file.
pub trait VectorSlice: Send + Sync {
    /// Slot `i` is `as_slice()[i * dim..(i + 1) * dim]`.
    fn as_slice(&self) -> &[f32];

    /// Copies slot `slot`'s vector into `out` with a positional read of the
    /// file behind the slice, or `None` when there is no file (the
    /// default). A search that scores a few thousand scattered vectors
    /// once, in a process that then exits, is faster this way: each page
    /// fault on a cold mapping also maps the pages around it, and the
    /// process pays again to unmap them all (at 1,000,000 vectors, 8,300
    /// faults mapped 520 MB for one query).
    fn read_slot(&self, _slot: u32, _out: &mut [f32]) -> Option<Result<()>> {
        None
    }
}

impl VectorSlice for Vec<f32> {
    fn as_slice(&self) -> &[f32] {
        self
    }
}

/// An HNSW graph over a fixed set of unit vectors, built by
/// `super::build` (or by hnsw_rs and then repaired), kept in relate's own compact form
/// (`LayeredGraph`), saved as one file beside a manifest, and memory-mapped
/// on load, so opening a saved index costs a header check rather than a
/// rebuild. The vectors are not part of the index: it searches the ones it
/// was given (at load, the library's vector file).
///
/// There is no delete: filter removed slots with `skip` and rebuild when
/// the library changes.
pub struct HnswIndex {
    graph: LayeredGraph,
    vectors: Arc<dyn VectorSlice>,
    /// Int8 copies of the vectors to walk the graph with, when asked for
    /// ([`HnswIndex::quantize_traversal`]).
    traversal: Option<QuantizedVectors>,
    /// Whether the unquantised search reads vectors from their file one by
    /// one ([`VectorSlice::read_slot`]) rather than through the mapping.
    reads_slots: bool,
    len: usize,
    dim: usize,
    params: HnswParams,
    /// Recall@10 measured when `ef_search` was last tuned
    /// ([`HnswIndex::tune_ef_search`]); `None` when it never was.
    tuned_recall: Option<f64>,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("len", &self.len)
            .field("dim", &self.dim)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl HnswIndex {
    /// Builds a graph over a copy of `vectors` (slot `i` at
    /// `vectors[i * dim..]`), inserting in parallel on all cores.
    ///
    /// Fails when the parameters are out of range, the slice is not a whole
    /// number of vectors, or a vector is non-finite or not of length 1 (the
    /// error names the slot).
    pub fn build(vectors: &[f32], dim: usize, params: &HnswParams) -> Result<Self> {
        HnswIndex::build_over(Arc::new(vectors.to_vec()), dim, params)
    }

    /// Builds a graph over `vectors` without copying them (see
    /// [`HnswIndex::build`]).
    pub fn build_over(
        vectors: Arc<dyn VectorSlice>,
        dim: usize,
        params: &HnswParams,
    ) -> Result<Self> {
        HnswIndex::build_with(vectors, dim, params, GraphBuilder::default(), &|_, _| {})
    }

    /// Builds a graph over `vectors` with the chosen builder, calling
    /// `progress(inserted, total)` now and then (see [`HnswIndex::build`]).
    pub fn build_with(
        vectors: Arc<dyn VectorSlice>,
        dim: usize,
        params: &HnswParams,
        builder: GraphBuilder,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Self> {
        params.validate()?;
        let slice = vectors.as_slice();
        let len = vector_count(slice, dim)?;
        validate_unit_vectors(slice, dim)?;
        let mut layers = Vec::new();
        let mut entry = 0;
        if len > 0 {
            (layers, entry) = match builder {
                GraphBuilder::Native => build::build_layers(
                    slice,
                    dim,
                    params.max_connections,
                    params.ef_construction,
                    progress,
                ),
                GraphBuilder::HnswRs => hnsw_rs_layers(slice, dim, params),
            };
        }
        HnswIndex::from_layers(vectors, dim, *params, layers, entry)
    }

    /// The index over `vectors` with these layers (none when there are no
    /// vectors), once the nodes no list reaches are bridged: parallel
    /// insertion can leave a node that no list points to (its links to
    /// others all pruned later), and bridging them costs one pass over the
    /// links when there are none.
    fn from_layers(
        vectors: Arc<dyn VectorSlice>,
        dim: usize,
        params: HnswParams,
        mut layers: Vec<LayerLists>,
        entry: u32,
    ) -> Result<Self> {
        let slice = vectors.as_slice();
        let len = vector_count(slice, dim)?;
        if let Some(bottom) = layers.first_mut() {
            repair::connect_unreachable(bottom, slice, dim, entry, params.ef_construction);
        }
        let graph = LayeredGraph::from_lists(len, dim, entry, &layers)?;
        Ok(HnswIndex {
            reads_slots: reads_slots(vectors.as_ref(), len, dim),
            graph,
            vectors,
            traversal: None,
            len,
            dim,
            params,
            tuned_recall: None,
        })
    }

    /// Walks the graph with int8 copies of the vectors from now on and
    /// scores only the candidates it keeps in f32: searches read a quarter
    /// of the bytes (about 1.3 times the queries per second of a server on
    /// 100,000 papers), for a quarter more memory and one pass over the
    /// vectors now. The scores returned stay exact; the hits can differ
    /// from the f32 walk's only where two candidates score within the int8
    /// error (about 0.005) of the beam's edge. Worth it in a long-running
    /// process, not for one query.
    pub fn quantize_traversal(&mut self) {
        if self.traversal.is_none() {
            self.traversal = Some(QuantizedVectors::new(self.vectors.as_slice(), self.dim));
        }
    }

    /// The parameters the index was built (or last tuned) with.
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Changes the search-time candidate list size (`ef_search`); the graph
    /// itself is unchanged.
    pub fn set_ef_search(&mut self, ef_search: usize) -> Result<()> {
        let params = HnswParams {
            ef_search,
            ..self.params
        };
        params.validate()?;
        self.params = params;
        Ok(())
    }

    /// Sets `ef_search` to the smallest of [`EF_SEARCH_LADDER`] (from the
    /// current value up) whose recall on `sample` reaches `target`, or to
    /// the largest when none does, and returns the recall at the value
    /// chosen. The graph is unchanged; a saved index keeps the value.
    ///
    /// The recall a graph reaches at a given `ef_search` depends on the
    /// data: on 100,000 clustered vectors 100 gives 0.99, on 1,000,000
    /// vectors of the same spread 0.81. Choosing it from a measurement
    /// keeps queries as fast as the data allows at the recall asked for.
    pub fn tune_ef_search(&mut self, sample: &RecallSample, target: f64) -> Result<RecallReport> {
        let vectors = self.vectors.clone();
        let start = self.params.ef_search;
        let mut report = sample.measure(self, vectors.as_slice())?;
        for &ef in EF_SEARCH_LADDER.iter().filter(|&&ef| ef > start) {
            if report.recall >= target {
                break;
            }
            self.set_ef_search(ef)?;
            report = sample.measure(self, vectors.as_slice())?;
        }
        self.tuned_recall = Some(report.recall);
        Ok(report)
    }

    /// Recall@10 on the sample `ef_search` was last tuned on (kept when the
    /// index is saved, and by [`HnswIndex::update`], whose insertions it
    /// does not measure); `None` when it was never tuned.
    pub fn tuned_recall(&self) -> Option<f64> {
        self.tuned_recall
    }

    /// Whether searches that may choose between this index and comparing
    /// every vector should use it (see [`index_worth_using`]).
    pub fn worth_using(&self) -> bool {
        index_worth_using(self.tuned_recall)
    }

    /// Saves the index into directory `dir` (created if missing).
    ///
    /// The graph file gets a fresh name and is flushed to disk before the
    /// manifest `index.json` naming it is atomically replaced, so a crash at
    /// any moment leaves either the previous index or the new one, never a
    /// mixture. Files of earlier saves are removed afterwards.
    pub fn save(&self, dir: &Path) -> Result<()> {
        create_dir_all_durably(dir)?;
        let file = format!("{}{GRAPH_SUFFIX}", unique_basename());
        let path = dir.join(&file);
        self.graph.save(&path)?;
        let bytes = fs::metadata(&path)
            .map_err(|e| Error::io("read", &path, e))?
            .len();
        let manifest = Manifest {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            distance: "cosine (1 - dot of unit vectors)".into(),
            len: self.len,
            dim: self.dim,
            params: self.params,
            tuned_recall: self.tuned_recall,
            graph: GraphFile { file, bytes },
        };
        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| index_error(dir, format!("encoding the manifest failed: {e}")))?;
        replace_file(&dir.join(MANIFEST), &text)?;
        remove_stale_files(dir, &manifest.graph.file);
        Ok(())
    }

    /// Opens an index saved by [`HnswIndex::save`] in directory `dir`, to
    /// search `vectors` (the vectors it was built over: their number and
    /// dimension are checked against the manifest). The graph file is
    /// memory-mapped; its links are checked as searches read them.
    pub fn load(dir: &Path, vectors: Arc<dyn VectorSlice>) -> Result<Self> {
        let (manifest, graph) = open_saved(dir)?;
        let stored = vectors.as_slice().len();
        if stored != manifest.len * manifest.dim {
            return Err(Error::IndexStale {
                path: dir.to_path_buf(),
            });
        }
        Ok(HnswIndex {
            reads_slots: reads_slots(vectors.as_ref(), manifest.len, manifest.dim),
            graph,
            vectors,
            traversal: None,
            len: manifest.len,
            dim: manifest.dim,
            params: manifest.params,
            tuned_recall: manifest.tuned_recall,
        })
    }

    /// The parameters of the index saved in `dir`, from its manifest alone.
    pub fn saved_params(dir: &Path) -> Result<HnswParams> {
        Ok(read_manifest(dir)?.params)
    }

    /// The tuned recall of the index saved in `dir` (see
    /// [`HnswIndex::tuned_recall`]), from its manifest alone.
    pub fn saved_tuned_recall(dir: &Path) -> Result<Option<f64>> {
        Ok(read_manifest(dir)?.tuned_recall)
    }

    /// Opens the index saved in `dir`, built over the first slots of
    /// `vectors` (an earlier state of the same library), and brings it up
    /// to date in memory: the slots added since are inserted into the
    /// graph, and the slots in `changed` (whose vectors were replaced in
    /// place) are inserted again with links chosen for their new vectors.
    /// The parameters stay those saved. Save the result with
    /// [`HnswIndex::save`]. `progress(inserted, total)` counts insertions.
    ///
    /// Fails, as [`HnswIndex::load`] does, on a damaged index, and with
    /// [`Error::IndexStale`] when `vectors` are fewer than the graph's nodes
    /// or of another dimension.
    pub fn update(
        dir: &Path,
        vectors: Arc<dyn VectorSlice>,
        changed: &[u32],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Self> {
        let (manifest, graph) = open_saved(dir)?;
        let slice = vectors.as_slice();
        let dim = manifest.dim;
        let len = vector_count(slice, dim)?;
        if len < manifest.len || dim != graph.dim() {
            return Err(Error::IndexStale {
                path: dir.to_path_buf(),
            });
        }
        let inserted: Vec<u32> = changed
            .iter()
            .copied()
            .filter(|&s| (s as usize) < len)
            .collect();
        validate_slots(
            slice,
            dim,
            inserted
                .iter()
                .map(|&s| s as usize)
                .chain(manifest.len..len),
        )?;
        let params = manifest.params;
        let mut layers = Vec::new();
        let mut entry = 0;
        if manifest.len == 0 {
            if len > 0 {
                (layers, entry) = build::build_layers(
                    slice,
                    dim,
                    params.max_connections,
                    params.ef_construction,
                    progress,
                );
            }
        } else {
            entry = graph.entry();
            layers = build::extend_layers(
                slice,
                dim,
                params.max_connections,
                params.ef_construction,
                (graph.to_lists()?, entry),
                &inserted,
                progress,
            );
        }
        drop(graph);
        let mut index = HnswIndex::from_layers(vectors, dim, params, layers, entry)?;
        index.tuned_recall = manifest.tuned_recall;
        Ok(index)
    }

    /// Number of layers in the graph (0 when it is empty).
    pub fn layer_count(&self) -> usize {
        self.graph.layer_count()
    }
}

/// Reads and checks the manifest of the index saved in `dir`.
fn read_manifest(dir: &Path) -> Result<Manifest> {
    let manifest_path = dir.join(MANIFEST);
    let text = fs::read(&manifest_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::IndexFile {
                path: dir.to_path_buf(),
                problem: format!("no {MANIFEST} found, so no index was saved here"),
                fix: "Build the index first.".into(),
            }
        } else {
            Error::io("read", &manifest_path, e)
        }
    })?;
    let header: ManifestHeader = serde_json::from_slice(&text)
        .map_err(|e| index_error(&manifest_path, format!("unreadable manifest: {e}")))?;
    if header.format != FORMAT || header.version != FORMAT_VERSION {
        return Err(index_error(
            &manifest_path,
            format!(
                "format {} version {} is not {FORMAT} version {FORMAT_VERSION} \
                     (an index saved by another version of relate)",
                header.format, header.version
            ),
        ));
    }
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| index_error(&manifest_path, format!("unreadable manifest: {e}")))?;
    manifest.params.validate()?;
    Ok(manifest)
}

/// Reads the manifest of the index saved in `dir` and maps the graph file
/// it names, checking that the two agree.
fn open_saved(dir: &Path) -> Result<(Manifest, LayeredGraph)> {
    let manifest_path = dir.join(MANIFEST);
    let manifest = read_manifest(dir)?;
    let name = &manifest.graph.file;
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(index_error(
            &manifest_path,
            "names an invalid graph file".into(),
        ));
    }
    let path = dir.join(name);
    let bytes = fs::metadata(&path)
        .map_err(|e| index_error(&path, format!("graph file cannot be opened ({e})")))?
        .len();
    if bytes != manifest.graph.bytes {
        return Err(index_error(
            &path,
            format!(
                "file has {bytes} bytes, {} were saved",
                manifest.graph.bytes
            ),
        ));
    }
    let graph = LayeredGraph::open(&path)?;
    if graph.nodes() != manifest.len || graph.dim() != manifest.dim {
        return Err(index_error(
            &path,
            format!(
                "graph links {} vectors of dimension {}, manifest says {} of {}",
                graph.nodes(),
                graph.dim(),
                manifest.len,
                manifest.dim
            ),
        ));
    }
    Ok((manifest, graph))
}

/// Whether `vectors` (`len` of `dim`) can be read one by one from a file.
fn reads_slots(vectors: &dyn VectorSlice, len: usize, dim: usize) -> bool {
    len > 0 && matches!(vectors.read_slot(0, &mut vec![0f32; dim]), Some(Ok(())))
}

/// Builds an hnsw_rs graph over `vectors`, copies out its layers (layer 0
/// with every slot, each upper layer with the slots whose level reaches
/// it) and repairs the links its insertion dropped ([`repair`]).
/// Returns the layers and the entry slot (a node of the top layer).
fn hnsw_rs_layers(vectors: &[f32], dim: usize, params: &HnswParams) -> (Vec<LayerLists>, u32) {
    let len = vectors.len() / dim;
    let graph: Hnsw<'_, f32, UnitDot> = Hnsw::new(
        params.max_connections,
        len,
        MAX_LAYERS,
        params.ef_construction,
        UnitDot,
    );
    let items: Vec<(&[f32], usize)> = vectors.chunks_exact(dim).zip(0..len).collect();
    graph.parallel_insert_slice(&items);
    let mut levels = vec![0u8; len];
    let mut lists: Vec<Vec<Vec<u32>>> = vec![Vec::new(); len];
    for point in graph.get_point_indexation() {
        let slot = point.get_origin_id();
        let level = point.get_point_id().0;
        levels[slot] = level;
        lists[slot] = point.get_neighborhood_id()[..=level as usize]
            .iter()
            .map(|layer| layer.iter().map(|n| n.d_id as u32).collect())
            .collect();
    }
    drop(graph);
    let top = levels.iter().copied().max().unwrap_or(0) as usize;
    // The lowest slot on the top layer enters every search.
    let entry = levels.iter().position(|&l| l as usize == top).unwrap_or(0) as u32;
    let mut layers: Vec<LayerLists> = (0..=top).map(|_| LayerLists::default()).collect();
    for (slot, mut per_layer) in lists.into_iter().enumerate() {
        for (l, links) in per_layer.drain(..).enumerate() {
            layers[l].members.push(slot as u32);
            layers[l].links.push(links);
        }
    }
    for (l, layer) in layers.iter_mut().enumerate() {
        let cap = if l == 0 {
            BOTTOM_LINKS_PER_M * params.max_connections
        } else {
            UPPER_LINKS_PER_M * params.max_connections
        };
        repair::symmetrise(layer, vectors, dim, cap);
        repair::link_back_from_nearest(layer);
    }
    (layers, entry)
}

impl NeighbourSearch for HnswIndex {
    /// Searches the graph with a beam of `ef_search` candidates (at least
    /// `k`); when `skip` leaves fewer than `k` hits, searches again with a
    /// wider beam until `k` remain or the graph has no more to give.
    fn search(&self, query: &[f32], k: usize, skip: &dyn Fn(u32) -> bool) -> Result<Vec<Hit>> {
        let query = normalised_query(query, self.dim)?;
        if k == 0 || self.len == 0 {
            return Ok(Vec::new());
        }
        let vectors = self.vectors.as_slice();
        let mut ef = self.params.ef_search.max(k);
        loop {
            let hits = match &self.traversal {
                Some(quantized) => self.search_quantized(quantized, &query, k, ef, skip)?,
                None if self.reads_slots => self.search_reading(&query, k, ef, skip)?,
                None => self.graph.search(vectors, &query, k, ef, skip)?,
            };
            if hits.len() >= k || ef >= self.len {
                return Ok(hits);
            }
            ef = (ef * 2).min(self.len);
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn dim(&self) -> usize {
        self.dim
    }
}

impl HnswIndex {
    /// The graph walked with vectors read one by one from the file behind
    /// them (see [`VectorSlice::read_slot`]); the scores are exact.
    fn search_reading(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        skip: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<Hit>> {
        self.graph
            .check_vector_count(self.vectors.as_slice().len() / self.dim.max(1))?;
        let buffer = RefCell::new(vec![0f32; self.dim]);
        let failure = RefCell::new(None);
        let score = |slot: u32| {
            let mut vector = buffer.borrow_mut();
            match self.vectors.read_slot(slot, &mut vector) {
                Some(Ok(())) => dot(query, &vector),
                Some(Err(e)) => {
                    failure.borrow_mut().get_or_insert(e);
                    f32::NEG_INFINITY
                }
                None => {
                    let at = slot as usize * self.dim;
                    dot(query, &self.vectors.as_slice()[at..at + self.dim])
                }
            }
        };
        let mut hits = self.graph.search_by(k, ef, skip, score, |_| {})?;
        if let Some(e) = failure.into_inner() {
            return Err(e);
        }
        hits.truncate(k);
        Ok(hits)
    }

    /// The graph walked with the int8 copies; the beam's hits scored again
    /// in f32 and the best `k` of them returned.
    fn search_quantized(
        &self,
        quantized: &QuantizedVectors,
        query: &[f32],
        k: usize,
        ef: usize,
        skip: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<Hit>> {
        let vectors = self.vectors.as_slice();
        self.graph
            .check_vector_count(quantized.len().min(vectors.len() / self.dim.max(1)))?;
        let codes = quantized.query(query);
        let mut hits = self.graph.search_by(
            k,
            ef,
            skip,
            |slot| quantized.score(&codes, slot),
            |slot| quantized.fetch(slot),
        )?;
        for hit in &mut hits {
            let at = hit.slot as usize * self.dim;
            hit.score = cosine_score(dot(query, &vectors[at..at + self.dim]));
        }
        sort_hits(&mut hits);
        hits.truncate(k);
        Ok(hits)
    }
}

/// The first fields of `index.json`, read before the rest to report an
/// index of another format clearly.
#[derive(Debug, Deserialize)]
struct ManifestHeader {
    format: String,
    version: u32,
}

/// What `index.json` records about a saved index.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    distance: String,
    len: usize,
    dim: usize,
    params: HnswParams,
    /// See [`HnswIndex::tuned_recall`]; absent in manifests saved before it
    /// was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tuned_recall: Option<f64>,
    graph: GraphFile,
}

/// The graph file a manifest names, and its size.
#[derive(Debug, Serialize, Deserialize)]
struct GraphFile {
    file: String,
    bytes: u64,
}

/// A file name no earlier save in the folder used.
fn unique_basename() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{GRAPH_PREFIX}-{nanos:x}-{:x}", std::process::id())
}

/// Removes graph files other than `keep` (left by earlier or interrupted
/// saves, including the hnsw_rs dumps of format version 1) and the
/// temporaries of killed saves. Failures are ignored: stale files waste
/// space but never change what [`HnswIndex::load`] reads.
fn remove_stale_files(dir: &Path, keep: &str) {
    remove_stale_temps(dir);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale_graph = name.starts_with(&format!("{GRAPH_PREFIX}-"))
            && (name.ends_with(GRAPH_SUFFIX)
                || name.ends_with(".hnsw.graph")
                || name.ends_with(".hnsw.data"))
            && name != keep;
        let stale_tmp = name.starts_with(&format!("{MANIFEST}.tmp-"))
            && name != format!("{MANIFEST}.tmp-{}", std::process::id());
        if stale_graph || stale_tmp {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn index_error(path: impl Into<PathBuf>, problem: String) -> Error {
    Error::IndexFile {
        path: path.into(),
        problem,
        fix: "Rebuild the index (it is derived from the stored vectors).".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{clustered_unit_vectors, ExactSearch};

    #[test]
    fn unit_dot_never_goes_negative_on_self_matches() {
        // hnsw_rs's DistDot computes 1 - dot and asserts it is >= 0; for
        // many unit vectors rounding puts dot(v, v) above 1. Find such
        // vectors and check UnitDot stays at 0 for them.
        let dim = 384;
        let vectors = clustered_unit_vectors(2_000, dim, 20, 0.8, 9);
        let mut above_one = 0;
        for v in vectors.chunks_exact(dim) {
            let naive: f32 = v.iter().zip(v).map(|(a, b)| a * b).sum();
            if naive > 1.0 || dot(v, v) > 1.0 {
                above_one += 1;
            }
            let d = UnitDot.eval(v, v);
            assert!((0.0..1e-5).contains(&d), "distance {d}");
        }
        assert!(
            above_one > 0,
            "expected some self-dots above 1 from rounding"
        );
        // Opposite vectors are at the far end, 2.
        let v = &vectors[..dim];
        let neg: Vec<f32> = v.iter().map(|x| -x).collect();
        assert!((UnitDot.eval(v, &neg) - 2.0).abs() < 1e-5);
        assert!(UnitDot.eval(v, &neg) <= 2.0);
    }

    #[test]
    fn hnsw_rs_dist_dot_panics_where_unit_dot_does_not() {
        use hnsw_rs::prelude::DistDot;
        use std::panic::catch_unwind;
        // DistDot (without the simdeez_f feature) sums the products in order
        // and asserts 1 - dot >= 0; find a unit vector whose self-dot rounds
        // above 1 that way.
        let dim = 384;
        let vectors = clustered_unit_vectors(2_000, dim, 20, 0.8, 9);
        let v = vectors
            .chunks_exact(dim)
            .find(|v| v.iter().zip(v.iter()).fold(0f32, |acc, (a, b)| acc + a * b) > 1.0)
            .expect("some self-dot above 1");
        let dist_dot = catch_unwind(|| DistDot.eval(v, v));
        assert!(dist_dot.is_err(), "DistDot no longer panics: {dist_dot:?}");
        let d = UnitDot.eval(v, v);
        assert!((0.0..1e-5).contains(&d), "distance {d}");
    }

    #[test]
    fn large_libraries_get_more_links_per_node() {
        assert_eq!(HnswParams::links_for_size(0), 16);
        assert_eq!(HnswParams::links_for_size(MANY_LINKS_FROM - 1), 16);
        assert_eq!(HnswParams::links_for_size(MANY_LINKS_FROM), 24);
        let params = HnswParams {
            max_connections: HnswParams::links_for_size(usize::MAX),
            ..HnswParams::default()
        };
        params.validate().unwrap();
    }

    #[test]
    fn parameter_validation_rejects_what_hnsw_rs_cannot_handle() {
        let ok = HnswParams::default();
        ok.validate().unwrap();
        for bad in [
            HnswParams {
                max_connections: 0,
                ..ok
            },
            HnswParams {
                max_connections: 1,
                ..ok
            },
            HnswParams {
                max_connections: 256,
                ..ok
            },
            HnswParams {
                max_connections: 10_000,
                ..ok
            },
            HnswParams {
                ef_construction: 0,
                ..ok
            },
            HnswParams { ef_search: 0, ..ok },
            HnswParams {
                ef_search: MAX_EF + 1,
                ..ok
            },
            HnswParams {
                ef_construction: 1 << 40,
                ..ok
            },
        ] {
            let err = bad.validate().unwrap_err();
            assert!(matches!(err, Error::InvalidArgument { .. }), "{bad:?}");
            // Building with bad parameters fails before hnsw_rs sees them
            // (it would exit the process for max_connections > 256).
            let v = clustered_unit_vectors(10, 4, 2, 0.5, 1);
            assert!(HnswIndex::build(&v, 4, &bad).is_err());
        }
        let mut index =
            HnswIndex::build(&clustered_unit_vectors(10, 4, 2, 0.5, 1), 4, &ok).unwrap();
        assert!(index.set_ef_search(0).is_err());
        assert!(index.set_ef_search(usize::MAX).is_err());
        index.set_ef_search(7).unwrap();
        assert_eq!(index.params().ef_search, 7);
    }

    #[test]
    fn build_rejects_non_finite_and_non_unit_vectors_naming_the_slot() {
        let dim = 16;
        let mut v = clustered_unit_vectors(50, dim, 3, 0.5, 2);
        v[17 * dim + 3] = f32::NAN;
        match HnswIndex::build(&v, dim, &HnswParams::default()) {
            Err(Error::NonFiniteSlot {
                slot: 17,
                position: 3,
                ..
            }) => {}
            other => panic!("expected NonFiniteSlot at slot 17, got {other:?}"),
        }
        let mut v = clustered_unit_vectors(50, dim, 3, 0.5, 2);
        v[40 * dim] = f32::NEG_INFINITY;
        assert!(matches!(
            HnswIndex::build(&v, dim, &HnswParams::default()),
            Err(Error::NonFiniteSlot {
                slot: 40,
                position: 0,
                ..
            })
        ));
        let mut v = clustered_unit_vectors(50, dim, 3, 0.5, 2);
        v[8 * dim..9 * dim].iter_mut().for_each(|x| *x *= 3.0);
        assert!(matches!(
            HnswIndex::build(&v, dim, &HnswParams::default()),
            Err(Error::NotUnitVector { slot: 8, .. })
        ));
        assert!(matches!(
            HnswIndex::build(&v[..dim * 3 + 1], dim, &HnswParams::default()),
            Err(Error::VectorShape { .. })
        ));
    }

    #[test]
    fn wrong_query_dimension_is_an_error() {
        let v = clustered_unit_vectors(100, 8, 3, 0.5, 4);
        let index = HnswIndex::build(&v, 8, &HnswParams::default()).unwrap();
        match index.search(&[0.5; 7], 3, &|_| false) {
            Err(Error::WrongDimension {
                expected: 8,
                received: 7,
            }) => {}
            other => panic!("expected WrongDimension, got {other:?}"),
        }
        assert!(index.search(&[f32::NAN; 8], 3, &|_| false).is_err());
    }

    #[test]
    fn skip_still_yields_k_hits_when_enough_remain() {
        let dim = 32;
        let v = clustered_unit_vectors(2_000, dim, 10, 0.6, 8);
        let index = HnswIndex::build(&v, dim, &HnswParams::default()).unwrap();
        let exact = ExactSearch::new(&v, dim).unwrap();
        let query = &v[3 * dim..4 * dim];
        // Skip the query itself and its 30 nearest neighbours: a plain
        // top-10 request would return only skipped slots.
        let nearest: Vec<u32> = exact
            .search(query, 31, &|_| false)
            .unwrap()
            .iter()
            .map(|h| h.slot)
            .collect();
        let skip = |s: u32| nearest.contains(&s);
        let hits = index.search(query, 10, &skip).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| !skip(h.slot)));
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        // Skipping all but five leaves exactly five.
        let hits = index.search(query, 10, &|s| s >= 5).unwrap();
        let mut slots: Vec<u32> = hits.iter().map(|h| h.slot).collect();
        slots.sort_unstable();
        assert_eq!(slots, vec![0, 1, 2, 3, 4]);
        // k beyond the library returns everything reachable.
        let all = index.search(query, 5_000, &|_| false).unwrap();
        assert!(all.len() >= 1_990, "only {} of 2000 reachable", all.len());
    }

    #[test]
    fn empty_index_builds_saves_loads_and_finds_nothing() {
        let index = HnswIndex::build(&[], 12, &HnswParams::default()).unwrap();
        assert!(index.is_empty());
        assert!(index.search(&[1.0; 12], 5, &|_| false).unwrap().is_empty());
        let dir = tempfile::tempdir().unwrap();
        index.save(dir.path()).unwrap();
        let loaded = HnswIndex::load(dir.path(), Arc::new(Vec::new())).unwrap();
        assert_eq!((loaded.len(), loaded.dim()), (0, 12));
    }

    #[test]
    fn the_tuned_recall_is_saved_with_the_index_and_kept_by_an_update() {
        let dim = 32;
        let vectors = Arc::new(clustered_unit_vectors(1_200, dim, 8, 0.8, 4));
        let first: Arc<dyn VectorSlice> = Arc::new(vectors[..1_000 * dim].to_vec());
        let mut index = HnswIndex::build_over(first.clone(), dim, &HnswParams::default()).unwrap();
        assert_eq!(index.tuned_recall(), None);
        assert!(index.worth_using(), "an untuned beam is the user's choice");
        let sample = RecallSample::new(first.as_slice(), dim, 50, 10, 3).unwrap();
        let report = index.tune_ef_search(&sample, 0.97).unwrap();
        assert_eq!(index.tuned_recall(), Some(report.recall));
        let dir = tempfile::tempdir().unwrap();
        index.save(dir.path()).unwrap();
        assert_eq!(
            HnswIndex::saved_tuned_recall(dir.path()).unwrap(),
            Some(report.recall)
        );
        let loaded = HnswIndex::load(dir.path(), first).unwrap();
        assert_eq!(loaded.tuned_recall(), Some(report.recall));
        let updated = HnswIndex::update(dir.path(), vectors, &[], &|_, _| {}).unwrap();
        assert_eq!(updated.len(), 1_200);
        assert_eq!(updated.tuned_recall(), Some(report.recall));
        assert!(index_worth_using(Some(0.95)));
        assert!(!index_worth_using(Some(0.5)));
    }

    #[test]
    fn a_save_clears_what_a_killed_save_left_but_not_a_running_one() {
        let dim = 8;
        let vectors = clustered_unit_vectors(40, dim, 2, 0.5, 3);
        let index = HnswIndex::build(&vectors, dim, &HnswParams::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        // A graph file and a manifest half-written by a killed save: no
        // process holds their locks any more.
        let killed_graph = dir.path().join(".graph-1-2.links.tmp-99999-0");
        let killed_manifest = dir.path().join(".index.json.tmp-99999-1");
        std::fs::write(&killed_graph, b"half").unwrap();
        std::fs::write(&killed_manifest, b"{").unwrap();
        // One whose writer still runs holds its lock.
        let running = dir.path().join(".graph-3-4.links.tmp-99998-0");
        let held = std::fs::File::create(&running).unwrap();
        held.lock().unwrap();
        index.save(dir.path()).unwrap();
        assert!(!killed_graph.exists() && !killed_manifest.exists());
        assert!(running.exists(), "a running writer's file was removed");
        drop(held);
        let loaded = HnswIndex::load(dir.path(), Arc::new(vectors)).unwrap();
        assert_eq!(loaded.len(), 40);
    }
}
