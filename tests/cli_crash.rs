//! Killing `relate ingest` at random moments never breaks the library: after
//! each kill the library opens, holds a whole number of committed batches of
//! the file (or all of it), answers queries, and a re-run completes it.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{model_dir, relate_in, temp_files};
use rand::{Rng, SeedableRng};
use serde_json::Value;

const PAPERS: usize = 1500;
/// Papers per ingest transaction (the ingest command's batch size).
const BATCH: u64 = 256;

fn papers_in(store: &Path) -> u64 {
    let out = relate_in(store, &["info", "--json"]);
    assert!(
        out.status.success(),
        "info after a kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    info["papers"].as_u64().unwrap()
}

#[test]
fn killed_ingest_leaves_a_consistent_library() {
    let seed: u64 = std::env::var("RELATE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash test seed {seed} (set RELATE_TEST_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let input = dir.path().join("papers.jsonl");
    let lines: String = (0..PAPERS)
        .map(|i| format!("{{\"id\":\"p{i}\",\"title\":\"Paper {i} on topic {}\",\"abstract\":\"Short abstract {i}.\"}}\n", i % 17))
        .collect();
    fs::write(&input, lines).unwrap();
    let input = input.to_str().unwrap();

    let mut seen = Vec::new();
    for _ in 0..4 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_relate"))
            .args(["ingest", input])
            .env("RELATE_MODEL", model_dir())
            .env("RELATE_STORE", &store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(500..6000)));
        let _ = child.kill();
        let _ = child.wait();

        let count = papers_in(&store);
        assert!(
            count.is_multiple_of(BATCH) || count == PAPERS as u64,
            "after a kill the library holds {count} papers, not a whole number of batches"
        );
        seen.push(count);
        if count > 0 {
            let answer = relate_in(&store, &["similar", "p0", "-k", "3", "--json"]);
            assert!(
                answer.status.success(),
                "{}",
                String::from_utf8_lossy(&answer.stderr)
            );
        }
    }
    println!("papers stored after each kill: {seen:?}");

    let finish = relate_in(&store, &["ingest", "--json", input]);
    assert!(
        finish.status.success(),
        "{}",
        String::from_utf8_lossy(&finish.stderr)
    );
    assert_eq!(papers_in(&store), PAPERS as u64);
    let summary: Value = serde_json::from_slice(&finish.stdout).unwrap();
    let file = &summary["files"][0];
    assert_eq!(
        file["added"].as_u64().unwrap() + file["unchanged"].as_u64().unwrap(),
        PAPERS as u64,
        "the re-run adds exactly what the killed runs had not stored"
    );
    let litter = temp_files(&store);
    assert!(litter.is_empty(), "temporary files left behind: {litter:?}");
}
