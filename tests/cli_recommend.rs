//! `relate recommend` end to end through the real binary, on a library of
//! the sample digest page plus a few dated and categorised papers
//! (`tests/fixtures/recommend/dated.jsonl`): positives, weights, negatives,
//! filters, candidates from a file with and without ingesting them, the
//! reasons, the JSON shape, and bad input.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{relate_in, stdout_json, succeed};
use serde_json::Value;

fn root(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn sample() -> String {
    root("data/daily-papers-sample.txt").display().to_string()
}

fn dated() -> String {
    root("tests/fixtures/recommend/dated.jsonl")
        .display()
        .to_string()
}

/// The sample papers' titles, abstracts and hand-grouped topics, in page order.
struct SamplePaper {
    title: String,
    text: String,
    group: String,
}

fn sample_papers() -> &'static [SamplePaper] {
    static PAPERS: OnceLock<Vec<SamplePaper>> = OnceLock::new();
    PAPERS.get_or_init(|| {
        let page = fs::read_to_string(sample()).unwrap();
        let paragraphs: Vec<&str> = page
            .split("\n\n")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let tsv = fs::read_to_string(root("data/sample-topics.tsv")).unwrap();
        let groups: Vec<&str> = tsv
            .lines()
            .skip(1)
            .map(|l| l.split_once('\t').unwrap().1)
            .collect();
        let papers: Vec<SamplePaper> = paragraphs[5..]
            .chunks(2)
            .zip(groups)
            .map(|(pair, group)| SamplePaper {
                title: pair[0].to_string(),
                text: format!("{} {}", pair[0], pair[1]).to_lowercase(),
                group: group.to_string(),
            })
            .collect();
        assert_eq!(papers.len(), 61);
        papers
    })
}

fn paper_by_title(title: &str) -> &'static SamplePaper {
    sample_papers()
        .iter()
        .find(|p| p.title == title)
        .unwrap_or_else(|| panic!("no sample paper titled {title:?}"))
}

const DP_SEQUENTIAL: &str = "Differentially Private Sequential Learning";
const DEEPSEEK_PROVER: &str =
    "DeepSeek-Prover: Advancing Theorem Proving in LLMs through Large-Scale Synthetic Data";
const LEAN_AGENT: &str = "LeanAgent: Lifelong Learning for Formal Theorem Proving";
const DART_MATH: &str =
    "DART-Math: Difficulty-Aware Rejection Tuning for Mathematical Problem-Solving";

/// A library of the sample page and the dated papers, built once and
/// only read by the tests that share it.
fn shared_library() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_recommend");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let store = dir.join("library");
        succeed(&relate_in(&store, &["ingest", &sample(), &dated()]));
        store
    })
}

/// `relate recommend --json` ranked by the scorers alone (these tests are
/// about them; `tests/cli_hybrid.rs` covers the fusion with BM25).
fn recommend(store: &Path, args: &[&str]) -> Value {
    let mut all = vec!["recommend", "--json", "--rank", "dense"];
    all.extend_from_slice(args);
    stdout_json(&relate_in(store, &all))
}

fn results(answer: &Value) -> &Vec<Value> {
    answer["results"].as_array().expect("results array")
}

fn titles(answer: &Value) -> Vec<String> {
    results(answer)
        .iter()
        .map(|r| r["title"].as_str().unwrap().to_string())
        .collect()
}

fn ids(answer: &Value) -> Vec<String> {
    results(answer)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// The group of a result that is a sample paper.
fn group_of(title: &str) -> Option<&'static str> {
    sample_papers()
        .iter()
        .find(|p| p.title == title)
        .map(|p| p.group.as_str())
}

