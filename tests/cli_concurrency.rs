//! Readers and writers at the same time: queries and the integrity check
//! run in a loop while an ingest commits batches, and never fail or see a
//! half-written batch; a second writer either gives up at once naming the
//! one that holds the library, or waits for it and then succeeds.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{model_dir, relate_in, stdout_json, succeed};

/// Papers per ingest transaction (the ingest command's batch size).
const BATCH: u64 = 256;
const FIRST: u64 = 20;
const SECOND: u64 = 300;

fn write_papers(path: &Path, prefix: &str, n: u64) {
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"id\":\"{prefix}{i}\",\"title\":\"Work {i} on subject {}\",\"abstract\":\"Notes {i}.\"}}\n",
                i % 9
            )
        })
        .collect();
    fs::write(path, lines).unwrap();
}

#[test]
fn readers_see_whole_batches_and_writers_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    write_papers(&first, "a", FIRST);
    write_papers(&second, "b", SECOND);
    succeed(&relate_in(&store, &["ingest", first.to_str().unwrap()]));

    let mut ingest = Command::new(env!("CARGO_BIN_EXE_relate"))
        .args(["ingest", second.to_str().unwrap()])
        .env("RELATE_MODEL", model_dir())
        .env("RELATE_STORE", &store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Whole batches only: before, after the first batch, or all.
    let allowed = [FIRST, FIRST + BATCH, FIRST + SECOND];
    let (mut rounds, mut seen) = (0, Vec::new());
    let mut refused_second_writer = false;
    let mut waited_writer = None;
    while ingest.try_wait().unwrap().is_none() {
        rounds += 1;
        let info = stdout_json(&relate_in(&store, &["info", "--json"]));
        let papers = info["papers"].as_u64().unwrap();
        assert!(allowed.contains(&papers), "a reader saw {papers} papers");
        if !seen.contains(&papers) {
            seen.push(papers);
        }
        let answer = stdout_json(&relate_in(&store, &["similar", "a0", "-k", "5", "--json"]));
        assert_eq!(
            answer["results"].as_array().map(Vec::len),
            Some(5),
            "{answer}"
        );
        // An export reads one committed state: whole batches, every
        // paper with its vector.
        let exported = dir.path().join("export.jsonl");
        succeed(&relate_in(
            &store,
            &["export", "-o", exported.to_str().unwrap()],
        ));
        let lines = fs::read_to_string(&exported).unwrap().lines().count() as u64;
        assert!(allowed.contains(&lines), "an export held {lines} papers");
        let check = relate_in(&store, &["info", "--check", "--json"]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "integrity check during an ingest: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        if !refused_second_writer {
            // A second writer that will not wait is refused, naming the first.
            let out = relate_in(&store, &["index", "--wait", "0"]);
            if ingest.try_wait().unwrap().is_none() {
                assert_eq!(out.status.code(), Some(1));
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    err.contains("being written by another relate process")
                        && err.contains("ingest"),
                    "{err}"
                );
                refused_second_writer = true;
                // One that waits long enough gets its turn after the ingest.
                waited_writer = Some(
                    Command::new(env!("CARGO_BIN_EXE_relate"))
                        .args(["index", "--wait", "600"])
                        .env("RELATE_MODEL", model_dir())
                        .env("RELATE_STORE", &store)
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap(),
                );
            }
        }
    }
    assert!(ingest.wait().unwrap().success(), "the ingest failed");
    println!("{rounds} reader rounds during the ingest saw paper counts {seen:?}");
    assert!(rounds >= 3, "the ingest ended before readers could run");
    assert!(
        refused_second_writer,
        "no second writer ran during the ingest"
    );
    let waited = waited_writer.unwrap().wait_with_output().unwrap();
    assert!(
        waited.status.success(),
        "the waiting writer failed: {}",
        String::from_utf8_lossy(&waited.stderr)
    );
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["papers"].as_u64(), Some(FIRST + SECOND));
    // The waiting index ran after the ingest, so it covers every paper.
    assert_eq!(info["hnsw_index"], "fresh");
}
