//! Measures `--rank dense` against `--rank hybrid` on the 61 sample papers
//! (`data/daily-papers-sample.txt`, stored in a temporary library with
//! their reference vectors from `tests/fixtures`, so only the queries run
//! the model):
//!
//! - hand grouping (`data/sample-topics.tsv`): `recommend` with 2 liked
//!   papers of one group, recall@10 of the group's other members (every
//!   pair of every group of 4 or more);
//! - exact terms: every word with a capital or digit inside it (an
//!   acronym, a method or data set name, 4 characters or more) that occurs
//!   in exactly one paper's abstract and not in its title; the word alone
//!   is the query of `search` and the liked text of `recommend`, and a hit
//!   is that paper in the top 10 (also the mean reciprocal rank).
//!
//! Usage: `cargo run --example hybrid_eval -- [MODEL_DIR]` (default
//! `models/all-MiniLM-L6-v2`).

use std::collections::HashMap;
use std::path::PathBuf;

use relate::corpus::Paper;
use relate::embed::{Embedder, EmbedderOptions};
use relate::lexical::Rank;
use relate::query::{self, SearchMethod, Searcher};
use relate::recommend::{self, Candidates, Example, ExampleSource, Profile, Request, Scorer};
use relate::store::{Library, ModelInfo};

const K: usize = 10;
const RANKS: [Rank; 2] = [Rank::Dense, Rank::Hybrid];

fn root(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The sample papers in page order, their reference vectors and groups.
fn sample() -> (Vec<Paper>, Vec<Vec<f32>>, Vec<String>) {
    let page = std::fs::read_to_string(root("data/daily-papers-sample.txt")).expect("sample page");
    let paragraphs: Vec<&str> = page
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let papers: Vec<Paper> = paragraphs[5..]
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| Paper {
            id: format!("s{i}"),
            title: pair[0].to_string(),
            abstract_text: pair[1].to_string(),
            ..Paper::default()
        })
        .collect();
    let fixture = std::fs::read_to_string(root("tests/fixtures/all-MiniLM-L6-v2.abstracts.jsonl"))
        .expect("reference vectors");
    let vectors: Vec<Vec<f32>> = fixture
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["embedding"]
                .as_array()
                .expect("embedding")
                .iter()
                .map(|x| x.as_f64().expect("number") as f32)
                .collect()
        })
        .collect();
    let tsv = std::fs::read_to_string(root("data/sample-topics.tsv")).expect("grouping");
    let groups: Vec<String> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split_once('\t').expect("index<TAB>group").1.to_string())
        .collect();
    assert_eq!(papers.len(), vectors.len());
    assert_eq!(papers.len(), groups.len());
    (papers, vectors, groups)
}

/// Words with an inner capital or digit, 4+ characters, found in exactly
/// one abstract and not in that paper's title: `(word, paper index)`.
fn exact_terms(papers: &[Paper]) -> Vec<(String, usize)> {
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
            .map(|w| w.trim_matches('-').to_string())
            .filter(|w| {
                w.chars().count() >= 4
                    && w.chars()
                        .skip(1)
                        .any(|c| c.is_uppercase() || c.is_ascii_digit())
            })
            .collect()
    };
    let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, p) in papers.iter().enumerate() {
        let mut own = words(&p.abstract_text);
        own.sort();
        own.dedup();
        for w in own {
            seen.entry(w).or_default().push(i);
        }
    }
    let mut out: Vec<(String, usize)> = seen
        .into_iter()
        .filter(|(w, at)| {
            at.len() == 1
                && !papers[at[0]]
                    .title
                    .to_lowercase()
                    .contains(&w.to_lowercase())
        })
        .map(|(w, at)| (w, at[0]))
        .collect();
    out.sort();
    out
}

struct NoModel;

impl recommend::TextEmbedder for NoModel {
    fn embed_texts(&self, _: &[String]) -> relate::Result<Vec<Vec<f32>>> {
        panic!("the liked papers are library papers");
    }
}

fn request(profile: Profile, rank: Rank) -> Request {
    Request {
        profile,
        candidates: Candidates::Library,
        k: K,
        scorer: Scorer::Centroid,
        rank,
        ..Request::default()
    }
}

