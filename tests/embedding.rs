//! The embedding engine against the Python reference implementation:
//! parity on the sample abstracts, batched versus one-at-a-time, odd inputs,
//! and model-folder errors.

mod common;

use std::fs;
use std::sync::OnceLock;

use common::{cosine, model_dir, norm, read_references};
use relate::embed::{CpuEngine, DeviceChoice, Embedder, EmbedderOptions};

fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        Embedder::load(EmbedderOptions {
            model_dir: model_dir(),
            device: DeviceChoice::Cpu,
            ..EmbedderOptions::default()
        })
        .expect("model loads")
    })
}

#[test]
fn matches_reference_on_sample_abstracts() {
    let refs = read_references("all-MiniLM-L6-v2.abstracts.jsonl");
    assert_eq!(refs.len(), 61);
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let out = embedder().embed(&texts).unwrap();
    let mut worst = 1.0f64;
    for (i, (r, v)) in refs.iter().zip(&out.vectors).enumerate() {
        assert_eq!(v.len(), 384);
        let c = cosine(&r.embedding, v);
        assert!(c > 0.9999, "abstract {i}: cosine {c} to the reference");
        worst = worst.min(c);
    }
    println!(
        "lowest cosine to the reference over {} abstracts: {worst:.7}",
        refs.len()
    );
}

/// The packed CPU forward pass and candle's tensor forward pass (the code a
/// GPU runs) agree, on the abstracts, odd inputs, and batches of mixed
/// lengths, under every pooling the packed path implements separately.
#[test]
fn packed_and_tensor_forward_passes_agree() {
    let tensors = Embedder::load(EmbedderOptions {
        model_dir: model_dir(),
        device: DeviceChoice::Cpu,
        cpu_engine: CpuEngine::Tensors,
        ..EmbedderOptions::default()
    })
    .unwrap();
    let mut texts: Vec<String> = read_references("all-MiniLM-L6-v2.abstracts.jsonl")
        .into_iter()
        .take(20)
        .map(|r| r.text)
        .collect();
    texts.extend(
        read_references("odd-inputs.reference.jsonl")
            .into_iter()
            .map(|r| r.text),
    );
    let packed = embedder().embed(&texts).unwrap();
    let reference = tensors.embed(&texts).unwrap();
    assert_eq!(packed.tokens, reference.tokens);
    for (i, (p, t)) in packed.vectors.iter().zip(&reference.vectors).enumerate() {
        let worst = p
            .iter()
            .zip(t)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "text {i}: largest difference {worst}");
    }
}

/// The tensor path in f16 and bf16 (what a GPU runs in half precision), here
/// on the CPU: slow, so one long abstract and a few short odd inputs in one
/// batch, whose padding exercises the attention mask (where half precision
/// once gave NaN) and whose long text the softmax's sums (where bf16 once
/// lost precision).
#[test]
fn half_precision_tensor_path_matches_reference() {
    use relate::embed::Precision;
    let refs = read_references("all-MiniLM-L6-v2.abstracts.jsonl");
    let odd = read_references("odd-inputs.reference.jsonl");
    let picked: Vec<&common::Reference> = refs.iter().take(1).chain(odd.iter().take(4)).collect();
    let texts: Vec<&str> = picked.iter().map(|r| r.text.as_str()).collect();
    for precision in [Precision::F16, Precision::Bf16] {
        let half = Embedder::load(EmbedderOptions {
            model_dir: model_dir(),
            device: DeviceChoice::Cpu,
            precision,
            cpu_engine: CpuEngine::Tensors,
            ..EmbedderOptions::default()
        })
        .expect("the tensor engine runs half precision on the CPU");
        let out = half.embed(&texts).unwrap();
        let mut worst = 1.0f64;
        for (i, (r, v)) in picked.iter().zip(&out.vectors).enumerate() {
            assert!(
                v.iter().all(|x| x.is_finite()),
                "{precision}: text {i} is not finite"
            );
            let c = cosine(&r.embedding, v);
            assert!(
                c >= 0.999,
                "{precision}: text {i}: cosine {c} to the reference"
            );
            worst = worst.min(c);
        }
        println!("{precision}: lowest cosine to the reference {worst:.5}");
    }
    // The fast path still refuses half precision on the CPU.
    let refused = Embedder::load(EmbedderOptions {
        model_dir: model_dir(),
        device: DeviceChoice::Cpu,
        precision: Precision::F16,
        ..EmbedderOptions::default()
    });
    assert!(refused.is_err());
}

