//! `relate topics` end to end through the real binary: topics of the sample
//! library (deterministic for a seed, every paper accounted for), maps, bad
//! arguments, and topic labels in `similar` results that disappear when the
//! library changes.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Output;

use common::{relate_in, stdout_json, succeed};
use serde_json::Value;

const SAMPLE_PAPERS: u64 = 61;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/daily-papers-sample.txt")
}

/// Checks the shape of a `topics --json` answer and returns the number of
/// topics.
fn check_topics(model: &Value) -> usize {
    check_topics_of(model, SAMPLE_PAPERS)
}

/// [`check_topics`] for a library of `papers` papers.
fn check_topics_of(model: &Value, papers: u64) -> usize {
    let topics = model["topics"].as_array().expect("topics array");
    let outliers = model["outliers"].as_array().expect("outliers array");
    let mut total = outliers.len() as u64;
    for (i, t) in topics.iter().enumerate() {
        total += check_topic(t, i);
        // Subtopics, when present, share out their topic's members.
        if let Some(subs) = t.get("subtopics") {
            let subs = subs.as_array().unwrap();
            assert!(subs.len() >= 2, "a topic is split in two or more: {t}");
            let mut inner: Vec<&Value> = Vec::new();
            for (j, s) in subs.iter().enumerate() {
                check_topic(s, j);
                assert!(s.get("subtopics").is_none());
                inner.extend(s["members"].as_array().unwrap());
            }
            let mut outer: Vec<&Value> = t["members"].as_array().unwrap().iter().collect();
            let key = |v: &&Value| v.as_str().unwrap().to_string();
            inner.sort_by_key(key);
            outer.sort_by_key(key);
            assert_eq!(inner, outer, "subtopics of topic {i}");
        }
    }
    assert_eq!(total, papers, "topic sizes and outliers add up");
    topics.len()
}

/// Checks one topic or subtopic numbered `i` and returns its size.
fn check_topic(t: &Value, i: usize) -> u64 {
    let keys: Vec<&str> = t
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "subtopics")
        .collect();
    assert_eq!(keys, ["id", "label", "terms", "size", "papers", "members"]);
    assert_eq!(t["id"], i as u64, "topics are numbered in order");
    let size = t["size"].as_u64().unwrap();
    assert!(size >= 1, "no empty topic: {t}");
    assert!(!t["label"].as_str().unwrap().is_empty());
    let terms = t["terms"].as_array().unwrap();
    assert!(!terms.is_empty(), "topic {i} has terms");
    let papers = t["papers"].as_array().unwrap();
    assert!(!papers.is_empty() && papers.len() <= 3, "{t}");
    assert!(papers.len() as u64 <= size);
    let members = t["members"].as_array().unwrap();
    assert_eq!(members.len() as u64, size, "every member listed");
    assert_eq!(
        members[0], papers[0]["id"],
        "members start with the most central"
    );
    for p in papers {
        let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "title", "score"]);
        assert!(p["score"].as_f64().unwrap() <= 1.0 + 1e-6);
    }
    size
}

/// Adjusted Rand index between a `topics --json` answer at its finest
/// level (outliers each on their own) and the hand grouping of the sample page.
fn agreement_with_hand_grouping(store: &std::path::Path, model: &Value) -> f64 {
    // Titles in page order: paragraphs after the five of page chrome, in
    // (title, abstract) pairs.
    let page = fs::read_to_string(sample()).unwrap();
    let paragraphs: Vec<&str> = page
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let titles: Vec<&str> = paragraphs[5..].iter().step_by(2).copied().collect();
    // Ids to titles, from a query that lists every other paper.
    let all = stdout_json(&relate_in(
        store,
        &["similar", titles[0], "-k", "100", "--json"],
    ));
    let mut title_of: std::collections::HashMap<String, String> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().into(),
                r["title"].as_str().unwrap().into(),
            )
        })
        .collect();
    title_of.insert(
        all["query"]["id"].as_str().unwrap().into(),
        titles[0].into(),
    );
    // The finest level: each subtopic, and each topic without subtopics.
    let mut group_of: std::collections::HashMap<String, usize> = Default::default();
    for t in model["topics"].as_array().unwrap() {
        let id = t["id"].as_u64().unwrap() as usize;
        for m in t["members"].as_array().unwrap() {
            group_of.insert(title_of[m.as_str().unwrap()].clone(), id * 100);
        }
        for s in t
            .get("subtopics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for m in s["members"].as_array().unwrap() {
                let sub = s["id"].as_u64().unwrap() as usize;
                group_of.insert(title_of[m.as_str().unwrap()].clone(), id * 100 + 1 + sub);
            }
        }
    }
    for (j, o) in model["outliers"].as_array().unwrap().iter().enumerate() {
        group_of.insert(title_of[o["id"].as_str().unwrap()].clone(), 1000 + j);
    }
    let found: Vec<usize> = titles.iter().map(|t| group_of[*t]).collect();
    let tsv = fs::read_to_string(sample().with_file_name("sample-topics.tsv")).unwrap();
    let names: Vec<&str> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    let hand: Vec<usize> = names
        .iter()
        .map(|n| names.iter().position(|m| m == n).unwrap())
        .collect();
    relate::topics::adjusted_rand_index(&found, &hand)
}

