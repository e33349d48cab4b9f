//! `relate index` and the automatic choice of search method, through the
//! real binary, on a synthetic library large enough for the HNSW index to
//! be used without asking.

mod common;

use std::path::Path;

use common::{relate_in, stdout_json, succeed};
use relate::corpus::Paper;
use relate::index::{clustered_unit_vectors, AUTO_MIN_RECALL, EXACT_SEARCH_CROSSOVER};
use relate::store::{Library, ModelInfo};

const DIM: usize = 384;

/// A library of `n` papers with clustered made-up vectors, recorded as
/// made by all-MiniLM-L6-v2 so every command accepts it.
fn synthetic_library(dir: &Path, n: usize) {
    library_of_vectors(dir, &clustered_unit_vectors(n, DIM, 40, 1.0, 17));
}

/// A library of made-up papers with these vectors (see
/// [`synthetic_library`]).
fn library_of_vectors(dir: &Path, vectors: &[f32]) {
    let n = vectors.len() / DIM;
    let mut library = Library::open_or_create(
        dir,
        &ModelInfo {
            id: "all-MiniLM-L6-v2".into(),
            dim: DIM,
            fingerprint: None,
        },
    )
    .unwrap();
    let batch = (0..n)
        .map(|i| {
            let paper = Paper {
                id: format!("p{i}"),
                title: format!("Paper number {i}"),
                abstract_text: format!("Abstract {i}."),
                ..Paper::default()
            };
            (paper, Some(vectors[i * DIM..(i + 1) * DIM].to_vec()))
        })
        .collect();
    library.upsert(batch).unwrap();
}

/// The ids of a query's results, best first.
fn ids(answer: &serde_json::Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn similar(store: &Path, extra: &[&str]) -> serde_json::Value {
    // Dense ranking: these tests are about the search structure.
    let mut args = vec!["similar", "p7", "-k", "5", "--json", "--rank", "dense"];
    args.extend(extra);
    stdout_json(&relate_in(store, &args))
}

#[test]
fn a_large_library_uses_its_index_once_built_and_exact_search_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    synthetic_library(&store, EXACT_SEARCH_CROSSOVER);

    // No index yet: exact search, and --hnsw is an error.
    let exact = similar(&store, &[]);
    assert_eq!(exact["query"]["method"], "exact", "{exact}");
    let out = relate_in(&store, &["similar", "p7", "--hnsw"]);
    assert_eq!(out.status.code(), Some(1));
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["default_search"], "exact");
    assert_eq!(info["hnsw_index"], "none");

    // The index at its defaults: the search beam is tuned to the target
    // recall, and the self-check on another sample is printed.
    let out = relate_in(&store, &["index"]);
    let stderr = String::from_utf8_lossy(&succeed(&out).stderr).to_string();
    assert!(stderr.contains("recall@10"), "{stderr}");
    assert!(
        stderr.contains("is the smallest that reaches recall@10 0.97"),
        "{stderr}"
    );

    let auto = similar(&store, &[]);
    assert_eq!(auto["query"]["method"], "hnsw", "{auto}");
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["default_search"], "hnsw");
    assert_eq!(info["hnsw_index"], "fresh");
    // The index finds most of what exact search finds (its recall is
    // measured in tests/index_recall.rs; here the neighbours of a paper
    // lie at nearly equal distances, so an exact match of all five is not
    // expected).
    assert_eq!(ids(&auto).len(), 5);
    let forced = similar(&store, &["--exact"]);
    assert_eq!(forced["query"]["method"], "exact");
    let shared = ids(&auto)
        .iter()
        .filter(|id| ids(&forced).contains(id))
        .count();
    assert!(
        shared >= 4,
        "hnsw {:?} vs exact {:?}",
        ids(&auto),
        ids(&forced)
    );

    // A damaged index file costs speed, not answers: back to exact search.
    let hnsw_dir = store.join("index").join("hnsw");
    for entry in std::fs::read_dir(&hnsw_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "links") {
            std::fs::write(&path, b"not a graph").unwrap();
        }
    }
    let fallback = similar(&store, &[]);
    assert_eq!(fallback["query"]["method"], "exact", "{fallback}");
    assert_eq!(ids(&fallback), ids(&forced));
    let out = relate_in(&store, &["similar", "p7", "--hnsw"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("index"));
}

