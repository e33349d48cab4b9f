//! Index benchmarks on synthetic clustered 384-d unit vectors (fixed seeds):
//!
//! - HNSW build time at default parameters, timed once per size during
//!   setup and printed (ten criterion samples of a 100,000-vector build would
//!   take too long);
//! - `query_<n>`: one top-10 query, exact search and HNSW side by side, on a
//!   long-lived in-memory index;
//! - `cli_crossover/<n>`: what a short-lived process pays for its first
//!   answer: mapping the vector file and scanning it exactly, versus loading
//!   the saved HNSW index and querying it, at 10,000, 50,000 and 100,000.
//!
//! Setup also prints recall@10 of the defaults (and of other `ef_search`
//! values) at 100,000. `RELATE_BENCH_N` replaces 100,000 for quick runs.
//! Criterion's usual name filter selects groups, e.g.
//! `cargo bench --bench index -- query`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion};
use relate::index::{
    clustered_unit_vectors, measure_recall, ExactSearch, HnswIndex, HnswParams, NeighbourSearch,
    VectorSlice,
};

const DIM: usize = 384;
const SEED: u64 = 42;
const QUERIES: usize = 64;

/// `n` library vectors followed by `QUERIES` unseen ones from the same
/// clusters (the generator is sequential, so the first `n` do not depend on
/// how many follow).
fn data(n: usize) -> (Vec<f32>, Vec<f32>) {
    let clusters = (n / 500).max(10);
    let mut all = clustered_unit_vectors(n + QUERIES, DIM, clusters, 0.8, SEED);
    let queries = all.split_off(n * DIM);
    (all, queries)
}

fn build(vectors: &[f32]) -> (HnswIndex, f64) {
    let start = Instant::now();
    let index = HnswIndex::build(vectors, DIM, &HnswParams::default()).expect("build");
    (index, start.elapsed().as_secs_f64())
}

fn write_vectors(path: &Path, vectors: &[f32]) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for x in vectors {
        file.write_all(&x.to_le_bytes()).unwrap();
    }
    file.flush().unwrap();
}

fn main() {
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let big: usize = std::env::var("RELATE_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);

    let tmp = tempfile::tempdir().unwrap();
    let mut sizes = vec![10_000, 50_000, big];
    sizes.sort_unstable();
    sizes.dedup();
    for &n in &sizes {
        let (vectors, queries) = data(n);
        let (mut index, seconds) = build(&vectors);
        eprintln!(
            "hnsw build n={n} dim={DIM} defaults {:?}: {seconds:.1} s",
            index.params()
        );

        if n == big {
            for ef in [32, 64, 100, 128, 200] {
                index.set_ef_search(ef).unwrap();
                let report = measure_recall(&index, &vectors, DIM, 500, 10, SEED).unwrap();
                eprintln!("n={n} ef_search={ef}: {report}");
            }
            index
                .set_ef_search(HnswParams::default().ef_search)
                .unwrap();

            // Long-lived process: many queries against one in-memory index.
            let exact2 = ExactSearch::new(&vectors, DIM).unwrap().with_threads(2);
            let exact1 = ExactSearch::new(&vectors, DIM).unwrap().with_threads(1);
            let mut group = c.benchmark_group(format!("query_{n}"));
            let mut i = 0;
            let mut next = || {
                i = (i + 1) % QUERIES;
                &queries[i * DIM..(i + 1) * DIM]
            };
            group.bench_function("exact_2_threads", |b| {
                b.iter(|| exact2.search(next(), 10, &|_| false).unwrap())
            });
            group.bench_function("exact_1_thread", |b| {
                b.iter(|| exact1.search(next(), 10, &|_| false).unwrap())
            });
            group.bench_function("hnsw", |b| {
                b.iter(|| index.search(next(), 10, &|_| false).unwrap())
            });
            // As `relate serve` searches: the graph walked with int8 copies.
            index.quantize_traversal();
            let report = measure_recall(&index, &vectors, DIM, 500, 10, SEED).unwrap();
            eprintln!(
                "n={n} ef_search={} int8 walk: {report}",
                index.params().ef_search
            );
            group.bench_function("hnsw_int8_walk", |b| {
                b.iter(|| index.search(next(), 10, &|_| false).unwrap())
            });
            group.finish();
        }

        // Short-lived process: first answer from files on disk.
        let dir = tmp.path().join(format!("n{n}"));
        index.save(&dir.join("hnsw")).unwrap();
        let vector_file = dir.join("vectors.f32");
        write_vectors(&vector_file, &vectors);
        drop(index);
        drop(vectors);
        let query = &queries[..DIM];
        let mut group = c.benchmark_group("cli_crossover");
        group.bench_with_input(BenchmarkId::new("exact_mmap", n), &n, |b, _| {
            b.iter(|| {
                let floats = MappedFloats::open(&vector_file);
                let exact = ExactSearch::new(floats.as_slice(), DIM).unwrap();
                exact.search(query, 10, &|_| false).unwrap()
            })
        });
        group.bench_with_input(BenchmarkId::new("hnsw_load_and_query", n), &n, |b, _| {
            b.iter(|| {
                let floats = std::sync::Arc::new(MappedFloats::open(&vector_file));
                let index = HnswIndex::load(&dir.join("hnsw"), floats).unwrap();
                index.search(query, 10, &|_| false).unwrap()
            })
        });
        group.finish();
    }
    c.final_summary();
}

/// A little-endian f32 file mapped into memory, as the library maps its
/// vector file.
struct MappedFloats(memmap2::Mmap);

impl MappedFloats {
    fn open(path: &Path) -> MappedFloats {
        let file = std::fs::File::open(path).unwrap();
        // SAFETY: the file is not modified while mapped.
        MappedFloats(unsafe { memmap2::Mmap::map(&file).unwrap() })
    }
}

impl VectorSlice for MappedFloats {
    fn as_slice(&self) -> &[f32] {
        bytemuck::cast_slice(&self.0)
    }
}