#[test]
fn one_positive_ranks_its_neighbours_and_explains_them() {
    let store = shared_library();
    let answer = recommend(store, &["--like", DP_SEQUENTIAL, "-k", "5"]);
    let q = &answer["query"];
    assert_eq!(q["kind"], "recommend");
    assert_eq!(q["scorer"], "centroid", "the measured default");
    assert_eq!(q["positives"][0]["kind"], "paper");
    assert_eq!(q["positives"][0]["matched_by"], "title");
    assert_eq!(q["positives"][0]["weight"], 1.0);
    let liked_id = q["positives"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(q["scored"], 61 + 6 - 1, "every paper but the liked one");

    let rows = results(&answer);
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["id"] != liked_id.as_str()));
    let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // With one positive the score is the cosine with it, which the reason repeats.
    for r in rows {
        let reason = &r["because"]["positives"][0];
        assert_eq!(reason["id"], liked_id.as_str());
        assert_eq!(reason["title"], DP_SEQUENTIAL);
        let sim = reason["similarity"].as_f64().unwrap();
        assert!((sim - r["score"].as_f64().unwrap()).abs() < 1e-4, "{r}");
    }
    // Its neighbours are privacy papers: the dated privacy papers and the
    // sample's own privacy group.
    let top = titles(&answer);
    let privacy = top
        .iter()
        .filter(|t| t.to_lowercase().contains("privacy") || t.to_lowercase().contains("private"))
        .count();
    assert!(privacy >= 3, "{top:?}");
}

#[test]
fn reasons_name_real_positives_and_terms_both_texts_share() {
    let store = shared_library();
    let answer = recommend(
        store,
        &[
            "--like",
            DP_SEQUENTIAL,
            "--like",
            DEEPSEEK_PROVER,
            "-k",
            "10",
        ],
    );
    let positive_ids: Vec<&str> = answer["query"]["positives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(positive_ids.len(), 2);
    let mut terms_seen = 0;
    for r in results(&answer) {
        let because = &r["because"];
        let reasons = because["positives"].as_array().unwrap();
        assert_eq!(reasons.len(), 2, "both positives, closest first: {r}");
        assert!(reasons[0]["similarity"].as_f64() >= reasons[1]["similarity"].as_f64());
        for reason in reasons {
            assert!(
                positive_ids.contains(&reason["id"].as_str().unwrap()),
                "{r}"
            );
        }
        // Each term occurs in the result and in one of the two positives'
        // texts (sample papers only; the dated ones are not on the page).
        let Some(result) = sample_papers()
            .iter()
            .find(|p| p.title == r["title"].as_str().unwrap())
        else {
            continue;
        };
        let liked: Vec<&str> = reasons
            .iter()
            .map(|p| paper_by_title(p["title"].as_str().unwrap()).text.as_str())
            .collect();
        for term in because["terms"].as_array().unwrap() {
            terms_seen += 1;
            for word in term.as_str().unwrap().split(' ') {
                // Plurals fold onto singulars: "capabilities" gives "capability".
                let plural = word.strip_suffix('y').map(|stem| format!("{stem}ies"));
                let holds = |text: &str| {
                    text.contains(word)
                        || plural.as_ref().is_some_and(|p| text.contains(p.as_str()))
                };
                assert!(holds(&result.text), "{word} not in {}", result.title);
                assert!(liked.iter().any(|t| holds(t)), "{word} in no positive");
            }
        }
    }
    assert!(
        terms_seen > 0,
        "some result shares terms with its positives"
    );

    // Two subjects liked: the list holds papers of both (multi-interest).
    let groups: Vec<&str> = titles(&answer).iter().filter_map(|t| group_of(t)).collect();
    assert!(groups.contains(&"LLM theorem proving"), "{groups:?}");
    let privacy_rows = results(&answer)
        .iter()
        .filter(|r| r["because"]["positives"][0]["title"] == DP_SEQUENTIAL)
        .count();
    assert!(privacy_rows > 0, "{:?}", titles(&answer));
}

#[test]
fn a_weight_moves_the_list_towards_its_paper() {
    let store = shared_library();
    let closest_to_prover = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-k", "10"]);
        let answer = recommend(store, &all);
        results(&answer)
            .iter()
            .filter(|r| r["because"]["positives"][0]["title"] == DEEPSEEK_PROVER)
            .count()
    };
    let prover_heavy = format!("{DEEPSEEK_PROVER}@3");
    let privacy_heavy = format!("{DP_SEQUENTIAL}@3");
    let towards_prover = closest_to_prover(&["--like", DP_SEQUENTIAL, "--like", &prover_heavy]);
    let towards_privacy = closest_to_prover(&["--like", &privacy_heavy, "--like", DEEPSEEK_PROVER]);
    assert!(
        towards_prover > towards_privacy,
        "prover-weighted {towards_prover}, privacy-weighted {towards_privacy}"
    );
    let answer = recommend(store, &["--like", &prover_heavy, "-k", "1"]);
    assert_eq!(answer["query"]["positives"][0]["weight"], 3.0);
    assert_eq!(answer["query"]["positives"][0]["title"], DEEPSEEK_PROVER);
}

