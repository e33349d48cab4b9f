//! Recommendation scoring benchmarks: both scorers over 100,000 synthetic
//! clustered 384-d unit vectors (fixed seed), with 5 positives and 2
//! negatives, and with 200 positives (a reading list from a BibTeX file).
//! This is the scan `relate recommend` makes over the library's vectors;
//! fetching the best records and the reasons come after it.
//! `RELATE_BENCH_N` replaces 100,000 for quick runs, e.g.
//! `cargo bench --bench recommend -- multi`.

use criterion::{BenchmarkId, Criterion};
use relate::index::clustered_unit_vectors;
use relate::recommend::{ProfileVectors, Scorer};

const DIM: usize = 384;
const SEED: u64 = 42;

fn profile(vectors: &[f32], positives: usize, negatives: usize) -> ProfileVectors {
    let n = vectors.len() / DIM;
    let mut p = ProfileVectors::new(DIM);
    // Examples spread over the library (every `step`-th vector).
    let step = n / (positives + negatives + 1);
    for i in 0..positives + negatives {
        let v = &vectors[(i + 1) * step * DIM..((i + 1) * step + 1) * DIM];
        if i < positives {
            p.add_positive(v, 1.0).expect("positive");
        } else {
            p.add_negative(v, 1.0).expect("negative");
        }
    }
    p
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("RELATE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let vectors = clustered_unit_vectors(n, DIM, (n / 500).max(10), 0.8, SEED);
    let mut group = c.benchmark_group(format!("score_{n}"));
    group.sample_size(10);
    for (name, positives, negatives) in [("5+2", 5, 2), ("200", 200, 0)] {
        let p = profile(&vectors, positives, negatives);
        for scorer in [Scorer::Centroid, Scorer::Multi] {
            group.bench_function(BenchmarkId::new(scorer.name(), name), |b| {
                b.iter(|| p.score_all(scorer, &vectors).expect("scores"))
            });
        }
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