fn main() {
    let model_dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root("models/all-MiniLM-L6-v2"));
    let (papers, vectors, groups) = sample();
    let dir = tempfile::tempdir().expect("temporary folder");
    let model = ModelInfo {
        id: "all-MiniLM-L6-v2".into(),
        dim: vectors[0].len(),
        fingerprint: None,
    };
    let mut library = Library::open_or_create(dir.path(), &model).expect("library");
    library
        .upsert(
            papers
                .iter()
                .cloned()
                .zip(vectors.iter().cloned().map(Some))
                .collect(),
        )
        .expect("store");

    // Hand grouping: every pair of every group of 4 or more.
    let mut members: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        members.entry(g).or_default().push(i);
    }
    let mut recall = [0.0f64; 2];
    let mut pairs = 0;
    for group in members.values().filter(|m| m.len() >= 4) {
        for a in 0..group.len() {
            for b in a + 1..group.len() {
                let liked = [group[a], group[b]];
                let hidden: Vec<String> = group
                    .iter()
                    .filter(|i| !liked.contains(i))
                    .map(|&i| papers[i].id.clone())
                    .collect();
                for (r, &rank) in RANKS.iter().enumerate() {
                    let profile = Profile {
                        positives: liked
                            .iter()
                            .map(|&i| Example {
                                source: ExampleSource::Paper(papers[i].id.clone()),
                                weight: 1.0,
                            })
                            .collect(),
                        negatives: Vec::new(),
                    };
                    let answer = recommend::recommend(&library, &NoModel, &request(profile, rank))
                        .expect("recommend");
                    let found = answer
                        .results
                        .iter()
                        .filter(|row| hidden.contains(&row.row.id))
                        .count();
                    recall[r] += found as f64 / hidden.len().min(K) as f64;
                }
                pairs += 1;
            }
        }
    }
    println!(
        "hand grouping, recommend with 2 liked papers of one group ({pairs} pairs), recall@{K}:"
    );
    println!(
        "  dense {:.3}  hybrid {:.3}",
        recall[0] / pairs as f64,
        recall[1] / pairs as f64
    );

    // Exact terms.
    let terms = exact_terms(&papers);
    let embedder = Embedder::load(EmbedderOptions {
        model_dir,
        ..EmbedderOptions::default()
    })
    .expect("model");
    let searcher = Searcher::open(&library, SearchMethod::Exact).expect("searcher");
    let texts: Vec<String> = terms.iter().map(|(t, _)| t.clone()).collect();
    let query_vectors = embedder.embed(&texts).expect("embed").vectors;
    // [search, recommend] × [dense, hybrid]: (hits in top 10, reciprocal ranks)
    let mut hits = [[0usize; 2]; 2];
    let mut rr = [[0f64; 2]; 2];
    for ((term, target), vector) in terms.iter().zip(&query_vectors) {
        let id = &papers[*target].id;
        for (r, &rank) in RANKS.iter().enumerate() {
            let searched =
                query::search_vector_in(&library, &searcher, term, vector, K, None, rank)
                    .expect("search");
            if let Some(at) = searched.results.iter().position(|row| &row.id == id) {
                hits[0][r] += 1;
                rr[0][r] += 1.0 / (at + 1) as f64;
            }
            let profile = Profile {
                positives: vec![Example {
                    source: ExampleSource::Text(term.clone()),
                    weight: 1.0,
                }],
                negatives: Vec::new(),
            };
            let recommended = recommend::recommend(&library, &embedder, &request(profile, rank))
                .expect("recommend");
            if let Some(at) = recommended.results.iter().position(|row| &row.row.id == id) {
                hits[1][r] += 1;
                rr[1][r] += 1.0 / (at + 1) as f64;
            }
        }
    }
    let n = terms.len() as f64;
    println!(
        "exact terms ({} words found in one abstract only), the paper in the top {K} / MRR@{K}:",
        terms.len()
    );
    for (i, what) in ["search", "recommend --like-text"].iter().enumerate() {
        println!(
            "  {what}: dense {:.3} / {:.3}  hybrid {:.3} / {:.3}",
            hits[i][0] as f64 / n,
            rr[i][0] / n,
            hits[i][1] as f64 / n,
            rr[i][1] / n
        );
    }
}