#[test]
fn a_negative_pushes_its_group_down_with_either_scorer() {
    let store = shared_library();
    for scorer in ["multi", "centroid"] {
        // Sum of the positions of the maths-reasoning papers in the full
        // list, the unliked paper itself left out of both lists.
        let reasoning_ranks = |extra: &[&str]| -> (usize, Value) {
            let mut args = vec!["--like", LEAN_AGENT, "--scorer", scorer, "-k", "100"];
            args.extend_from_slice(extra);
            let answer = recommend(store, &args);
            let sum = titles(&answer)
                .iter()
                .filter(|t| t.as_str() != DART_MATH)
                .enumerate()
                .filter(|(_, t)| group_of(t) == Some("LLM mathematical reasoning"))
                .map(|(position, _)| position)
                .sum();
            (sum, answer)
        };
        let (before, _) = reasoning_ranks(&[]);
        let (after, answer) = reasoning_ranks(&["--unlike", DART_MATH]);
        assert_eq!(answer["query"]["scorer"], scorer);
        assert_eq!(answer["query"]["negatives"][0]["title"], DART_MATH);
        assert!(!titles(&answer).contains(&DART_MATH.to_string()));
        assert!(
            after > before,
            "{scorer}: rank sum of maths-reasoning papers {before} without, {after} with the negative"
        );
    }
}

/// The dated-fixture ids among the results.
fn dated_ids(answer: &Value) -> Vec<String> {
    let mut out: Vec<String> = ids(answer)
        .into_iter()
        .filter(|id| id.starts_with("dated-"))
        .collect();
    out.sort();
    out
}

#[test]
fn filters_select_by_date_category_and_id() {
    let store = shared_library();
    let run = |extra: &[&str]| {
        let mut args = vec!["--like-text", "differential privacy", "-k", "100"];
        args.extend_from_slice(extra);
        recommend(store, &args)
    };
    let unfiltered = run(&[]);
    assert_eq!(results(&unfiltered).len(), 67, "every paper, none filtered");
    assert_eq!(unfiltered["query"]["positives"][0]["kind"], "text");

    // Undated papers (the whole digest page, dated-4) are dropped by a date filter.
    let since = run(&["--since", "2024"]);
    assert_eq!(dated_ids(&since), ["dated-2", "dated-3", "dated-5"]);
    assert_eq!(results(&since).len(), 3);
    assert_eq!(since["query"]["filters"]["since"], "2024");
    let until = run(&["--until", "2023-06"]);
    assert_eq!(dated_ids(&until), ["dated-1", "dated-6"]);
    // A paper dated only by its year overlaps any month of it.
    let range = run(&["--since", "2024-01", "--until", "2024-03-31"]);
    assert_eq!(dated_ids(&range), ["dated-2", "dated-3"]);

    // Category prefixes, any of several, ignoring case; uncategorised dropped.
    let cs = run(&["--category", "cs."]);
    assert_eq!(dated_ids(&cs), ["dated-1", "dated-2", "dated-3", "dated-4"]);
    assert_eq!(results(&cs).len(), 4);
    let two = run(&["--category", "CS.cr", "--category", "stat.ML"]);
    assert_eq!(
        dated_ids(&two),
        ["dated-1", "dated-2", "dated-3", "dated-6"]
    );
    let both = run(&["--category", "cs.", "--since", "2024"]);
    assert_eq!(dated_ids(&both), ["dated-2", "dated-3"]);

    // Excluded ids are left out and never counted as candidates.
    let excluded = run(&["--exclude", "dated-3", "--exclude", "dated-2"]);
    assert_eq!(results(&excluded).len(), 65);
    assert_eq!(
        dated_ids(&excluded),
        ["dated-1", "dated-4", "dated-5", "dated-6"]
    );
    // An id that names no paper is warned about (a typo excludes nothing).
    let typo = relate_in(
        store,
        &[
            "recommend",
            "--like-text",
            "differential privacy",
            "--exclude",
            "dated-33",
            "--exclude",
            "dated-3",
        ],
    );
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(
        typo.status.success()
            && stderr.contains("--exclude dated-33")
            && !stderr.contains("--exclude dated-3:"),
        "{stderr}"
    );

    // The filters keep the best papers in score order: the same as ranking
    // everything and keeping the ones that pass.
    let filtered_order: Vec<String> = ids(&run(&["--since", "2022"]));
    let full_order: Vec<String> = ids(&unfiltered)
        .into_iter()
        .filter(|id| id.starts_with("dated-") && id != "dated-4")
        .collect();
    assert_eq!(filtered_order, full_order);
}