#[test]
fn an_index_that_misses_too_many_neighbours_is_used_only_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    // Vectors with no clusters (members of the one "cluster" are nearly
    // orthogonal), and a graph too sparse for them: its tuned recall
    // falls far below the floor for automatic use.
    library_of_vectors(
        &store,
        &clustered_unit_vectors(EXACT_SEARCH_CROSSOVER, DIM, 1, 20.0, 5),
    );
    let out = relate_in(
        &store,
        &["index", "--max-connections", "2", "--ef-construction", "8"],
    );
    let stderr = String::from_utf8_lossy(&succeed(&out).stderr).to_string();
    assert!(stderr.contains("below recall@10 0.9"), "{stderr}");
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["hnsw_index"], "fresh", "{info}");
    assert_eq!(info["default_search"], "exact", "{info}");
    let tuned = info["hnsw_recall"].as_f64().unwrap();
    assert!(tuned < AUTO_MIN_RECALL, "{info}");
    let text = String::from_utf8_lossy(&succeed(&relate_in(&store, &["info"])).stdout).to_string();
    assert!(text.contains("too low to use unless --hnsw"), "{text}");

    let auto = similar(&store, &[]);
    assert_eq!(auto["query"]["method"], "exact", "{auto}");
    let forced = similar(&store, &["--hnsw"]);
    assert_eq!(forced["query"]["method"], "hnsw", "{forced}");

    // The same vectors with the default graph: its tuned recall reaches
    // the floor, and the index is used again.
    succeed(&relate_in(&store, &["index", "--rebuild"]));
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert!(
        info["hnsw_recall"].as_f64().unwrap() >= AUTO_MIN_RECALL,
        "{info}"
    );
    assert_eq!(info["default_search"], "hnsw", "{info}");
    assert_eq!(similar(&store, &[])["query"]["method"], "hnsw");
}

#[test]
fn hybrid_ranking_is_the_default_up_to_its_size_limit_and_dense_above() {
    use relate::lexical::HYBRID_DEFAULT_MAX_PAPERS;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    synthetic_library(&store, HYBRID_DEFAULT_MAX_PAPERS);
    let rank = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["similar", "p7", "-k", "3", "--json"];
        args.extend(extra);
        stdout_json(&relate_in(&store, &args))["query"]["rank"].clone()
    };
    assert_eq!(rank(&[]), "hybrid");

    // One paper more: dense unless asked.
    let mut library = Library::open(&store).unwrap();
    let one_more = Paper {
        id: "extra".into(),
        title: "One paper more".into(),
        ..Paper::default()
    };
    let mut vector = vec![0.0; DIM];
    vector[0] = 1.0;
    library.upsert(vec![(one_more, Some(vector))]).unwrap();
    drop(library);
    assert_eq!(rank(&[]), "dense");
    assert_eq!(rank(&["--rank", "hybrid"]), "hybrid");
}

