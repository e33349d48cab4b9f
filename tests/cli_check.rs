//! `relate info --check` finds damage and `relate repair` mends what it
//! can: a flipped byte in a vector only the vector file keeps (its paper is
//! named and embedded again by the next ingest), a missing
//! manifest, unreadable topics, a vector file from before checksums. A
//! truncated database is reported and left exactly as it was.

mod common;

use std::fs;
use std::path::Path;

use common::{downgrade_to_version_2, relate_in, stdout_json, succeed};
use serde_json::Value;

const PAPERS: usize = 40;

fn library(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("library");
    let input = dir.join("papers.jsonl");
    let lines: String = (0..PAPERS)
        .map(|i| {
            format!(
                "{{\"id\":\"p{i}\",\"title\":\"Paper {i} on topic {}\",\"abstract\":\"Abstract {i}.\"}}\n",
                i % 5
            )
        })
        .collect();
    fs::write(&input, lines).unwrap();
    succeed(&relate_in(&store, &["ingest", input.to_str().unwrap()]));
    store
}

/// Runs `info --check --json`: the exit code and the report.
fn check(store: &Path) -> (i32, Value) {
    let out = relate_in(store, &["info", "--check", "--json"]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

fn problems(report: &Value) -> String {
    report["problems"].to_string()
}

fn assert_sound(store: &Path) -> Value {
    let (code, report) = check(store);
    assert_eq!(code, 0, "problems: {}", problems(&report));
    assert_eq!(report["problems"].as_array().unwrap().len(), 0);
    assert_eq!(report["details"]["papers"], PAPERS);
    assert_eq!(report["details"]["vectors_checked"], PAPERS);
    report
}

fn repair(store: &Path) -> Value {
    repair_with(store, &[])
}

fn repair_with(store: &Path, flags: &[&str]) -> Value {
    let mut args = vec!["repair", "--json"];
    args.extend_from_slice(flags);
    stdout_json(&relate_in(store, &args))
}

#[test]
fn check_finds_damage_and_repair_mends_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = library(dir.path());
    let report = assert_sound(&store);
    assert_eq!(report["details"]["vector_file"], "current");
    assert_eq!(report["details"]["vector_file_checksum"], true);

    // A flipped byte in the vector body: found by the check, refused by
    // queries with the fix, mended by repair.
    let vectors = store.join("vectors.f32");
    let mut bytes = fs::read(&vectors).unwrap();
    bytes[64 + 4 * 384 * 7 + 13] ^= 0x10;
    fs::write(&vectors, &bytes).unwrap();
    let (code, report) = check(&store);
    assert_eq!(code, 1);
    assert_eq!(report["details"]["vector_file"], "damaged");
    assert!(problems(&report).contains("checksum"), "{report}");
    assert!(problems(&report).contains("relate repair"), "{report}");
    let query = relate_in(&store, &["similar", "p0", "-k", "3"]);
    assert_eq!(query.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&query.stderr).contains("relate repair"),
        "{}",
        String::from_utf8_lossy(&query.stderr)
    );
    assert!(problems(&report).contains("slots 7"), "{report}");
    // The vector was kept only in the file: repair names its paper and
    // marks it for embedding again, which the next ingest does.
    let out = relate_in(&store, &["repair", "--json"]);
    assert_eq!(out.status.code(), Some(1), "a problem remains until ingest");
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions = done["actions"].to_string();
    assert!(actions.contains("rebuilt vectors.f32"), "{actions}");
    assert!(
        actions.contains("1 papers had lost their vectors"),
        "{actions}"
    );
    assert!(actions.contains("p7"), "{actions}");
    assert_eq!(done["lost_papers"], serde_json::json!(["p7"]));
    let from = &done["lost_papers_sources"][0];
    assert!(
        from["file"].as_str().unwrap().ends_with("papers.jsonl") && from["papers"] == 1,
        "{done}"
    );
    let (code, report) = check(&store);
    assert_eq!(code, 1);
    assert!(
        problems(&report).contains("1 papers lost their vectors"),
        "{report}"
    );
    succeed(&relate_in(&store, &["similar", "p0", "-k", "3"]));
    succeed(&relate_in(
        &store,
        &["ingest", dir.path().join("papers.jsonl").to_str().unwrap()],
    ));
    assert_sound(&store);
    let similar = stdout_json(&relate_in(&store, &["similar", "p7", "-k", "1", "--json"]));
    assert_ne!(similar["results"][0]["score"], 0.0, "{similar}");

    // A missing manifest.
    fs::remove_file(store.join("manifest.json")).unwrap();
    let (code, report) = check(&store);
    assert_eq!(code, 1);
    assert!(problems(&report).contains("manifest.json"), "{report}");
    let done = repair(&store);
    assert!(done["actions"]
        .to_string()
        .contains("restored manifest.json"));
    assert!(store.join("manifest.json").is_file());
    assert_sound(&store);

    // Unreadable topics are removed; a stale index is removed.
    succeed(&relate_in(&store, &["index"]));
    assert_eq!(assert_sound(&store)["hnsw_index"], "fresh");
    fs::write(
        store.join("index/topics.json"),
        b"{\"format_version\": 2, \"gen",
    )
    .unwrap();
    let (code, report) = check(&store);
    assert_eq!((code, report["topics"].as_str()), (1, Some("damaged")));
    fs::write(store.join("index/generation"), b"0").unwrap();
    let done = repair(&store);
    let actions = done["actions"].to_string();
    assert!(actions.contains("removed the saved topics"), "{actions}");
    assert!(
        actions.contains("removed the saved HNSW index (stale)"),
        "{actions}"
    );
    assert!(!store.join("index/topics.json").exists());
    assert_eq!(assert_sound(&store)["hnsw_index"], "none");

    // A vector file written before checksums (of its body and of its
    // header) passes, and gains them on the next write.
    let mut bytes = fs::read(&vectors).unwrap();
    bytes[40..56].fill(0);
    fs::write(&vectors, &bytes).unwrap();
    let report = assert_sound(&store);
    assert_eq!(report["details"]["vector_file_checksum"], false);
    succeed(&relate_in(&store, &["similar", "p1", "-k", "2"]));
    repair(&store);
    assert_eq!(
        assert_sound(&store)["details"]["vector_file_checksum"],
        true
    );
}