/// The opt-in int8 mode: every sample abstract and odd input within a
/// cosine of 0.995 of the reference (0.9971 at worst; 0.9933 before
/// outliers were split off, which the bound would catch), and
/// each abstract's ten nearest neighbours among the others mostly the same
/// as the reference's.
#[test]
fn int8_stays_close_to_the_reference_and_keeps_the_neighbours() {
    use relate::embed::Precision;
    let refs = read_references("all-MiniLM-L6-v2.abstracts.jsonl");
    let odd = read_references("odd-inputs.reference.jsonl");
    let int8 = Embedder::load(EmbedderOptions {
        model_dir: model_dir(),
        device: DeviceChoice::Cpu,
        precision: Precision::Int8,
        ..EmbedderOptions::default()
    })
    .unwrap();
    assert!(
        int8.engine_name().contains("int8"),
        "{}",
        int8.engine_name()
    );
    let all: Vec<&common::Reference> = refs.iter().chain(odd.iter()).collect();
    let texts: Vec<&str> = all.iter().map(|r| r.text.as_str()).collect();
    let out = int8.embed(&texts).unwrap();
    let mut worst = 1.0f64;
    for (i, (r, v)) in all.iter().zip(&out.vectors).enumerate() {
        assert!(
            (norm(v) - 1.0).abs() < 1e-4,
            "text {i} is not a unit vector"
        );
        let c = cosine(&r.embedding, v);
        assert!(c >= 0.995, "text {i}: cosine {c} to the reference");
        worst = worst.min(c);
    }
    let nearest = |vectors: &[Vec<f32>], i: usize| -> Vec<usize> {
        let mut others: Vec<(f64, usize)> = (0..vectors.len())
            .filter(|&j| j != i)
            .map(|j| (cosine(&vectors[i], &vectors[j]), j))
            .collect();
        others.sort_by(|a, b| b.0.total_cmp(&a.0));
        others.iter().take(10).map(|&(_, j)| j).collect()
    };
    let reference: Vec<Vec<f32>> = refs.iter().map(|r| r.embedding.clone()).collect();
    let quantized = &out.vectors[..refs.len()];
    let shared: usize = (0..refs.len())
        .map(|i| {
            let want = nearest(&reference, i);
            nearest(quantized, i)
                .iter()
                .filter(|j| want.contains(j))
                .count()
        })
        .sum();
    let agreement = shared as f64 / (10 * refs.len()) as f64;
    println!(
        "int8: lowest cosine to the reference {worst:.5}; top-10 neighbours shared {:.1}%",
        100.0 * agreement
    );
    assert!(agreement >= 0.9, "top-10 neighbours shared: {agreement}");
    // The tensor engine has no int8.
    let refused = Embedder::load(EmbedderOptions {
        model_dir: model_dir(),
        device: DeviceChoice::Cpu,
        precision: Precision::Int8,
        cpu_engine: CpuEngine::Tensors,
        ..EmbedderOptions::default()
    });
    assert!(refused.is_err());
}

#[test]
fn token_counts_match_reference_truncation() {
    let refs = read_references("all-MiniLM-L6-v2.abstracts.jsonl");
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let counts = embedder().token_counts(&texts).unwrap();
    let expected: Vec<usize> = refs
        .iter()
        .map(|r| r.tokens_used.expect("tokens_used"))
        .collect();
    assert_eq!(counts, expected);
    assert!(
        counts.contains(&256),
        "the sample should exercise truncation at 256 tokens"
    );
    let out = embedder().embed(&texts).unwrap();
    assert_eq!(out.tokens, expected.iter().sum::<usize>());
}