/// Every file of a library folder with its contents (lock files aside).
fn snapshot(store: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![store.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(store).unwrap().display().to_string();
            if path.is_dir() {
                stack.push(path);
            } else if !name.contains("lock") && !name.ends_with("-shm") && !name.ends_with("-wal") {
                out.insert(name, fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn from_ranks_a_digest_page_without_storing_it_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    succeed(&relate_in(&store, &["ingest", &dated()]));
    let before = snapshot(&store);

    let answer = recommend(
        &store,
        &["--like", "dated-1", "--from", &sample(), "-k", "61"],
    );
    assert_eq!(answer["query"]["candidates"], "papers");
    assert_eq!(answer["query"]["scored"], 61);
    let got = titles(&answer);
    assert_eq!(got.len(), 61, "every page paper ranked");
    assert!(
        got.iter().all(|t| group_of(t).is_some()),
        "only page papers"
    );
    // The page's privacy papers come first for a liked private-training paper.
    assert_eq!(group_of(&got[0]), Some("differential privacy"), "{got:?}");
    assert_eq!(snapshot(&store), before, "the library is unchanged");
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["papers"], 6);

    // With --ingest the page is stored and ranked from the library.
    let stored = recommend(
        &store,
        &[
            "--like",
            "dated-1",
            "--from",
            &sample(),
            "--ingest",
            "-k",
            "3",
        ],
    );
    assert_eq!(stored["query"]["candidates"], "stored");
    assert_eq!(stored["query"]["scored"], 61);
    assert_eq!(
        titles(&stored),
        got[..3].to_vec(),
        "same ranking once stored"
    );
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["papers"], 67);
}

#[test]
fn a_like_file_uses_its_good_records_and_reports_the_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("liked.jsonl");
    fs::write(
        &file,
        format!(
            "{}\n{{\"title\": \"broken\n{}\n",
            serde_json::json!({"title": DEEPSEEK_PROVER}),
            serde_json::json!({"title": "Neural theorem proving with language models in Lean",
                "abstract": "A language model writes formal proofs that the Lean proof assistant checks."}),
        ),
    )
    .unwrap();
    let shown = file.display().to_string();
    let out = relate_in(
        shared_library(),
        &[
            "recommend",
            "--json",
            "--like-file",
            &format!("{shown}@2"),
            "-k",
            "5",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "finished, a record skipped");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{shown}:2:")), "{stderr}");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let positives = answer["query"]["positives"].as_array().unwrap();
    assert_eq!(positives.len(), 2, "the two good records");
    assert_eq!(positives[0]["kind"], "file");
    assert_eq!(positives[0]["input"], format!("{shown}:1"));
    assert_eq!(positives[1]["input"], format!("{shown}:3"));
    assert_eq!(positives[1]["weight"], 2.0);
    let groups: Vec<&str> = titles(&answer).iter().filter_map(|t| group_of(t)).collect();
    assert_eq!(groups.first(), Some(&"LLM theorem proving"), "{groups:?}");

    // The same file as examples and as candidates: its bad record is
    // reported once.
    let out = relate_in(
        shared_library(),
        &["recommend", "--like-file", &shown, "--from", &shown],
    );
    assert_eq!(out.status.code(), Some(3), "finished, a record skipped");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches(&format!("{shown}:2:")).count(),
        1,
        "{stderr}"
    );
}

#[test]
fn the_table_shows_the_closest_positive() {
    let out = relate_in(
        shared_library(),
        &["recommend", "--like", DP_SEQUENTIAL, "-k", "3"],
    );
    let text = String::from_utf8(succeed(&out).stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("1 liked"), "{text}");
    assert!(
        lines[1].starts_with("rank") && lines[1].ends_with("because"),
        "{text}"
    );
    assert_eq!(lines.len(), 5, "{text}");
    // The because column (last, two spaces after the title) names the one
    // liked paper, cut to the room it has.
    assert!(
        lines[2..].iter().all(|l| l
            .rsplit("  ")
            .next()
            .is_some_and(|cell| cell.starts_with("Differentially Private"))),
        "{text}"
    );
    assert!(lines.iter().all(|l| l.chars().count() <= 100), "{text}");
}

