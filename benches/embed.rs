//! Embedding throughput on the 61 sample abstracts (truncated at 256 tokens),
//! reported as texts/s (group `embed_texts`) and tokens/s (group
//! `embed_tokens`), on the CPU once per SIMD level the CPU has (baseline,
//! AVX2, AVX-512; `RELATE_SIMD` caps the highest), so any machine shows the
//! figure of a CPU without its best instructions. On a GPU, or with `RELATE_BENCH_SWEEP=1`, group
//! `embed_batch_size` also measures 1,024 abstracts at batch sizes 32 to 512.
//! `RELATE_BENCH_DEVICE` (default auto) and `RELATE_BENCH_DTYPE` choose
//! where and how the model runs; without a dtype the CPU runs both f32 and
//! the quantised int8 mode at each level (ids ending `_int8`), a GPU f32.
//! Needs the model: run models/fetch.sh first.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relate::embed::{DeviceChoice, Embedder, EmbedderOptions, Precision};
use relate::simd::{self, SimdLevel};

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

/// The precisions to measure: `RELATE_BENCH_DTYPE` alone when set, else
/// f32 and int8.
fn precisions() -> Vec<Precision> {
    match std::env::var("RELATE_BENCH_DTYPE") {
        Ok(dtype) => vec![dtype.parse::<Precision>().expect("RELATE_BENCH_DTYPE")],
        Err(_) => vec![Precision::F32, Precision::Int8],
    }
}

fn options() -> EmbedderOptions {
    let model_dir = std::env::var_os("RELATE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
        });
    let device = std::env::var("RELATE_BENCH_DEVICE").unwrap_or_else(|_| "auto".into());
    let dtype = std::env::var("RELATE_BENCH_DTYPE").unwrap_or_else(|_| "f32".into());
    EmbedderOptions {
        model_dir,
        device: device.parse::<DeviceChoice>().expect("RELATE_BENCH_DEVICE"),
        precision: dtype.parse::<Precision>().expect("RELATE_BENCH_DTYPE"),
        ..EmbedderOptions::default()
    }
}

fn bench_embed(c: &mut Criterion) {
    let texts = sample_abstracts();
    let mut sweep_device_is_gpu = false;
    // Every SIMD level this CPU has (capped further by RELATE_SIMD), lowest
    // first, so that one machine reports the figure of each kind of CPU.
    let levels = SimdLevel::available_within_cap();
    for (level, precision) in levels
        .iter()
        .flat_map(|&l| precisions().into_iter().map(move |p| (l, p)))
    {
        simd::set_level(level);
        let loaded = Embedder::load(EmbedderOptions {
            precision,
            ..options()
        });
        let embedder = match loaded {
            Ok(embedder) => embedder,
            // int8 on a GPU: not offered, nothing to measure.
            Err(_) if precision == Precision::Int8 => continue,
            Err(e) => panic!("model loads (run models/fetch.sh first): {e}"),
        };
        sweep_device_is_gpu = !embedder.device().is_cpu();
        let tokens: usize = embedder
            .token_counts(&texts)
            .expect("tokenizes")
            .iter()
            .sum();
        let suffix = if precision == Precision::Int8 {
            "_int8"
        } else {
            ""
        };
        let name = if embedder.device().is_cpu() {
            format!("{}_{level}{suffix}", embedder.device_name())
        } else {
            embedder.device_name()
        };

        let mut group = c.benchmark_group("embed_texts");
        group.sample_size(10);
        group.throughput(Throughput::Elements(texts.len() as u64));
        group.bench_function(format!("{}_abstracts_{name}", texts.len()), |b| {
            b.iter(|| embedder.embed(&texts).expect("embeds"))
        });
        group.finish();

        let mut group = c.benchmark_group("embed_tokens");
        group.sample_size(10);
        group.throughput(Throughput::Elements(tokens as u64));
        group.bench_function(format!("{tokens}_tokens_{name}"), |b| {
            b.iter(|| embedder.embed(&texts).expect("embeds"))
        });
        group.finish();
        if sweep_device_is_gpu {
            // The SIMD level does not matter on a GPU.
            break;
        }
    }
    simd::set_level(levels.last().copied().unwrap_or(SimdLevel::Baseline));

    let sweep = sweep_device_is_gpu || std::env::var_os("RELATE_BENCH_SWEEP").is_some();
    if sweep {
        bench_batch_sizes(c, &texts);
    }
}

/// Texts/s at batch sizes 32 to 512, the token budget out of the way.
fn bench_batch_sizes(c: &mut Criterion, abstracts: &[String]) {
    let texts: Vec<&String> = abstracts.iter().cycle().take(1024).collect();
    let mut group = c.benchmark_group("embed_batch_size");
    group.sample_size(10);
    group.throughput(Throughput::Elements(texts.len() as u64));
    for size in [32, 64, 128, 256, 512] {
        let embedder = Embedder::load(EmbedderOptions {
            max_batch_size: Some(size),
            max_batch_tokens: Some(size * 512),
            ..options()
        })
        .expect("model loads");
        group.bench_function(
            format!(
                "{}_{}_batch_{size}",
                embedder.device_name(),
                options().precision
            ),
            |b| b.iter(|| embedder.embed(&texts).expect("embeds")),
        );
    }
    group.finish();
}

criterion_group!(benches, bench_embed);
criterion_main!(benches);