#[test]
fn batched_equals_one_at_a_time() {
    let refs = read_references("all-MiniLM-L6-v2.abstracts.jsonl");
    let texts: Vec<&str> = refs.iter().take(24).map(|r| r.text.as_str()).collect();
    let batched = embedder().embed(&texts).unwrap().vectors;
    for (text, b) in texts.iter().zip(&batched) {
        let single = embedder().embed_one(text).unwrap();
        let max_diff = single
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(max_diff < 1e-5, "batched and single differ by {max_diff}");
    }
}

#[test]
fn results_come_back_in_input_order() {
    let texts = [
        "short",
        "a much longer text about differential privacy and optimisation",
        "mid length text",
    ];
    let together = embedder().embed(&texts).unwrap().vectors;
    let reversed: Vec<&str> = texts.iter().rev().copied().collect();
    let apart = embedder().embed(&reversed).unwrap().vectors;
    for i in 0..3 {
        assert!(cosine(&together[i], &apart[2 - i]) > 0.999_999);
    }
    assert!(cosine(&together[0], &together[1]) < 0.99);
}

/// A megabyte abstract embeds as its beginning does: the text the model
/// never sees is cut before tokenising, and nothing it sees changes.
#[test]
fn a_huge_text_embeds_as_its_beginning() {
    let start = "Graph neural networks for molecule property prediction. ";
    let filler = "We describe the experiments in detail and at length. ";
    let beginning = start.to_string() + &filler.repeat(200);
    let huge = start.to_string() + &filler.repeat(20_000);
    assert!(huge.len() > 1_000_000);
    let out = embedder()
        .embed(&[beginning.as_str(), huge.as_str()])
        .unwrap();
    assert_eq!(out.tokens, 2 * 256, "both fill the model's 256 tokens");
    let c = cosine(&out.vectors[0], &out.vectors[1]);
    assert!(c > 0.999_999, "cosine {c}");
}

#[test]
fn odd_inputs_give_unit_vectors_and_match_reference() {
    let refs = read_references("odd-inputs.reference.jsonl");
    assert!(refs.len() >= 8);
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    assert!(
        texts.iter().any(|t| t.chars().count() >= 50_000),
        "fixture holds a 50,000-character text"
    );
    let out = embedder().embed(&texts).unwrap();
    for (r, v) in refs.iter().zip(&out.vectors) {
        assert!(v.iter().all(|x| x.is_finite()));
        assert!(
            (norm(v) - 1.0).abs() < 1e-4,
            "not unit length for {:?}",
            short(&r.text)
        );
        let c = cosine(&r.embedding, v);
        assert!(
            c > 0.9999,
            "cosine {c} to the reference for {:?}",
            short(&r.text)
        );
    }
}

fn short(text: &str) -> String {
    text.chars().take(40).collect()
}

fn copy_model() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&model_dir(), dir.path());
    dir
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn load_error(dir: &std::path::Path) -> String {
    match Embedder::load(EmbedderOptions {
        model_dir: dir.to_path_buf(),
        device: DeviceChoice::Cpu,
        ..EmbedderOptions::default()
    }) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_model_folder_says_how_to_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_error(&dir.path().join("nope"));
    assert!(
        err.contains("does not exist") && err.contains("models/fetch.sh"),
        "{err}"
    );
}

