//! Embedding throughput on the 61 sample abstracts (truncated at 256 tokens),
//! reported as texts/s (group `embed_texts`) and tokens/s (group
//! `embed_tokens`). Needs the model: run models/fetch.sh first.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relate::embed::{DeviceChoice, Embedder, EmbedderOptions};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn sample_abstracts() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/all-MiniLM-L6-v2.abstracts.jsonl");
    std::fs::read_to_string(&path)
        .expect("sample abstracts are readable")
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
            value["text"].as_str().expect("text field").to_string()
        })
        .collect()
}

fn bench_embed(c: &mut Criterion) {
    let model_dir = std::env::var_os("RELATE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
        });
    let device = std::env::var("RELATE_BENCH_DEVICE").unwrap_or_else(|_| "auto".into());
    let embedder = Embedder::load(EmbedderOptions {
        model_dir,
        device: device.parse::<DeviceChoice>().expect("device"),
        ..EmbedderOptions::default()
    })
    .expect("model loads (run models/fetch.sh first)");
    let texts = sample_abstracts();
    let tokens: usize = embedder
        .token_counts(&texts)
        .expect("tokenizes")
        .iter()
        .sum();

    let mut group = c.benchmark_group("embed_texts");
    group.sample_size(10);
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function(
        format!("{}_abstracts_{}", texts.len(), embedder.device_name()),
        |b| b.iter(|| embedder.embed(&texts).expect("embeds")),
    );
    group.finish();

    let mut group = c.benchmark_group("embed_tokens");
    group.sample_size(10);
    group.throughput(Throughput::Elements(tokens as u64));
    group.bench_function(format!("{tokens}_tokens_{}", embedder.device_name()), |b| {
        b.iter(|| embedder.embed(&texts).expect("embeds"))
    });
    group.finish();
}

criterion_group!(benches, bench_embed);
criterion_main!(benches);
