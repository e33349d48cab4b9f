//! `--rank hybrid` end to end through the real binary, on a small library
//! of sample papers (every third paper of `data/daily-papers-sample.txt`
//! plus those the exact terms below come from): an exact term that dense
//! ranking misses, the full-text index following a re-worded abstract, a
//! library made before the index, and user text that is not FTS5 syntax.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{relate_in, sample_page_papers, stdout_json, succeed};
use serde_json::{json, Value};

/// The paper whose abstract alone names the CUTEst test set.
const CUTEST_PAPER: &str = "Constrained Optimization via Exact Augmented Lagrangian";
/// The paper whose abstract alone names PutnamBench.
const PUTNAM_PAPER: &str = "STP: Self-play LLM Theorem Provers";

/// The test papers as JSON lines, with ids `p0`, `p1`, ...
fn subset() -> Vec<Value> {
    sample_page_papers()
        .into_iter()
        .enumerate()
        .filter(|(i, (title, _))| {
            i % 3 == 0 || title.starts_with(CUTEST_PAPER) || title.starts_with(PUTNAM_PAPER)
        })
        .map(|(i, (title, abstract_text))| {
            json!({"id": format!("p{i}"), "title": title, "abstract": abstract_text})
        })
        .collect()
}

fn write_jsonl(path: &Path, papers: &[Value]) {
    let text: String = papers.iter().map(|p| format!("{p}\n")).collect();
    fs::write(path, text).unwrap();
}

/// A fresh folder for one test.
fn test_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cli_hybrid")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The library of the subset, built once and only read by the tests that
/// share it.
fn shared_library() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = test_dir("shared");
        let file = dir.join("papers.jsonl");
        write_jsonl(&file, &subset());
        let store = dir.join("library");
        succeed(&relate_in(&store, &["ingest", file.to_str().unwrap()]));
        store
    })
}

fn json_of(store: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    stdout_json(&relate_in(store, &all))
}

fn titles(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["title"].as_str().unwrap().to_string())
        .collect()
}

/// 0-based place of the paper whose title starts with `prefix`.
fn place(answer: &Value, prefix: &str) -> Option<usize> {
    titles(answer).iter().position(|t| t.starts_with(prefix))
}

#[test]
fn hybrid_search_finds_a_rare_exact_term_that_dense_ranks_lower() {
    let store = shared_library();
    let k = ["-k", "30"];
    for (term, paper) in [("CUTEst", CUTEST_PAPER), ("PutnamBench", PUTNAM_PAPER)] {
        let dense = json_of(
            store,
            &[&["search", term, "--rank", "dense"][..], &k].concat(),
        );
        let hybrid = json_of(
            store,
            &[&["search", term, "--rank", "hybrid"][..], &k].concat(),
        );
        assert_eq!(dense["query"]["rank"], "dense");
        assert_eq!(hybrid["query"]["rank"], "hybrid");
        let dense_place = place(&dense, paper).expect("every paper is among 30");
        assert!(dense_place > 0, "{term}: dense already ranks {paper} first");
        assert_eq!(
            place(&hybrid, paper),
            Some(0),
            "{term}: {:?}",
            titles(&hybrid)
        );
        let first = &hybrid["results"][0];
        assert_eq!(first["lexical_rank"], 1);
        assert!(first["fused"].as_f64().unwrap() > 0.0);
        // The score stays the dense cosine of the same paper.
        let same = &dense["results"][dense_place];
        assert_eq!(first["id"], same["id"]);
        assert!((first["score"].as_f64().unwrap() - same["score"].as_f64().unwrap()).abs() < 1e-6);
        assert!(dense["results"][0].get("fused").is_none());
    }
}

#[test]
fn hybrid_recommend_and_similar_use_the_exact_terms_of_what_is_liked() {
    let store = shared_library();
    let dense = json_of(
        store,
        &[
            "recommend",
            "--like-text",
            "CUTEst",
            "--rank",
            "dense",
            "-k",
            "30",
        ],
    );
    let hybrid = json_of(
        store,
        &[
            "recommend",
            "--like-text",
            "CUTEst",
            "--rank",
            "hybrid",
            "-k",
            "30",
        ],
    );
    assert_eq!(hybrid["query"]["rank"], "hybrid");
    assert_eq!(hybrid["query"]["lexical_terms"], json!(["cutest"]));
    assert!(place(&dense, CUTEST_PAPER).unwrap() > 0);
    assert_eq!(place(&hybrid, CUTEST_PAPER), Some(0));
    assert_eq!(hybrid["results"][0]["lexical_rank"], 1);
    // The reasons are still given.
    assert!(hybrid["results"][0]["because"]["positives"][0]["title"] == "CUTEst");

    let similar = json_of(store, &["similar", "p0", "--rank", "hybrid", "-k", "5"]);
    assert_eq!(similar["query"]["rank"], "hybrid");
    // Hybrid is the default where the library has its full-text index.
    let default = json_of(store, &["similar", "p0", "-k", "5"]);
    assert_eq!(default["query"]["rank"], "hybrid");
    assert_eq!(titles(&default), titles(&similar));
    let liked = json_of(store, &["recommend", "--like", "p0", "-k", "3"]);
    assert_eq!(liked["query"]["rank"], "hybrid");
    assert_eq!(similar["results"].as_array().unwrap().len(), 5);
    assert!(titles(&similar).iter().all(|t| t != &subset()[0]["title"]));
}