#[test]
fn bad_input_gets_clear_errors() {
    let store = shared_library();
    let out = relate_in(store, &["recommend", "--like", "no-such-paper-id-xyz"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-paper-id-xyz"), "{stderr}");

    let out = relate_in(
        store,
        &[
            "recommend",
            "--like",
            DP_SEQUENTIAL,
            "--unlike",
            DP_SEQUENTIAL,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("both liked"), "{stderr}");

    let out = relate_in(store, &["recommend", "--unlike", DP_SEQUENTIAL]);
    assert_eq!(out.status.code(), Some(2), "no positive is a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--like"), "{stderr}");

    for (args, says) in [
        (vec!["--like", "dated-1", "--since", "2024-13"], "YYYY-MM"),
        (
            vec!["--like", "dated-1", "--since", "2025", "--until", "2024"],
            "swap them",
        ),
        (vec!["--like", "dated-1@0"], "outside 0.001..=1000"),
        (vec!["--like", "dated-1", "--scorer", "best"], "centroid"),
        (vec!["--like", "dated-1", "--ingest"], "--from"),
    ] {
        let mut all = vec!["recommend"];
        all.extend(args.iter().copied());
        let out = relate_in(store, &all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("nothing.jsonl");
    fs::write(&empty, "{\"title\": \n").unwrap();
    let out = relate_in(
        store,
        &["recommend", "--like-file", empty.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nothing.jsonl:1:"), "{stderr}");
    assert!(stderr.contains("no readable paper"), "{stderr}");
}

#[test]
fn explain_quotes_a_sentence_of_each_result() {
    let store = shared_library();
    let answer = recommend(store, &["--like", LEAN_AGENT, "--explain", "-k", "4"]);
    for r in results(&answer) {
        let sentence = r["because"]["sentence"].as_str().expect("a sentence");
        assert!(sentence.split_whitespace().count() >= 4, "{sentence}");
        let title = r["title"].as_str().unwrap();
        if let Some(paper) = sample_papers().iter().find(|p| p.title == title) {
            // The page's text, whitespace folded, holds the sentence.
            let text = paper.text.split_whitespace().collect::<Vec<_>>().join(" ");
            let sentence = sentence.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(text.contains(&sentence.to_lowercase()), "{sentence}");
        }
    }
    // Without --explain there is no sentence.
    let plain = recommend(store, &["--like", LEAN_AGENT, "-k", "1"]);
    assert!(plain["results"][0]["because"].get("sentence").is_none());

    let out = relate_in(
        store,
        &["recommend", "--like", LEAN_AGENT, "--explain", "-k", "2"],
    );
    let text = String::from_utf8(succeed(&out).stdout.clone()).unwrap();
    assert_eq!(
        text.lines().count(),
        2 + 2 * 2,
        "a sentence line under each row: {text}"
    );
}

#[test]
fn topic_keeps_the_members_of_a_saved_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    succeed(&relate_in(&store, &["ingest", &sample()]));
    let like = ["--like-text", "formal theorem proving with language models"];
    let out = relate_in(&store, &["recommend", like[0], like[1], "--topic", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("relate topics"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    succeed(&relate_in(&store, &["topics"]));
    let all = recommend(&store, &[like[0], like[1], "-k", "100"]);
    let topic = results(&all)[0]["topic"]["id"].as_u64().unwrap();
    let members = results(&all)
        .iter()
        .filter(|r| r["topic"]["id"] == topic)
        .count();
    assert!(members > 1 && members < results(&all).len(), "{members}");
    let only = recommend(
        &store,
        &[like[0], like[1], "-k", "100", "--topic", &topic.to_string()],
    );
    assert_eq!(results(&only).len(), members);
    assert!(results(&only).iter().all(|r| r["topic"]["id"] == topic));
    assert_eq!(ids(&only)[0], ids(&all)[0]);
    assert_eq!(
        only["query"]["filters"]["topic"]["topic"],
        topic.to_string()
    );

    let out = relate_in(
        &store,
        &[
            "recommend",
            like[0],
            like[1],
            "--from",
            &sample(),
            "--topic",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let out = relate_in(&store, &["recommend", like[0], like[1], "--topic", "999"]);
    assert_eq!(out.status.code(), Some(1));
}
