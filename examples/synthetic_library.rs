//! Builds a synthetic paper library for measuring the library commands
//! (`relate topics`, `relate similar`) at sizes the sample corpus cannot
//! reach: clustered 384-dimensional unit vectors from
//! `relate::index::clustered_unit_vectors`, stored with short made-up titles
//! and abstracts through the library API, so no model is run.
//!
//! Usage: `cargo run --release --example synthetic_library -- DIR [PAPERS] [CLUSTERS] [SEED]`
//! (defaults: 10000 papers, 20 clusters, seed 42). The library is recorded
//! as made with all-MiniLM-L6-v2, so `relate similar` and `relate topics`
//! work on it directly.

use std::path::PathBuf;

use relate::corpus::Paper;
use relate::index::clustered_unit_vectors;
use relate::store::{Library, ModelInfo};

const DIM: usize = 384;
const BATCH: usize = 2000;
const WORDS: [&str; 24] = [
    "learning",
    "graph",
    "privacy",
    "bandit",
    "protein",
    "theorem",
    "language",
    "vision",
    "optimisation",
    "kernel",
    "federated",
    "causal",
    "sampling",
    "robust",
    "sparse",
    "quantum",
    "reasoning",
    "policy",
    "diffusion",
    "retrieval",
    "fairness",
    "control",
    "spectral",
    "memory",
];

fn main() -> relate::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| {
        eprintln!("usage: synthetic_library DIR [PAPERS] [CLUSTERS] [SEED]");
        std::process::exit(2)
    }));
    let mut number = |default: u64| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let papers = number(10_000) as usize;
    let clusters = number(20) as usize;
    let seed = number(42);

    let vectors = clustered_unit_vectors(papers, DIM, clusters, 1.0, seed);
    let mut library = Library::open_or_create(
        &dir,
        &ModelInfo {
            id: "all-MiniLM-L6-v2".into(),
            dim: DIM,
            fingerprint: None,
        },
    )?;
    let start = std::time::Instant::now();
    for first in (0..papers).step_by(BATCH) {
        let batch = (first..papers.min(first + BATCH))
            .map(|i| {
                let word = |k: usize| WORDS[(i * 7 + k * 13) % WORDS.len()];
                let paper = Paper {
                    id: format!("synthetic-{i}"),
                    title: format!("Synthetic paper {i} on {} {}", word(0), word(1)),
                    abstract_text: format!(
                        "We study {} {} with {} and {}.",
                        word(2),
                        word(3),
                        word(4),
                        word(5)
                    ),
                    ..Paper::default()
                };
                (paper, Some(vectors[i * DIM..(i + 1) * DIM].to_vec()))
            })
            .collect();
        library.upsert(batch)?;
    }
    library.vectors()?;
    eprintln!(
        "{} papers stored in {} in {:.1}s",
        library.len(),
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
