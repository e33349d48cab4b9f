//! The paper library end to end through the real binary: ingest the sample
//! digest page, re-ingest, update, and query with `similar`, `search` and
//! `info`, checking the JSON output.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{relate_in, stdout_json};
use serde_json::Value;

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/daily-papers-sample.txt")
}

fn file_summary(summary: &Value) -> &Value {
    &summary["files"][0]
}

#[test]
fn ingest_reingest_update_and_query() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let sample = sample();
    let sample = sample.to_str().unwrap();

    // First ingest stores all 61 papers.
    let summary = stdout_json(&relate_in(&store, &["ingest", "--json", sample]));
    assert_eq!(file_summary(&summary)["format"], "digest");
    assert_eq!(file_summary(&summary)["added"], 61);
    assert_eq!(summary["papers_in_library"], 61);
    assert_eq!(summary["embedded"], 61);

    // Re-ingesting the same file adds and embeds nothing.
    let again = stdout_json(&relate_in(&store, &["ingest", "--json", sample]));
    assert_eq!(file_summary(&again)["added"], 0);
    assert_eq!(file_summary(&again)["unchanged"], 61);
    assert_eq!(again["embedded"], 0);

    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["papers"], 61);
    assert_eq!(info["dimension"], 384);
    assert_eq!(info["model"], "all-MiniLM-L6-v2");

    // `similar` by exact title (case-insensitive): the paper itself is left out.
    let title =
        "faster rates of convergence to stationary points in differentially private optimization";
    let answer = stdout_json(&relate_in(
        &store,
        &["similar", title, "-k", "5", "--json", "--rank", "dense"],
    ));
    assert_eq!(answer["query"]["matched_by"], "title");
    let own_id = answer["query"]["id"].as_str().unwrap().to_string();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|r| r["id"] != own_id.as_str()));
    let scores: Vec<f64> = results
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "results sorted by score: {scores:?}"
    );
    assert_eq!(results[0]["rank"], 1);
    // Its nearest neighbours in this corpus are other differential-privacy papers.
    let top_titles: Vec<String> = results
        .iter()
        .take(3)
        .map(|r| r["title"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(
        top_titles.iter().any(|t| t.contains("privat")),
        "expected a privacy paper near the top: {top_titles:?}"
    );

    // The same paper by id gives the same answer.
    let by_id = stdout_json(&relate_in(
        &store,
        &["similar", &own_id, "-k", "5", "--json", "--rank", "dense"],
    ));
    assert_eq!(by_id["query"]["matched_by"], "id");
    assert_eq!(by_id["results"], answer["results"]);

    // Free-text search finds papers about the text.
    let found = stdout_json(&relate_in(
        &store,
        &[
            "search",
            "federated learning with many clients",
            "-k",
            "3",
            "--json",
        ],
    ));
    let first = found["results"][0]["title"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(
        first.contains("federated"),
        "top result for federated learning: {first}"
    );

    // A changed abstract updates that paper only, and only it is re-embedded.
    let jsonl = dir.path().join("one.jsonl");
    fs::write(&jsonl, format!("{{\"id\":\"{own_id}\",\"title\":\"{title}\",\"abstract\":\"A new abstract about private optimisation.\"}}\n")).unwrap();
    let update = stdout_json(&relate_in(
        &store,
        &["ingest", "--json", jsonl.to_str().unwrap()],
    ));
    assert_eq!(file_summary(&update)["updated"], 1);
    assert_eq!(update["embedded"], 1);
    assert_eq!(update["papers_in_library"], 61);

    // A reader that goes away (`relate similar ... | head -c 10`) ends it quietly.
    let mut child = Command::new(env!("CARGO_BIN_EXE_relate"))
        .args(["similar", &own_id, "-k", "60", "--json"])
        .env("RELATE_MODEL", common::model_dir())
        .env("RELATE_STORE", &store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let closed = child.wait_with_output().unwrap();
    assert!(closed.status.success(), "exit {:?}", closed.status.code());
    assert!(
        closed.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
}

#[test]
fn table_output_lists_rank_score_id_title() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let jsonl = dir.path().join("papers.jsonl");
    fs::write(
        &jsonl,
        concat!(
            "{\"id\":\"a\",\"title\":\"Bandit algorithms for online advertising\",\"abstract\":\"Regret bounds for contextual bandits.\"}\n",
            "{\"id\":\"b\",\"title\":\"Thompson sampling for multi-armed bandits\",\"abstract\":\"Bayesian exploration.\"}\n",
            "{\"id\":\"c\",\"title\":\"Protein folding with deep networks\",\"abstract\":\"Structure prediction.\"}\n",
        ),
    )
    .unwrap();
    assert!(relate_in(&store, &["ingest", jsonl.to_str().unwrap()])
        .status
        .success());
    let out = relate_in(&store, &["similar", "a", "-k", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The header line and the first row of a table printed by `out`.
    let table = |out: &std::process::Output| -> (String, String) {
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines().skip_while(|l| !l.starts_with("rank"));
        let header = lines.next().unwrap_or_else(|| panic!("no table in {text}"));
        let first = lines.next().unwrap_or_else(|| panic!("no rows in {text}"));
        (header.to_string(), first.to_string())
    };
    // A small library ranks hybrid by default: the cosine and the BM25
    // rank it was fused with are both shown.
    let (header, first) = table(&out);
    assert!(
        header.starts_with("rank cosine words id") && header.ends_with("title"),
        "{header}"
    );
    assert!(
        first.contains(" b ") && first.contains("Thompson"),
        "{first}"
    );
    let dense = relate_in(&store, &["similar", "a", "-k", "2", "--rank", "dense"]);
    let (header, first) = table(&dense);
    assert!(
        header.starts_with("rank  score id") && header.ends_with("title"),
        "{header}"
    );
    assert!(
        first.contains(" b ") && !header.contains("words"),
        "{first}"
    );
}

#[test]
fn bad_records_are_reported_and_strict_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let jsonl = dir.path().join("mixed.jsonl");
    fs::write(
        &jsonl,
        "{\"id\":\"x1\",\"title\":\"Graph neural networks\",\"abstract\":\"Message passing.\"}\n{oops\n{\"id\":\"x2\",\"abstract\":\"No title here.\"}\n",
    )
    .unwrap();
    let path = jsonl.to_str().unwrap();

    let strict = relate_in(&store, &["ingest", "--strict", path]);
    assert_eq!(strict.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(
        stderr.contains("mixed.jsonl:2") && stderr.contains("mixed.jsonl:3"),
        "{stderr}"
    );
    assert!(stderr.contains("--strict"), "{stderr}");
    assert_eq!(
        stdout_json(&relate_in(&store, &["info", "--json"]))["papers"],
        0
    );

    let lenient = relate_in(&store, &["ingest", path]);
    assert_eq!(
        lenient.status.code(),
        Some(3),
        "exit code says records were rejected"
    );
    assert_eq!(
        stdout_json(&relate_in(&store, &["info", "--json"]))["papers"],
        1
    );
}

#[test]
fn unknown_paper_and_missing_library_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("nothing-here");
    let out = relate_in(&store, &["similar", "anything"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no library") && stderr.contains("relate ingest"),
        "{stderr}"
    );

    let missing = relate_in(&store, &["ingest", "/nonexistent/papers.jsonl"]);
    assert_ne!(missing.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/papers.jsonl"));
}

#[test]
fn a_folder_holding_other_files_is_not_made_a_library() {
    let dir = tempfile::tempdir().unwrap();
    let papers = dir.path().join("papers.jsonl");
    fs::write(&papers, "{\"title\": \"Graph neural networks\"}\n").unwrap();
    // The folder of the papers file itself, given as the library by mistake.
    let out = relate_in(dir.path(), &["ingest", papers.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("papers.jsonl") && stderr.contains("empty or new folder"),
        "{stderr}"
    );
    assert!(!dir.path().join("library.sqlite").exists());
    // A new folder, or an empty one, is fine.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let out = relate_in(&empty, &["ingest", papers.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
