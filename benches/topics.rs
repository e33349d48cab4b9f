//! Topic finding, map layout and SVG on a 10,000-paper synthetic library:
//! 384-d unit vectors in 20 planted clusters with sentence-embedding-like
//! spread (cosine to the cluster centre about 0.7), and short texts drawn
//! from a per-cluster vocabulary. Fixed sizes and seeds.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use relate::topics::{find_topics, layout_2d, render_svg, TopicInput, TopicOptions};

const PAPERS: usize = 10_000;
const DIM: usize = 384;
const CLUSTERS: usize = 20;

fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f32 = rng.random::<f32>().max(1e-9);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

struct Library {
    ids: Vec<String>,
    titles: Vec<String>,
    abstracts: Vec<String>,
    vectors: Vec<f32>,
}

fn library() -> Library {
    let mut rng = StdRng::seed_from_u64(2024);
    let unit = |v: &mut [f32]| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
    };
    let centres: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| {
            let mut c: Vec<f32> = (0..DIM).map(|_| gaussian(&mut rng)).collect();
            unit(&mut c);
            c
        })
        .collect();
    let shared = [
        "learning", "model", "data", "training", "analysis", "network",
    ];
    let mut lib = Library {
        ids: Vec::new(),
        titles: Vec::new(),
        abstracts: Vec::new(),
        vectors: Vec::with_capacity(PAPERS * DIM),
    };
    for i in 0..PAPERS {
        let c = i % CLUSTERS;
        let mut v: Vec<f32> = centres[c]
            .iter()
            .map(|x| x + gaussian(&mut rng) / (DIM as f32).sqrt())
            .collect();
        unit(&mut v);
        lib.vectors.extend(v);
        let own = |j: usize| format!("topic{c}word{j}");
        let words: Vec<String> = (0..40)
            .map(|_| {
                if rng.random::<f32>() < 0.5 {
                    own(rng.random_range(0..12))
                } else {
                    shared[rng.random_range(0..shared.len())].to_string()
                }
            })
            .collect();
        lib.ids.push(format!("synthetic-{i}"));
        lib.titles.push(words[..8].join(" "));
        lib.abstracts.push(words[8..].join(" "));
    }
    lib
}

fn bench(c: &mut Criterion) {
    let lib = library();
    let input = TopicInput {
        ids: &lib.ids,
        titles: &lib.titles,
        abstracts: &lib.abstracts,
        vectors: &lib.vectors,
        dim: DIM,
    };
    let opts = TopicOptions::default();
    c.bench_function("topics+layout+svg 10k x 384", |b| {
        b.iter(|| {
            let model = find_topics(black_box(&input), &opts).unwrap();
            let points = layout_2d(&lib.vectors, DIM, opts.seed).unwrap();
            black_box(render_svg(&model, &points, &lib.titles).unwrap())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