#[test]
fn damaged_database_is_reported_and_never_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = library(dir.path());
    let db = store.join("library.sqlite");
    let len = fs::metadata(&db).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&db).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    let before = fs::read(&db).unwrap();

    let (code, report) = check(&store);
    assert_eq!(code, 1);
    let found = problems(&report);
    assert!(found.contains("the database is damaged"), "{found}");
    assert!(found.contains("backup"), "{found}");

    let out = relate_in(&store, &["repair"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("damaged") && err.contains("backup"), "{err}");
    assert_eq!(
        fs::read(&db).unwrap(),
        before,
        "repair left the database as it was"
    );
}

#[test]
fn repair_compact_keeps_each_vector_of_an_older_library_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = library(dir.path());
    downgrade_to_version_2(&store);
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["format_version"], 2);
    assert_sound(&store);

    let done = repair_with(&store, &["--compact"]);
    let actions = done["actions"].to_string();
    assert!(
        actions.contains(&format!("kept {PAPERS} vectors once")),
        "{actions}"
    );
    assert_sound(&store);
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["format_version"], relate::store::FORMAT_VERSION);
    succeed(&relate_in(&store, &["similar", "p3", "-k", "2"]));

    // The vectors now live in the file alone.
    fs::remove_file(store.join("vectors.f32")).unwrap();
    let (code, report) = check(&store);
    assert_eq!(code, 1);
    assert!(
        problems(&report).contains(&format!("{PAPERS} vectors that only this file keeps")),
        "{report}"
    );
}

/// A vector file too large to be checked whole whenever it is opened
/// (over 64 MiB): answers check the rows they use against the checksums
/// the database keeps, so a damaged row is an error naming the file, not
/// a wrong answer; answers that do not use it are unaffected.
#[test]
fn answers_check_the_rows_they_use_in_a_large_vector_file() {
    use relate::corpus::Paper;
    use relate::store::{Library, ModelInfo};

    const DIM: usize = 384;
    const LARGE: usize = 45_000; // 69 MB of vectors
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let model = ModelInfo {
        id: "test-model".into(),
        dim: DIM,
        fingerprint: None,
    };
    let mut library = Library::open_or_create(&store, &model).unwrap();
    // Stand-in unit vectors, all different; paper 1 has paper 0's vector.
    let vector = |i: usize| {
        let i = if i == 1 { 0 } else { i };
        let mut v = vec![0.0f32; DIM];
        v[i % DIM] = 1.0;
        v[(i / DIM) % DIM] += 0.5;
        v[(i * 7 + 3) % DIM] += 0.25;
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    for start in (0..LARGE).step_by(5_000) {
        let batch = (start..start + 5_000)
            .map(|i| {
                let paper = Paper {
                    id: format!("p{i}"),
                    title: format!("Paper {i}"),
                    abstract_text: format!("Abstract {i}."),
                    ..Paper::default()
                };
                (paper, Some(vector(i)))
            })
            .collect();
        library.upsert(batch).unwrap();
    }
    library.vectors().unwrap();
    drop(library);

    // Damage paper 0's vector (slot 0) on disk.
    let vectors = store.join("vectors.f32");
    let mut bytes = fs::read(&vectors).unwrap();
    assert!(bytes.len() > 64 << 20);
    bytes[64 + 13] ^= 0x10;
    fs::write(&vectors, bytes).unwrap();

    let similar = |id: &str| common::relate_without_model(&store, &["similar", id, "-k", "3"]);
    // Asked about, or listed (paper 1's nearest is paper 0): an error.
    for id in ["p0", "p1"] {
        let out = similar(id);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{id}: {stderr}");
        assert!(
            stderr.contains("vectors.f32") && stderr.contains("slot 0"),
            "{id}: {stderr}"
        );
        assert!(stderr.contains("relate repair"), "{id}: {stderr}");
    }
    // An answer that does not use the damaged row.
    succeed(&similar("p44999"));
    let (code, report) = check(&store);
    assert_eq!(code, 1, "{}", problems(&report));
}