#[test]
fn missing_or_broken_files_are_named() {
    let model = copy_model();
    fs::remove_file(model.path().join("tokenizer.json")).unwrap();
    let err = load_error(model.path());
    assert!(
        err.contains("tokenizer.json") && err.contains("missing"),
        "{err}"
    );

    let model = copy_model();
    fs::write(model.path().join("config.json"), "{ not json").unwrap();
    let err = load_error(model.path());
    assert!(
        err.contains("config.json") && err.contains("not valid"),
        "{err}"
    );

    let model = copy_model();
    let weights = model.path().join("model.safetensors");
    let len = fs::metadata(&weights).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&weights)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let err = load_error(model.path());
    assert!(err.contains("model.safetensors"), "{err}");

    let model = copy_model();
    fs::write(
        model.path().join("1_Pooling/config.json"),
        r#"{"pooling_mode_mean_tokens": false}"#,
    )
    .unwrap();
    let err = load_error(model.path());
    assert!(
        err.contains("1_Pooling") && err.contains("no pooling mode"),
        "{err}"
    );
}

#[test]
fn inconsistent_config_is_refused() {
    let model = copy_model();
    let path = model.path().join("config.json");
    let config = fs::read_to_string(&path)
        .unwrap()
        .replace("\"hidden_size\": 384", "\"hidden_size\": 768");
    fs::write(&path, config).unwrap();
    let err = load_error(model.path());
    assert!(
        err.contains("model.safetensors") && err.contains("does not match config.json"),
        "{err}"
    );
}

#[test]
fn settings_come_from_sentence_transformers_files() {
    let e = embedder();
    assert_eq!(e.folder().max_seq_len, 256);
    assert_eq!(e.folder().pooling, relate::embed::Pooling::Mean);
    assert!(e.folder().normalize);
    assert_eq!(e.dim(), 384);
}

/// The model folder with every weight stored as `dtype` (f16 or bf16) and
/// the names under `prefix`, as checkpoints saved in half precision or from
/// a task model are.
fn model_stored_as(dtype: safetensors::Dtype, prefix: &str) -> tempfile::TempDir {
    let model = copy_model();
    let path = model.path().join("model.safetensors");
    let bytes = fs::read(&path).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let converted: Vec<(String, Vec<usize>, Vec<u8>, safetensors::Dtype)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            // Integer tensors (position ids) stay as they are.
            if view.dtype() != safetensors::Dtype::F32 {
                let shape = view.shape().to_vec();
                return (
                    format!("{prefix}{name}"),
                    shape,
                    view.data().to_vec(),
                    view.dtype(),
                );
            }
            let data = view
                .data()
                .chunks_exact(4)
                .flat_map(|b| {
                    let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    match dtype {
                        safetensors::Dtype::F16 => half::f16::from_f32(x).to_le_bytes(),
                        _ => half::bf16::from_f32(x).to_le_bytes(),
                    }
                })
                .collect();
            (
                format!("{prefix}{name}"),
                view.shape().to_vec(),
                data,
                dtype,
            )
        })
        .collect();
    let views = converted.iter().map(|(name, shape, data, dtype)| {
        (
            name.clone(),
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap(),
        )
    });
    fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    model
}

#[test]
fn half_precision_checkpoints_load_on_the_cpu_and_embed_alike() {
    let texts: Vec<String> = read_references("all-MiniLM-L6-v2.abstracts.jsonl")
        .into_iter()
        .take(6)
        .map(|r| r.text)
        .collect();
    let full = embedder().embed(&texts).unwrap().vectors;
    for (dtype, prefix, least) in [
        (safetensors::Dtype::F16, "", 0.999),
        (safetensors::Dtype::BF16, "bert.", 0.99),
    ] {
        let model = model_stored_as(dtype, prefix);
        let half = Embedder::load(EmbedderOptions {
            model_dir: model.path().to_path_buf(),
            device: DeviceChoice::Cpu,
            ..EmbedderOptions::default()
        })
        .unwrap_or_else(|e| panic!("{dtype:?}: {e}"));
        let vectors = half.embed(&texts).unwrap().vectors;
        for (text, (a, b)) in texts.iter().zip(full.iter().zip(&vectors)) {
            let cos = cosine(a, b);
            assert!(cos >= least, "{dtype:?} {}: cos {cos}", short(text));
            // Not the f32 weights under another name.
            assert!(cos < 0.999_999_9, "{dtype:?} {}: cos {cos}", short(text));
        }
    }
}