#[test]
fn the_search_beam_is_tuned_unless_given_and_either_builder_can_be_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    synthetic_library(&store, 1_500);
    let saved_ef = |store: &Path| -> u64 {
        let text = std::fs::read_to_string(store.join("index/hnsw/index.json")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        manifest["params"]["ef_search"].as_u64().unwrap()
    };

    // A target no beam reaches: the largest tried is kept, and said so.
    let out = relate_in(&store, &["index", "--target-recall", "1"]);
    let stderr = String::from_utf8_lossy(&succeed(&out).stderr).to_string();
    if stderr.contains("falls short") {
        assert_eq!(saved_ef(&store), 1600, "{stderr}");
    } else {
        assert!(stderr.contains("reaches recall@10 1"), "{stderr}");
    }

    // A given beam is used as it is, with hnsw_rs's builder too.
    for builder in ["native", "hnsw-rs"] {
        let out = relate_in(
            &store,
            &["index", "--ef-search", "37", "--builder", builder],
        );
        let stderr = String::from_utf8_lossy(&succeed(&out).stderr).to_string();
        assert!(!stderr.contains("tuning sample"), "{stderr}");
        assert!(stderr.contains("ef_search 37"), "{stderr}");
        assert_eq!(saved_ef(&store), 37);
        let found = similar(&store, &["--hnsw"]);
        assert_eq!(found["results"].as_array().unwrap().len(), 5, "{found}");
    }

    // Both at once, a target out of range, or an unknown builder: usage
    // errors, and the saved index is untouched.
    for args in [
        &["index", "--ef-search", "50", "--target-recall", "0.9"][..],
        &["index", "--target-recall", "1.5"],
        &["index", "--target-recall", "most"],
        &["index", "--builder", "faiss"],
    ] {
        let out = relate_in(&store, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(saved_ef(&store), 37);
    }
}

/// Papers `prefix-0..count` as JSON lines carrying made-up vectors (from
/// `seed`), as another tool would export them.
fn papers_with_vectors(path: &Path, prefix: &str, count: usize, seed: u64) {
    let vectors = clustered_unit_vectors(count, DIM, 40, 1.0, seed);
    let lines: Vec<String> = (0..count)
        .map(|i| {
            serde_json::json!({
                "id": format!("{prefix}-{i}"),
                "title": format!("Paper {prefix} {i}"),
                "abstract": format!("Abstract of {prefix} {i}."),
                "embedding": &vectors[i * DIM..(i + 1) * DIM],
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn papers_ingested_into_an_indexed_library_are_inserted_into_its_graph() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    synthetic_library(&store, 1_500);
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).to_string();
    let out = relate_in(&store, &["index"]);
    assert!(stderr(succeed(&out)).contains("built in"));

    // 300 new papers, and p7 revised (a new abstract and vector).
    let new = dir.path().join("new.jsonl");
    papers_with_vectors(&new, "new", 300, 99);
    let mut text = std::fs::read_to_string(&new).unwrap();
    let revised = clustered_unit_vectors(1, DIM, 1, 1.0, 5);
    text.push_str(
        &serde_json::json!({
            "id": "p7", "title": "Paper number 7", "abstract": "Revised.", "embedding": revised,
        })
        .to_string(),
    );
    std::fs::write(&new, text).unwrap();
    let ingest = |file: &Path, extra: &[&str]| {
        let mut args = vec![
            "ingest",
            file.to_str().unwrap(),
            "--model-id",
            "all-MiniLM-L6-v2",
            "--json",
        ];
        args.extend(extra);
        stdout_json(&common::relate_without_model(&store, &args))
    };
    let summary = ingest(&new, &[]);
    assert_eq!(summary["index"]["state"], "updated", "{summary}");
    assert_eq!(summary["index"]["inserted"], 301, "{summary}");
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["hnsw_index"], "fresh", "{info}");

    // The graph finds the new papers and the revised one where exact
    // search does.
    for paper in ["new-0", "new-150", "new-299", "p7"] {
        let args = ["similar", paper, "-k", "5", "--json", "--rank", "dense"];
        let hnsw = stdout_json(&relate_in(&store, &[&args[..], &["--hnsw"]].concat()));
        let exact = stdout_json(&relate_in(&store, &[&args[..], &["--exact"]].concat()));
        assert_eq!(hnsw["query"]["method"], "hnsw");
        let shared = ids(&hnsw)
            .iter()
            .filter(|id| ids(&exact).contains(id))
            .count();
        assert!(
            shared >= 4,
            "{paper}: hnsw {:?} vs exact {:?}",
            ids(&hnsw),
            ids(&exact)
        );
    }

    // Asked not to, ingest leaves the index behind; `relate index` then
    // inserts what it missed, and --rebuild builds anew.
    let more = dir.path().join("more.jsonl");
    papers_with_vectors(&more, "more", 40, 100);
    let summary = ingest(&more, &["--no-index-update"]);
    assert_eq!(summary["index"]["state"], "behind", "{summary}");
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["hnsw_index"], "stale", "{info}");
    let out = relate_in(&store, &["index"]);
    let text = stderr(succeed(&out));
    assert!(
        text.contains("brought up to date (40 added or changed papers inserted"),
        "{text}"
    );
    assert!(text.contains("1840 papers"), "{text}");
    let out = relate_in(&store, &["index", "--rebuild"]);
    assert!(stderr(succeed(&out)).contains("built in"));
    // Nothing new: the ingest says the index is current.
    let summary = ingest(&more, &[]);
    assert_eq!(summary["index"]["state"], "current", "{summary}");
}