#[test]
fn topics_of_the_sample_library_maps_and_labels_in_results() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let sample = sample();
    succeed(&relate_in(&store, &["ingest", sample.to_str().unwrap()]));

    // Before any topics run, results carry no topic and info says none.
    let title = "Differentially Private Sequential Learning";
    let before = stdout_json(&relate_in(&store, &["similar", title, "-k", "5", "--json"]));
    assert!(before["results"][0].get("topic").is_none());
    assert_eq!(
        stdout_json(&relate_in(&store, &["info", "--json"]))["topics"],
        "none"
    );

    // The same library and seed give the same topics.
    let first = relate_in(&store, &["topics", "--json", "--seed", "7"]);
    let second = relate_in(&store, &["topics", "--json", "--seed", "7"]);
    assert_eq!(
        String::from_utf8_lossy(&succeed(&first).stdout),
        String::from_utf8_lossy(&succeed(&second).stdout)
    );
    let model = stdout_json(&first);
    let automatic = check_topics(&model);
    assert!(automatic >= 2, "the sample splits into several topics");

    // Agreement of the subtopics with the hand grouping in
    // data/sample-topics.tsv (papers in page order).
    let ari = agreement_with_hand_grouping(&store, &model);
    println!(
        "sample library: {automatic} topics, subtopics ARI {ari:.3} against the hand grouping"
    );
    assert!(ari >= 0.30, "ARI {ari:.3}");
    assert!(
        model["topics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.get("subtopics").is_some()),
        "the sample's topics are split: {model}"
    );
    // One level: no subtopics.
    let flat = stdout_json(&relate_in(&store, &["topics", "--json", "--levels", "1"]));
    check_topics(&flat);
    assert!(flat["topics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t.get("subtopics").is_none()));

    // A given number of topics: at most that many (outliers can empty one).
    let five = stdout_json(&relate_in(&store, &["topics", "--json", "--clusters", "5"]));
    let n = check_topics(&five);
    assert!((1..=5).contains(&n), "{n} topics for --clusters 5");

    // The terminal view lists topics and their papers.
    let view = succeed(&relate_in(&store, &["topics", "--clusters", "5"]))
        .stdout
        .clone();
    let view = String::from_utf8(view).unwrap();
    assert!(
        view.contains("topic 0") && view.contains("terms:"),
        "{view}"
    );
    let first_title = five["topics"][0]["papers"][0]["title"].as_str().unwrap();
    let start: String = first_title.chars().take(20).collect();
    assert!(view.contains(&start), "{view}");

    // Maps: one circle per paper; the HTML page carries the titles.
    let svg = dir.path().join("map.svg");
    succeed(&relate_in(
        &store,
        &["topics", "--map", svg.to_str().unwrap(), "--json"],
    ));
    let svg_text = fs::read_to_string(&svg).unwrap();
    assert!(svg_text.starts_with("<svg"));
    assert_eq!(svg_text.matches("<circle").count() as u64, SAMPLE_PAPERS);
    let html = dir.path().join("map.html");
    succeed(&relate_in(
        &store,
        &["topics", "--map", html.to_str().unwrap()],
    ));
    let html_text = fs::read_to_string(&html).unwrap();
    assert!(html_text.starts_with("<!DOCTYPE html>"));
    assert_eq!(html_text.matches("<circle").count() as u64, SAMPLE_PAPERS);
    assert!(html_text.contains("<title>") && html_text.contains(title));
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The last run's assignment labels `similar` results.
    assert_eq!(
        stdout_json(&relate_in(&store, &["info", "--json"]))["topics"],
        "fresh"
    );
    let labelled = stdout_json(&relate_in(&store, &["similar", title, "-k", "5", "--json"]));
    let results = labelled["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for r in results {
        let topic = &r["topic"];
        assert!(
            topic["label"].as_str().is_some_and(|l| !l.is_empty()),
            "{r}"
        );
        assert!(topic["id"].is_u64() || topic["id"].is_null(), "{r}");
    }
    let table = succeed(&relate_in(&store, &["similar", title, "-k", "3"]))
        .stdout
        .clone();
    let table = String::from_utf8(table).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.contains("title") && l.ends_with("topic")),
        "{table}"
    );

    // A new paper changes the library: the saved topics are stale and no
    // result carries a topic until they are recomputed.
    let jsonl = dir.path().join("new.jsonl");
    fs::write(
        &jsonl,
        "{\"id\":\"new-1\",\"title\":\"Private federated averaging\",\"abstract\":\"Differential privacy for federated learning with many clients.\"}\n",
    )
    .unwrap();
    succeed(&relate_in(&store, &["ingest", jsonl.to_str().unwrap()]));
    assert_eq!(
        stdout_json(&relate_in(&store, &["info", "--json"]))["topics"],
        "stale"
    );
    let stale = stdout_json(&relate_in(&store, &["similar", title, "-k", "5", "--json"]));
    assert!(
        stale["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("topic").is_none()),
        "{stale}"
    );
    // --show and --topic need current topics.
    for args in [
        &["topics", "--show", "0"][..],
        &["similar", title, "--topic", "0"][..],
    ] {
        let out = relate_in(&store, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("run `relate topics` again"),
            "{}",
            stderr(&out)
        );
    }
    let model = stdout_json(succeed(&relate_in(&store, &["topics", "--json"])));
    let fresh = stdout_json(&relate_in(&store, &["similar", title, "-k", "5", "--json"]));
    assert!(fresh["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r.get("topic").is_some()));

    // --show lists a topic's members, most central first.
    let topics = model["topics"].as_array().unwrap();
    let shown = stdout_json(&relate_in(&store, &["topics", "--show", "0", "--json"]));
    let members = shown["members"].as_array().unwrap();
    assert_eq!(members.len() as u64, topics[0]["size"].as_u64().unwrap());
    let scores: Vec<f64> = members
        .iter()
        .map(|m| m["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let mut ids: Vec<&str> = members.iter().map(|m| m["id"].as_str().unwrap()).collect();
    let mut expected: Vec<&str> = topics[0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    ids.sort_unstable();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let view = String::from_utf8(
        succeed(&relate_in(&store, &["topics", "--show", "0"]))
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(view.starts_with("topic 0  ("), "{view}");

    // --topic keeps only that topic's (or subtopic's) papers.
    let (t, sub) = topics
        .iter()
        .find_map(|t| Some((t, t.get("subtopics")?.as_array()?[0].clone())))
        .expect("a topic with subtopics");
    let tid = t["id"].as_u64().unwrap();
    for (path, size) in [
        (tid.to_string(), t["size"].as_u64().unwrap()),
        (format!("{tid}.0"), sub["size"].as_u64().unwrap()),
    ] {
        let hits = stdout_json(&relate_in(
            &store,
            &["similar", title, "-k", "100", "--topic", &path, "--json"],
        ));
        let results = hits["results"].as_array().unwrap();
        assert!(
            !results.is_empty() && results.len() as u64 <= size,
            "{path}"
        );
        assert!(
            results.len() as u64 >= size - 1,
            "{path}: all members but the query"
        );
        for r in results {
            assert_eq!(r["topic"]["id"].as_u64(), Some(tid), "{path}: {r}");
            if path.contains('.') {
                assert_eq!(r["topic"]["subtopic"].as_u64(), Some(0), "{path}: {r}");
            }
        }
    }
    for (args, expect) in [
        (&["similar", title, "--topic", "999"][..], "no topic 999"),
        (&["topics", "--show", "0.99"][..], "subtopics"),
        (&["topics", "--show", "x"][..], "3.1"),
    ] {
        let out = relate_in(&store, args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(stderr(&out).contains(expect), "{args:?}: {}", stderr(&out));
    }

    // --update places a new paper and keeps every saved id.
    let mut saved_tag: std::collections::HashMap<String, (u64, Option<u64>)> = Default::default();
    for t in topics {
        let tid = t["id"].as_u64().unwrap();
        for m in t["members"].as_array().unwrap() {
            saved_tag.insert(m.as_str().unwrap().into(), (tid, None));
        }
        for sub in t
            .get("subtopics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for m in sub["members"].as_array().unwrap() {
                saved_tag.insert(m.as_str().unwrap().into(), (tid, sub["id"].as_u64()));
            }
        }
    }
    fs::write(
        &jsonl,
        "{\"id\":\"new-2\",\"title\":\"Regret bounds for dueling bandits\",\"abstract\":\"We study online learning with dueling bandit feedback and prove regret bounds.\"}\n",
    )
    .unwrap();
    succeed(&relate_in(&store, &["ingest", jsonl.to_str().unwrap()]));
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["topics_unassigned"], 1, "{info}");
    let report = stdout_json(&relate_in(&store, &["topics", "--update", "--json"]));
    assert_eq!(report["assigned"], 1, "{report}");
    assert_eq!(report["recluster"], false, "{report}");
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["topics"], "fresh", "{info}");
    assert_eq!(info["topics_unassigned"], 0, "{info}");
    assert_eq!(info["topics_added_since_clustering"], 1, "{info}");
    let all = stdout_json(&relate_in(
        &store,
        &["similar", title, "-k", "100", "--json"],
    ));
    let mut checked = 0;
    for r in all["results"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        let tag = (r["topic"]["id"].as_u64(), r["topic"]["subtopic"].as_u64());
        match saved_tag.get(id) {
            Some(&(t, sub)) => {
                assert_eq!(tag, (Some(t), sub), "{id} kept its topic");
                checked += 1;
            }
            None if id == "new-2" => {
                // The bandit paper joins a topic (the bandits one), not the outliers.
                assert!(tag.0.is_some(), "{r}");
            }
            None => {}
        }
    }
    assert!(checked >= 50, "{checked}");
    // Past the drift threshold (a quarter of the clustered papers), --update
    // clusters again and says so.
    let many: String = (0..16)
        .map(|i| {
            format!(
                "{{\"id\":\"bulk-{i}\",\"title\":\"Protein folding study {i}\",\"abstract\":\"Protein structure prediction with deep networks, case {i}.\"}}\n"
            )
        })
        .collect();
    fs::write(&jsonl, many).unwrap();
    succeed(&relate_in(&store, &["ingest", jsonl.to_str().unwrap()]));
    let out = succeed(&relate_in(&store, &["topics", "--update", "--json"])).clone();
    assert!(
        stderr(&out).contains("clustering again"),
        "{}",
        stderr(&out)
    );
    check_topics_of(&stdout_json(&out), SAMPLE_PAPERS + 18);
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["topics_added_since_clustering"], 0, "{info}");
}

#[test]
fn bad_arguments_and_an_empty_library_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");

    let zero = relate_in(&store, &["topics", "--clusters", "0"]);
    assert_eq!(zero.status.code(), Some(2), "bad usage");
    assert!(stderr(&zero).contains("at least 1"), "{}", stderr(&zero));

    let png = relate_in(&store, &["topics", "--map", "map.png"]);
    assert_eq!(png.status.code(), Some(1));
    assert!(
        stderr(&png).contains(".png") && stderr(&png).contains(".svg"),
        "{}",
        stderr(&png)
    );

    // No library at all.
    let missing = relate_in(&store, &["topics"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("no library"),
        "{}",
        stderr(&missing)
    );

    // An empty library (an ingest that stored nothing).
    let empty = dir.path().join("empty.jsonl");
    fs::write(&empty, "").unwrap();
    succeed(&relate_in(&store, &["ingest", empty.to_str().unwrap()]));
    let none = relate_in(&store, &["topics"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        stderr(&none).contains("no papers") && stderr(&none).contains("add papers"),
        "{}",
        stderr(&none)
    );

    // More topics than papers.
    let jsonl = dir.path().join("three.jsonl");
    fs::write(
        &jsonl,
        concat!(
            "{\"id\":\"a\",\"title\":\"Bandit algorithms for online advertising\",\"abstract\":\"Regret bounds.\"}\n",
            "{\"id\":\"b\",\"title\":\"Thompson sampling for multi-armed bandits\",\"abstract\":\"Exploration.\"}\n",
            "{\"id\":\"c\",\"title\":\"Protein folding with deep networks\",\"abstract\":\"Structure prediction.\"}\n",
        ),
    )
    .unwrap();
    succeed(&relate_in(&store, &["ingest", jsonl.to_str().unwrap()]));
    let many = relate_in(&store, &["topics", "--clusters", "1000"]);
    assert_eq!(many.status.code(), Some(1));
    assert!(
        stderr(&many).contains("1000 topics from 3 papers"),
        "{}",
        stderr(&many)
    );
    // As many clusters as papers: every paper alone, so none is a topic.
    let alone = relate_in(&store, &["topics", "--clusters", "3"]);
    assert_eq!(alone.status.code(), Some(1), "{}", stderr(&alone));
    assert!(
        stderr(&alone).contains("all 3 papers were left as outliers"),
        "{}",
        stderr(&alone)
    );
    // Nothing was saved by the failed runs.
    assert_eq!(
        stdout_json(&relate_in(&store, &["info", "--json"]))["topics"],
        "none"
    );
}
