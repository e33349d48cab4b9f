//! The encoder's largest matrix product on its own: a batch of 4,096 token
//! rows (16 abstracts of 256 tokens) times the feed-forward weight (1,536 ×
//! 384), as multiply-adds per second (criterion's `elem/s`), in f32 at each
//! SIMD level the CPU has (`RELATE_SIMD` caps the highest) and in int8
//! with each int8 kernel it can run (quantising the activations included).
//! AVX2's int8 kernel (`int8_avx2`, what a CPU without VNNI runs) needs two
//! multiply instructions per 32 byte products where FMA does 8 in one, so
//! it can be at most twice `f32_avx2`; this bench shows how close each
//! machine comes. `RELATE_PRODUCT_SHAPE=M,N,K` times another shape (one
//! head's attention scores for a 256-token text: `256,256,32`). No model
//! needed.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relate::embed::product_bench::{f32_case, int8_cases};
use relate::simd::{self, SimdLevel};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The default shape: rows, outputs, depth.
const SHAPE: (usize, usize, usize) = (4096, 1536, 384);

/// The shape `RELATE_PRODUCT_SHAPE` gives (`M,N,K`), or [`SHAPE`].
fn shape() -> (usize, usize, usize) {
    let Ok(text) = std::env::var("RELATE_PRODUCT_SHAPE") else {
        return SHAPE;
    };
    let dims: Vec<usize> = text
        .split(',')
        .map(|d| d.trim().parse().ok().filter(|&d| d > 0))
        .collect::<Option<_>>()
        .unwrap_or_default();
    match dims[..] {
        [m, n, k] => (m, n, k),
        _ => panic!("RELATE_PRODUCT_SHAPE must be three positive numbers M,N,K; got {text:?}"),
    }
}

fn bench_products(c: &mut Criterion) {
    let (m, n, k) = shape();
    let levels = SimdLevel::available_within_cap();
    let mut group = c.benchmark_group("products");
    group.sample_size(20);
    group.throughput(Throughput::Elements((m * n * k) as u64));
    for &level in &levels {
        simd::set_level(level);
        let mut case = f32_case(m, n, k);
        group.bench_function(case.name.clone(), |b| b.iter(|| case.run()));
    }
    // The int8 kernels are chosen by name, not by level: each once.
    for mut case in int8_cases(m, n, k) {
        group.bench_function(case.name.clone(), |b| b.iter(|| case.run()));
    }
    group.finish();
}

criterion_group!(benches, bench_products);
criterion_main!(benches);
