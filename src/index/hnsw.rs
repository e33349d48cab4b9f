//! The approximate index: an hnsw_rs graph wrapped so that it owns all its
//! data, never panics or exits on bad input, and is saved atomically (graph
//! files flushed to disk, then the manifest naming them replaced through
//! [`crate::atomic_file`]).
//!
//! hnsw_rs has no delete: when papers are removed, callers keep them out of
//! results with the `skip` filter (tombstones) and rebuild the index when
//! enough have accumulated. The graph is built with parallel insertion, which
//! can leave a few points hard to reach; [`super::measure_recall`] reports
//! how often a stored vector finds itself.

use std::fs::{self, File};
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hnsw_rs::prelude::{AnnT, Distance, Hnsw, HnswIo};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic_file::{create_dir_all_durably, replace_file};

use super::{
    cosine_score, dot, normalised_query, sort_hits, validate_unit_vectors, vector_count, Hit,
    NeighbourSearch,
};
use crate::{Error, Result};

/// Number of layers hnsw_rs allocates; its dump format requires exactly this.
const MAX_LAYERS: usize = 16;

/// Name of the manifest that makes a saved index visible.
const MANIFEST: &str = "index.json";

/// Format tag and version written into the manifest.
const FORMAT: &str = "relate-hnsw";
const FORMAT_VERSION: u32 = 1;

/// Prefix of the graph files hnsw_rs writes (`<prefix>-<unique>.hnsw.graph`
/// and `.hnsw.data`).
const DUMP_PREFIX: &str = "graph";

/// Largest `max_connections` (M): hnsw_rs ends the process above 256, and
/// its file format stores the value in one byte.
pub const MAX_CONNECTIONS: usize = 255;

/// Largest `ef_construction` and `ef_search`: each sizes a candidate list
/// allocated per insertion or query, so a huge value exhausts memory, and
/// far below this recall no longer improves.
pub const MAX_EF: usize = 10_000;

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
    /// M 16, ef_construction 100, ef_search 100. Measured on 100,000
    /// clustered 384-d vectors (`benches/index.rs`, 500 queries, seed 42):
    /// recall@10 0.964 (ef_search 50: 0.904, 200: 0.990), 0.8 ms per query,
    /// 104 s to build on 2 cores.
    fn default() -> Self {
        HnswParams {
            max_connections: 16,
            ef_construction: 100,
            ef_search: 100,
        }
    }
}

