//! Helpers shared by the integration tests: where the model and the
//! reference data are, and small vector utilities.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The model folder for tests: `RELATE_MODEL` if set, else the project's
/// `models/all-MiniLM-L6-v2`, fetched with `models/fetch.sh` on first use so
/// that `cargo test` works on a fresh clone.
pub fn model_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(p) = std::env::var_os("RELATE_MODEL") {
            return PathBuf::from(p);
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join("models/all-MiniLM-L6-v2");
        if !dir.join("model.safetensors").is_file() {
            let status = Command::new("bash")
                .arg(root.join("models/fetch.sh"))
                .status()
                .expect("models/fetch.sh can be started");
            assert!(
                status.success(),
                "models/fetch.sh failed: the tests need the model"
            );
        }
        dir
    })
    .clone()
}

/// A path inside the project.
pub fn root(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `(title, abstract)` of the sample page's papers
/// (`data/daily-papers-sample.txt`), in page order.
pub fn sample_page_papers() -> Vec<(String, String)> {
    let page = std::fs::read_to_string(root("data/daily-papers-sample.txt")).unwrap();
    let paragraphs: Vec<&str> = page
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let papers: Vec<(String, String)> = paragraphs[5..]
        .chunks(2)
        .map(|pair| (pair[0].to_string(), pair[1].to_string()))
        .collect();
    assert_eq!(papers.len(), 61);
    papers
}

/// The `id` of each line of JSON Lines text (an export).
pub fn jsonl_ids(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// One line of a reference-embeddings file.
#[derive(serde::Deserialize)]
pub struct Reference {
    pub text: String,
    #[serde(default)]
    pub tokens_used: Option<usize>,
    pub embedding: Vec<f32>,
}

pub fn read_references(name: &str) -> Vec<Reference> {
    let text = std::fs::read_to_string(fixture(name)).expect("reference file is readable");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("reference line is valid JSON"))
        .collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "vectors differ in length");
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

pub fn norm(a: &[f32]) -> f64 {
    a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
}

/// Runs the `relate` binary on the library in `store` with the test model.
pub fn relate_in(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relate"))
        .args(args)
        .env("RELATE_MODEL", model_dir())
        .env("RELATE_STORE", store)
        .env_remove("COLUMNS")
        .output()
        .expect("relate starts")
}

/// Runs the `relate` binary on the library in `store` with no model folder
/// at hand (so only libraries and files that carry their vectors work).
pub fn relate_without_model(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relate"))
        .args(args)
        .env("RELATE_MODEL", store.with_extension("no-model-here"))
        .env("RELATE_STORE", store)
        .env_remove("COLUMNS")
        .output()
        .expect("relate starts")
}

/// Asserts that a run succeeded, showing its stderr when it did not.
pub fn succeed(out: &Output) -> &Output {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The standard output of a successful run, parsed as JSON.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&succeed(out).stdout).expect("stdout is JSON")
}

/// Turns the library in `store` into one as format version 1 wrote it: a
/// manifest without a model fingerprint, and the same in the database.
pub fn downgrade_to_version_1(store: &Path) {
    let manifest_path = store.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["format_version"] = 1.into();
    manifest["model"]
        .as_object_mut()
        .unwrap()
        .remove("fingerprint");
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let db = rusqlite::Connection::open(store.join("library.sqlite")).unwrap();
    db.execute_batch(
        "UPDATE meta SET value = 1 WHERE key = 'format_version';
         DELETE FROM meta WHERE key = 'model_fingerprint';",
    )
    .unwrap();
}

/// Copies the model folder `from` (and its subfolders) to `to`.
pub fn copy_model(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_model(&entry.path(), &target);
        } else if entry.file_name() != ".relate-fingerprint.json" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Temporary files anywhere under `dir`.
pub fn temp_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            found.extend(temp_files(&entry.path()));
        } else if name.contains(".tmp") {
            found.push(entry.path().display().to_string());
        }
    }
    found
}

/// Turns the library in `dir` into one as format version 2 wrote it: every
/// vector whole in its database row as well as in the vector file.
pub fn downgrade_to_version_2(dir: &Path) {
    let vectors = std::fs::read(dir.join("vectors.f32")).unwrap();
    let manifest_path = dir.join("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let row = manifest["model"]["dim"].as_u64().unwrap() as usize * 4;
    let db = rusqlite::Connection::open(dir.join("library.sqlite")).unwrap();
    let slots: Vec<i64> = db
        .prepare("SELECT slot FROM vectors WHERE length(vector) = 4")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for slot in slots {
        let at = 64 + slot as usize * row;
        db.execute(
            "UPDATE vectors SET vector = ?2 WHERE slot = ?1",
            rusqlite::params![slot, &vectors[at..at + row]],
        )
        .unwrap();
    }
    db.execute("UPDATE meta SET value = 2 WHERE key = 'format_version'", [])
        .unwrap();
    let mut manifest = manifest;
    manifest["format_version"] = 2.into();
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
}