#[test]
fn odd_query_text_is_searched_as_words_not_fts_syntax() {
    let store = shared_library();
    for text in [
        "C++",
        "\"",
        "-",
        "NEAR(proof theorem, 2)",
        "*",
        "theorem* AND OR NOT -proving \"unclosed",
        "col:umn ^start {a b}",
    ] {
        let answer = json_of(store, &["search", text, "--rank", "hybrid", "-k", "3"]);
        assert_eq!(answer["results"].as_array().unwrap().len(), 3, "{text}");
        let liked = json_of(
            store,
            &[
                "recommend",
                "--like-text",
                text,
                "--rank",
                "hybrid",
                "-k",
                "3",
            ],
        );
        assert_eq!(liked["results"].as_array().unwrap().len(), 3, "{text}");
    }
}

#[test]
fn the_text_index_follows_a_reworded_abstract() {
    let dir = test_dir("reworded");
    let store = dir.join("library");
    let file = dir.join("papers.jsonl");
    let mut papers: Vec<Value> = subset().into_iter().take(4).collect();
    papers[1]["abstract"] = json!("We introduce the zorblax estimator for sparse regression.");
    write_jsonl(&file, &papers);
    succeed(&relate_in(&store, &["ingest", file.to_str().unwrap()]));
    let hit = |term: &str| -> Option<Value> {
        let answer = json_of(&store, &["search", term, "--rank", "hybrid", "-k", "4"]);
        answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["lexical_rank"] == 1)
            .map(|r| r["id"].clone())
    };
    assert_eq!(hit("zorblax"), Some(json!("p3")));
    assert_eq!(hit("quintessa"), None);

    papers[1]["abstract"] = json!("We introduce the quintessa estimator for sparse regression.");
    write_jsonl(&file, &papers);
    succeed(&relate_in(&store, &["ingest", file.to_str().unwrap()]));
    assert_eq!(hit("zorblax"), None, "the old abstract's words are gone");
    assert_eq!(hit("quintessa"), Some(json!("p3")));
}

#[test]
fn a_library_made_before_the_text_index_answers_dense_and_gets_it_on_the_next_write() {
    let dir = test_dir("before_index");
    let store = dir.join("library");
    let file = dir.join("papers.jsonl");
    write_jsonl(&file, &subset().into_iter().take(4).collect::<Vec<_>>());
    succeed(&relate_in(&store, &["ingest", file.to_str().unwrap()]));
    // What a library made before the index holds: no table, no entry.
    {
        let db = rusqlite::Connection::open(store.join("library.sqlite")).unwrap();
        db.execute_batch(
            "DROP TABLE paper_text; DELETE FROM meta WHERE key = 'text_index_generation';",
        )
        .unwrap();
    }
    let dense = json_of(&store, &["similar", "p0", "--rank", "dense", "-k", "2"]);
    assert_eq!(dense["results"].as_array().unwrap().len(), 2);
    // Without --rank such a library is ranked densely, without an error.
    let default = json_of(&store, &["similar", "p0", "-k", "2"]);
    assert_eq!(default["query"]["rank"], "dense");
    for args in [
        &["similar", "p0", "--rank", "hybrid"][..],
        &["search", "theorem", "--rank", "hybrid"][..],
        &["recommend", "--like", "p0", "--rank", "hybrid"][..],
    ] {
        let out = relate_in(&store, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("no full-text index") && stderr.contains("relate index"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // The next write (an ingest of nothing new) builds it.
    succeed(&relate_in(&store, &["ingest", file.to_str().unwrap()]));
    let hybrid = json_of(&store, &["similar", "p0", "--rank", "hybrid", "-k", "2"]);
    assert_eq!(hybrid["query"]["rank"], "hybrid");
    assert_eq!(hybrid["results"].as_array().unwrap().len(), 2);
}
