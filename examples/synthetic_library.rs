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
//!
//! With `--jsonl FILE` in place of `DIR` it writes the same papers as JSON
//! lines with their vectors instead, as `relate embed` writes them (model
//! all-MiniLM-L6-v2 under a made-up fingerprint), to measure `relate
//! ingest` importing precomputed vectors.

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

/// The fingerprint written into `--jsonl` output.
const SYNTHETIC_FINGERPRINT: &str =
    "5e1f5e1f5e1f5e1f5e1f5e1f5e1f5e1f5e1f5e1f5e1f5e1f5e1f5e1f5e1f5e1f";

fn paper(i: usize) -> Paper {
    let word = |k: usize| WORDS[(i * 7 + k * 13) % WORDS.len()];
    Paper {
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
    }
}

fn main() -> relate::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let jsonl = args.next_if(|a| a == "--jsonl").is_some();
    let dir = PathBuf::from(args.next().unwrap_or_else(|| {
        eprintln!("usage: synthetic_library [--jsonl FILE | DIR] [PAPERS] [CLUSTERS] [SEED]");
        std::process::exit(2)
    }));
    let mut number = |default: u64| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let papers = number(10_000) as usize;
    let clusters = number(20) as usize;
    let seed = number(42);

    let vectors = clustered_unit_vectors(papers, DIM, clusters, 1.0, seed);
    if jsonl {
        return write_jsonl(&dir, &vectors, papers);
    }
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
            .map(|i| (paper(i), Some(vectors[i * DIM..(i + 1) * DIM].to_vec())))
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

/// Writes the papers with their vectors as JSON lines.
fn write_jsonl(path: &std::path::Path, vectors: &[f32], papers: usize) -> relate::Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|e| relate::Error::io("create", path, e))?;
    let mut out = std::io::BufWriter::new(file);
    for i in 0..papers {
        let p = paper(i);
        let record = serde_json::json!({
            "id": p.id,
            "title": p.title,
            "abstract": p.abstract_text,
            "embedding_model": "all-MiniLM-L6-v2",
            "embedding_fingerprint": SYNTHETIC_FINGERPRINT,
            "embedding": &vectors[i * DIM..(i + 1) * DIM],
        });
        writeln!(out, "{record}").map_err(|e| relate::Error::io("write", path, e))?;
    }
    out.flush()
        .map_err(|e| relate::Error::io("write", path, e))?;
    eprintln!("{papers} papers with vectors written to {}", path.display());
    Ok(())
}
