//! One paper from two sources, end to end through the real binary: the
//! sample digest page (ids made from titles) and a JSON Lines file that
//! gives some of the same papers arXiv ids in the forms exports write them
//! (an abs address with a version, an `arXiv:` prefix, arXiv's DOI). The
//! ids are kept as given and found in any spelling, every answer lists each
//! paper once (its copy named in `copies`, a copy of the paper asked about
//! left out), a title shared by copies is not ambiguous, and a paper that
//! only shares a title with another is not taken for it.

mod common;

use std::fs;
use std::path::Path;

use common::{jsonl_ids, relate_in, root, sample_page_papers, stdout_json, succeed};
use serde_json::{json, Value};

fn results(answer: &Value) -> &Vec<Value> {
    answer["results"].as_array().expect("results")
}

fn titles(answer: &Value) -> Vec<String> {
    results(answer)
        .iter()
        .map(|r| r["title"].as_str().unwrap().to_string())
        .collect()
}

fn run_json(store: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    stdout_json(&relate_in(store, &all))
}

#[test]
fn a_paper_from_two_sources_is_answered_once() {
    let papers = sample_page_papers();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    let page = root("data/daily-papers-sample.txt");
    succeed(&relate_in(&store, &["ingest", page.to_str().unwrap()]));

    let (t0, a0) = &papers[0];
    let (t1, a1) = &papers[1];
    let (t2, a2) = &papers[2];
    let (t3, _) = &papers[3];
    let copies = dir.path().join("arxiv.jsonl");
    let records = [
        json!({"id": "https://arxiv.org/abs/2303.00001v2", "title": t0, "abstract": a0}),
        // A revised abstract: one more sentence.
        json!({"id": "arXiv:2303.00002", "title": t1.to_uppercase(),
               "abstract": format!("{a1} Code and data are released with the paper.")}),
        json!({"id": "10.48550/arXiv.2303.00003", "title": t2, "abstract": a2}),
        // Another paper under the title of a sample paper.
        json!({"id": "2303.00004", "title": t3,
               "abstract": "We describe a recipe for sourdough bread with a long cold \
                            fermentation, and compare crumb and crust across flours."}),
    ];
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    fs::write(&copies, text).unwrap();
    // The ingest says which papers it added were already there: the three
    // copies, not the paper that only shares a title.
    let ingest = relate_in(&store, &["ingest", copies.to_str().unwrap(), "--json"]);
    let summary = stdout_json(succeed(&ingest));
    assert_eq!(summary["copies_added"], 3, "{summary}");
    let named: Vec<&str> = summary["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        named,
        [
            "https://arxiv.org/abs/2303.00001v2",
            "arXiv:2303.00002",
            "10.48550/arXiv.2303.00003"
        ]
    );
    assert!(summary["copies"][0]["copy_of"]
        .as_str()
        .unwrap()
        .starts_with("title:"));

    // The ids are kept as the file gave them.
    let exported = String::from_utf8(
        succeed(&relate_in(&store, &["export", "--format", "jsonl"]))
            .stdout
            .clone(),
    )
    .unwrap();
    let stored = jsonl_ids(&exported);
    for record in &records {
        let id = record["id"].as_str().unwrap().to_string();
        assert!(stored.contains(&id), "{id} not among {stored:?}");
    }
    assert_eq!(stored.len(), papers.len() + 4);

    // Related papers: the paper's copy under the other id is not one,
    // however the id is typed.
    for typed in ["2303.00001", "https://arxiv.org/abs/2303.00001v5"] {
        let answer = run_json(&store, &["similar", typed, "-k", "5"]);
        assert_eq!(answer["query"]["id"], "https://arxiv.org/abs/2303.00001v2");
        assert!(
            !titles(&answer).contains(t0),
            "{typed}: {:?}",
            titles(&answer)
        );
        assert_eq!(results(&answer).len(), 5);
    }
    // A title that both copies have is not ambiguous: the arXiv copy answers.
    let answer = run_json(&store, &["similar", t2, "-k", "3"]);
    assert_eq!(answer["query"]["id"], "10.48550/arXiv.2303.00003");
    assert!(!titles(&answer).contains(t2));

    // A search lists the paper once and names its copy.
    let answer = run_json(&store, &["search", t1, "-k", "4", "--rank", "dense"]);
    let first = &results(&answer)[0];
    assert!(
        first["title"].as_str().unwrap().eq_ignore_ascii_case(t1),
        "{answer}"
    );
    // The id the source gave is shown before the one made from the title.
    assert_eq!(first["id"], "arXiv:2303.00002", "{answer}");
    let other_ids = first["copies"].as_array().unwrap();
    assert_eq!(other_ids.len(), 1, "{answer}");
    assert!(
        other_ids[0].as_str().unwrap().starts_with("title:"),
        "{answer}"
    );
    let upper: Vec<String> = titles(&answer).iter().map(|t| t.to_uppercase()).collect();
    assert_eq!(
        upper.iter().filter(|t| **t == t1.to_uppercase()).count(),
        1,
        "{upper:?}"
    );

    // Two papers that only share a title are both listed.
    let answer = run_json(&store, &["search", t3, "-k", "10", "--rank", "dense"]);
    let same_title = titles(&answer).iter().filter(|t| *t == t3).count();
    assert_eq!(same_title, 2, "{answer}");
    assert!(results(&answer)
        .iter()
        .filter(|r| r["title"] == t3.as_str())
        .all(|r| r.get("copies").is_none()));

    // A liked paper's copy is not recommended; a paper excluded under
    // another spelling of its id is left out, and so is its copy.
    let answer = run_json(
        &store,
        &[
            "recommend",
            "--like",
            "2303.00003",
            "--exclude",
            "arXiv:2303.00001v1",
            "-k",
            "10",
        ],
    );
    assert!(!titles(&answer).contains(t2), "{:?}", titles(&answer));
    assert!(!titles(&answer).contains(t0), "{:?}", titles(&answer));
    assert_eq!(results(&answer).len(), 10);

    // Reading the file again finds its papers under the same ids.
    let out = relate_in(&store, &["ingest", copies.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&succeed(&out).stderr).to_string();
    assert!(
        stderr.contains("0 added, 0 updated, 4 unchanged"),
        "{stderr}"
    );
}