impl HnswParams {
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

type Graph = Hnsw<'static, f32, UnitDot>;

/// An HNSW graph over a fixed set of unit vectors, owning its own copy of
/// them. Build it with [`HnswIndex::build`], persist it with
/// [`HnswIndex::save`] and [`HnswIndex::load`].
///
/// There is no delete or update: filter removed slots with `skip` and
/// rebuild when the library changes substantially.
pub struct HnswIndex {
    /// `None` for an index over zero vectors.
    graph: Option<Graph>,
    len: usize,
    dim: usize,
    params: HnswParams,
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
    /// Builds a graph over `vectors` (slot `i` at `vectors[i * dim..]`),
    /// inserting in parallel on all cores.
    ///
    /// Fails when the parameters are out of range, the slice is not a whole
    /// number of vectors, or a vector is non-finite or not of length 1 (the
    /// error names the slot).
    pub fn build(vectors: &[f32], dim: usize, params: &HnswParams) -> Result<Self> {
        params.validate()?;
        let len = vector_count(vectors, dim)?;
        validate_unit_vectors(vectors, dim)?;
        if len == 0 {
            return Ok(HnswIndex {
                graph: None,
                len,
                dim,
                params: *params,
            });
        }
        let mut graph: Graph = Hnsw::new(
            params.max_connections,
            len,
            MAX_LAYERS,
            params.ef_construction,
            UnitDot,
        );
        let items: Vec<(&[f32], usize)> = vectors.chunks_exact(dim).zip(0..len).collect();
        graph.parallel_insert_slice(&items);
        // Parallel insertion leaves the graph in insertion mode; searching
        // requires this switch.
        graph.set_searching_mode(true);
        Ok(HnswIndex {
            graph: Some(graph),
            len,
            dim,
            params: *params,
        })
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

    /// Saves the index into directory `dir` (created if missing).
    ///
    /// The graph files get fresh names and are flushed to disk before the
    /// manifest `index.json` naming them is atomically replaced, so a crash
    /// at any moment leaves either the previous index or the new one, never a
    /// mixture. Files of earlier saves are removed afterwards.
    pub fn save(&self, dir: &Path) -> Result<()> {
        create_dir_all_durably(dir)?;
        let mut manifest = Manifest {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            distance: "cosine (1 - dot of unit vectors)".into(),
            len: self.len,
            dim: self.dim,
            params: self.params,
            dump: None,
        };
        if let Some(graph) = &self.graph {
            let basename = unique_basename();
            // The basename is fresh, so nothing in use is overwritten.
            let dumped = catch_unwind(AssertUnwindSafe(|| graph.file_dump(dir, &basename)));
            let written = match dumped {
                Ok(Ok(name)) => name,
                Ok(Err(e)) => {
                    return Err(index_error(dir, format!("writing the graph failed: {e}")))
                }
                Err(_) => return Err(index_error(dir, "writing the graph failed".into())),
            };
            let graph_file = FileDigest::of(&dir.join(format!("{written}.hnsw.graph")))?;
            let data_file = FileDigest::of(&dir.join(format!("{written}.hnsw.data")))?;
            manifest.dump = Some(Dump {
                basename: written,
                graph: graph_file,
                data: data_file,
            });
        }
        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| index_error(dir, format!("encoding the manifest failed: {e}")))?;
        replace_file(&dir.join(MANIFEST), &text)?;
        remove_stale_dumps(dir, manifest.dump.as_ref().map(|d| d.basename.as_str()));
        Ok(())
    }

    /// Loads an index saved by [`HnswIndex::save`] from directory `dir`.
    ///
    /// The manifest's sizes and SHA-256 digests are checked before hnsw_rs
    /// reads the files (it panics or exits the process on damaged input), so
    /// a damaged or foreign index is reported as [`Error::IndexFile`].
    pub fn load(dir: &Path) -> Result<Self> {
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
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| index_error(&manifest_path, format!("unreadable manifest: {e}")))?;
        if manifest.format != FORMAT || manifest.version != FORMAT_VERSION {
            return Err(index_error(
                &manifest_path,
                format!(
                    "format {} version {} is not {FORMAT} version {FORMAT_VERSION}",
                    manifest.format, manifest.version
                ),
            ));
        }
        manifest.params.validate()?;
        let Some(dump) = manifest.dump else {
            if manifest.len != 0 {
                return Err(index_error(
                    &manifest_path,
                    format!("lists {} vectors but no graph files", manifest.len),
                ));
            }
            return Ok(HnswIndex {
                graph: None,
                len: 0,
                dim: manifest.dim,
                params: manifest.params,
            });
        };
        if dump.basename.contains(['/', '\\']) || dump.basename.starts_with('.') {
            return Err(index_error(
                &manifest_path,
                "names an invalid graph file".into(),
            ));
        }
        dump.graph
            .verify(&dir.join(format!("{}.hnsw.graph", dump.basename)))?;
        dump.data
            .verify(&dir.join(format!("{}.hnsw.data", dump.basename)))?;

        // The loaded graph borrows its loader for its whole life. Without
        // memory mapping (the default) it holds no data of the loader's, so
        // the loader, a few hundred bytes, is leaked to give the graph a
        // 'static lifetime and let the index own everything.
        let loader: &'static HnswIo = Box::leak(Box::new(HnswIo::new(dir, &dump.basename)));
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            loader.load_hnsw_with_dist::<f32, UnitDot>(UnitDot)
        }));
        let mut graph = match loaded {
            Ok(Ok(graph)) => graph,
            Ok(Err(e)) => return Err(index_error(dir, format!("reading the graph failed: {e}"))),
            Err(_) => return Err(index_error(dir, "reading the graph failed".into())),
        };
        graph.set_searching_mode(true);
        let points = graph.get_nb_point();
        let dim = graph.get_point_indexation().get_data_dimension();
        if points != manifest.len || dim != manifest.dim {
            return Err(index_error(
                dir,
                format!(
                    "graph holds {points} vectors of dimension {dim}, manifest says {} of {}",
                    manifest.len, manifest.dim
                ),
            ));
        }
        Ok(HnswIndex {
            graph: Some(graph),
            len: manifest.len,
            dim: manifest.dim,
            params: manifest.params,
        })
    }
}

