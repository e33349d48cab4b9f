//! Measures `relate topics` against known labels: on a library of papers
//! whose class is known (for example `data/arxiv-categories.jsonl`, each
//! record carrying a `"label"`), it reports the number of topics and
//! subtopics the automatic rule chooses, the adjusted Rand index (ARI) of
//! each level against the labels, the ARI of `--clusters N` at the true
//! class count, and what each broad topic holds.
//!
//! Usage:
//!
//! ```text
//! relate ingest data/arxiv-categories.jsonl --store DIR
//! cargo run --release --example topics_labelled -- DIR data/arxiv-categories.jsonl [SEED]
//! ```
//!
//! Every paper of the library must have a label in the JSONL file (matched
//! by id); outliers count in their nearest topic.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use relate::library_topics;
use relate::store::Library;
use relate::topics::{adjusted_rand_index, TopicOptions};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("topics_labelled: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The `"label"` of every record of a JSONL file, by `"id"`.
fn read_labels(path: &PathBuf) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut labels = HashMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = || format!("{} line {}", path.display(), n + 1);
        let record: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{}: {e}", at()))?;
        let field = |name: &str| {
            record[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{}: no string field \"{name}\"", at()))
        };
        labels.insert(field("id")?, field("label")?);
    }
    Ok(labels)
}

/// Class numbers in order of first appearance, and the class names.
fn numbered(labels: &[&str]) -> (Vec<usize>, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    let classes = labels
        .iter()
        .map(|l| match names.iter().position(|n| n == l) {
            Some(i) => i,
            None => {
                names.push(l.to_string());
                names.len() - 1
            }
        })
        .collect();
    (classes, names)
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, labels_path, rest @ ..] = args.as_slice() else {
        return Err("usage: topics_labelled LIBRARY LABELS.jsonl [SEED]".into());
    };
    let seed = match rest.first() {
        Some(s) => s
            .parse()
            .map_err(|_| format!("SEED '{s}' is not a number"))?,
        None => 42,
    };
    let labels = read_labels(&PathBuf::from(labels_path))?;
    let library = Library::open(std::path::Path::new(dir)).map_err(|e| e.to_string())?;

    let options = TopicOptions {
        seed,
        ..TopicOptions::default()
    };
    let started = Instant::now();
    let found = library_topics::find(&library, &options).map_err(|e| e.to_string())?;
    let auto_secs = started.elapsed().as_secs_f64();
    let model = &found.model;
    // The label of each paper, in slot order (the topics' input order).
    let mut slot_labels: Vec<&str> = Vec::with_capacity(model.assignments.len());
    let mut missing = None;
    library
        .for_each_paper(|slot, paper| {
            if (slot as usize) < model.assignments.len() {
                match labels.get(&paper.id) {
                    Some(label) => slot_labels.push(label),
                    None => {
                        missing.get_or_insert(paper.id);
                    }
                }
            }
        })
        .map_err(|e| e.to_string())?;
    if let Some(id) = missing {
        return Err(format!("paper {id} has no label in {labels_path}"));
    }
    let (truth, names) = numbered(&slot_labels);

    let broad = model.partition(true);
    let fine = model.fine_partition(true);
    let subtopics: usize = model.topics.iter().map(|t| t.subtopics.len().max(1)).sum();
    println!(
        "{} papers, {} classes; automatic: {} topics, {} subtopics ({:.1} s; clear fine gap: {})",
        slot_labels.len(),
        names.len(),
        model.topics.len(),
        subtopics,
        auto_secs,
        model.choice.clear_fine,
    );
    println!(
        "ARI against the labels: topics {:.3}, subtopics {:.3}",
        adjusted_rand_index(&broad, &truth),
        adjusted_rand_index(&fine, &truth),
    );

    let fixed = library_topics::find(
        &library,
        &TopicOptions {
            clusters: Some(names.len()),
            levels: 1,
            ..options.clone()
        },
    )
    .map_err(|e| e.to_string())?;
    println!(
        "--clusters {}: ARI {:.3}",
        names.len(),
        adjusted_rand_index(&fixed.model.partition(true), &truth)
    );

    println!("\nbroad topics (size; the classes of their papers):");
    for (t, topic) in model.topics.iter().enumerate() {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (slot, &b) in broad.iter().enumerate() {
            if b == t {
                *counts.entry(slot_labels[slot]).or_default() += 1;
            }
        }
        let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let shown: Vec<String> = counts
            .iter()
            .take(4)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        println!(
            "  {:>2} {:<48} {:>5}  {}",
            t + 1,
            topic.label.chars().take(48).collect::<String>(),
            counts.iter().map(|c| c.1).sum::<usize>(),
            shown.join(", ")
        );
    }
    Ok(())
}