impl NeighbourSearch for HnswIndex {
    /// Asks the graph for `k` neighbours; when `skip` drops some, asks again
    /// for more (doubling) until `k` remain or the graph has no more to give.
    fn search(&self, query: &[f32], k: usize, skip: &dyn Fn(u32) -> bool) -> Result<Vec<Hit>> {
        let query = normalised_query(query, self.dim)?;
        let Some(graph) = &self.graph else {
            return Ok(Vec::new());
        };
        if k == 0 {
            return Ok(Vec::new());
        }
        let mut fetch = k.min(self.len);
        loop {
            let ef = self.params.ef_search.max(fetch);
            let found = graph.search(&query, fetch, ef);
            let exhausted = found.len() < fetch || fetch >= self.len;
            let mut hits: Vec<Hit> = found
                .iter()
                .filter_map(|n| {
                    let slot = u32::try_from(n.d_id).ok()?;
                    if skip(slot) {
                        return None;
                    }
                    Some(Hit {
                        slot,
                        score: cosine_score(1.0 - n.distance),
                    })
                })
                .collect();
            if hits.len() >= k || exhausted {
                sort_hits(&mut hits);
                hits.truncate(k);
                return Ok(hits);
            }
            let dropped = fetch - hits.len();
            fetch = (fetch * 2).max(k + 2 * dropped).min(self.len);
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn dim(&self) -> usize {
        self.dim
    }
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
    /// Absent for an index over zero vectors.
    dump: Option<Dump>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Dump {
    basename: String,
    graph: FileDigest,
    data: FileDigest,
}

/// Size and SHA-256 of one file, to detect truncation and damage.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct FileDigest {
    bytes: u64,
    sha256: String,
}

impl FileDigest {
    /// Flushes `path` to disk and digests it.
    fn of(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        file.sync_all().map_err(|e| Error::io("sync", path, e))?;
        digest(file, path)
    }

    fn verify(&self, path: &Path) -> Result<()> {
        let file = File::open(path)
            .map_err(|e| index_error(path, format!("graph file cannot be opened ({e})")))?;
        let found = digest(file, path)?;
        if found.bytes != self.bytes {
            return Err(index_error(
                path,
                format!("file has {} bytes, {} were saved", found.bytes, self.bytes),
            ));
        }
        if found.sha256 != self.sha256 {
            return Err(index_error(
                path,
                "file contents changed since it was saved".into(),
            ));
        }
        Ok(())
    }
}

fn digest(mut file: File, path: &Path) -> Result<FileDigest> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(FileDigest { bytes, sha256 })
}

/// A dump name no earlier save in the folder used.
fn unique_basename() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{DUMP_PREFIX}-{nanos:x}-{:x}", std::process::id())
}

/// Removes graph files left by earlier or interrupted saves, and manifest
/// temporaries of the naming scheme before [`crate::atomic_file`]. Failures are ignored: stale files waste space but
/// never change what [`HnswIndex::load`] reads.
fn remove_stale_dumps(dir: &Path, keep: Option<&str>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let kept = keep
            .is_some_and(|k| name == format!("{k}.hnsw.graph") || name == format!("{k}.hnsw.data"));
        let stale_dump = name.starts_with(&format!("{DUMP_PREFIX}-"))
            && (name.ends_with(".hnsw.graph") || name.ends_with(".hnsw.data"))
            && !kept;
        let stale_tmp = name.starts_with(&format!("{MANIFEST}.tmp-"))
            && name != format!("{MANIFEST}.tmp-{}", std::process::id());
        if stale_dump || stale_tmp {
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
        let loaded = HnswIndex::load(dir.path()).unwrap();
        assert_eq!((loaded.len(), loaded.dim()), (0, 12));
    }
}
