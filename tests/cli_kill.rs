//! SIGKILL `relate ingest`, `relate index` and `relate topics` at random
//! moments, in turn. After every kill the library passes the full integrity
//! check (`relate info --check`), answers a query, and the same command run
//! again completes; at the end no temporary file is left.
//!
//! The moment of each kill is drawn between 5% and 95% of how long the
//! command took when last run whole, so most kills land while the command
//! is working; a kill counts as mid-work when the process was still running
//! and its work (papers stored, index stamp or topics file written) was not
//! yet done. `RELATE_KILLS` sets the number of kills (default 20); when
//! fewer than half of them landed mid-work (a busy machine stretches the
//! commands unevenly), kills go on until half have, up to four times the
//! number. The seed is printed and `RELATE_TEST_SEED` replays it.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{model_dir, relate_in, stdout_json, succeed, temp_files};
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// Papers added by each ingest.
const PAPERS_PER_INGEST: usize = 24;

fn write_papers(path: &Path, round: usize) {
    let lines: String = (0..PAPERS_PER_INGEST)
        .map(|i| {
            format!(
                "{{\"id\":\"r{round}-{i}\",\"title\":\"Study {i} of round {round} on theme {}\",\
                 \"abstract\":\"Findings {i} about theme {} in round {round}.\"}}\n",
                i % 6,
                i % 6
            )
        })
        .collect();
    fs::write(path, lines).unwrap();
}

fn info(store: &Path) -> Value {
    stdout_json(&relate_in(store, &["info", "--json"]))
}

/// `relate info --check` must find nothing wrong.
fn assert_intact(store: &Path, when: &str) {
    let out = relate_in(store, &["info", "--check", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{when}: the integrity check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ingest,
    Index,
    Topics,
}

struct Round {
    args: Vec<String>,
    /// Papers the library holds once the command has finished.
    papers_after: u64,
    /// The file whose change marks an index or topics run as done.
    marker: Option<(PathBuf, Option<SystemTime>)>,
}

fn round(kind: Kind, store: &Path, dir: &Path, n: usize, papers: u64) -> Round {
    match kind {
        Kind::Ingest => {
            let input = dir.join(format!("round-{n}.jsonl"));
            write_papers(&input, n);
            Round {
                args: vec!["ingest".into(), input.display().to_string()],
                papers_after: papers + PAPERS_PER_INGEST as u64,
                marker: None,
            }
        }
        Kind::Index => {
            let stamp = store.join("index/generation");
            Round {
                args: [
                    "index",
                    "--ef-construction",
                    "400",
                    "--max-connections",
                    "32",
                ]
                .map(String::from)
                .to_vec(),
                papers_after: papers,
                marker: Some((stamp.clone(), modified(&stamp))),
            }
        }
        Kind::Topics => {
            let saved = store.join("index/topics.json");
            let map = dir.join("map.svg");
            Round {
                args: vec!["topics".into(), "--map".into(), map.display().to_string()],
                papers_after: papers,
                marker: Some((saved.clone(), modified(&saved))),
            }
        }
    }
}

impl Round {
    /// Whether the command's work reached the library.
    fn done(&self, store: &Path) -> bool {
        match &self.marker {
            None => info(store)["papers"].as_u64().unwrap() == self.papers_after,
            Some((path, before)) => {
                let now = modified(path);
                now.is_some() && now != *before
            }
        }
    }

    fn start(&self, store: &Path) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_relate"))
            .args(&self.args)
            .env("RELATE_MODEL", model_dir())
            .env("RELATE_STORE", store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Runs the command to completion and returns how long it took.
    fn run_whole(&self, store: &Path) -> Duration {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let start = Instant::now();
        succeed(&relate_in(store, &args));
        start.elapsed()
    }
}

#[test]
fn killed_writers_leave_an_intact_library() {
    let kills: usize = std::env::var("RELATE_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("RELATE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("kill test: {kills} kills, seed {seed} (set RELATE_TEST_SEED to replay, RELATE_KILLS to change the number)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let began = Instant::now();

    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let kinds = [Kind::Ingest, Kind::Index, Kind::Topics];
    // Whole runs of each command, to time them.
    let mut papers = 0;
    let mut took = [Duration::ZERO; 3];
    for (k, kind) in kinds.iter().enumerate() {
        let r = round(*kind, &store, dir.path(), 1000 + k, papers);
        took[k] = r.run_whole(&store);
        papers = r.papers_after;
    }
    println!("whole runs took {took:?} (ingest, index, topics)");
    assert_intact(&store, "before any kill");

    let mut mid_work = 0;
    let mut per_kind = [0usize; 3];
    let wanted_mid_work = kills.div_ceil(2);
    let mut n = 0;
    while n < kills || (mid_work < wanted_mid_work && n < kills * 4) {
        let k = n % 3;
        let r = round(kinds[k], &store, dir.path(), n, papers);
        let full = took[k].as_secs_f64();
        let delay = Duration::from_secs_f64(full * rng.random_range(0.05..0.95));
        let mut child = r.start(&store);
        std::thread::sleep(delay);
        let running = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        let when = format!("after kill {n} ({:?} at {delay:?})", kinds[k]);
        if running && !r.done(&store) {
            mid_work += 1;
            per_kind[k] += 1;
        }

        assert_intact(&store, &when);
        let stored = info(&store)["papers"].as_u64().unwrap();
        assert!(
            stored == papers || stored == r.papers_after,
            "{when}: {stored} papers"
        );
        let answer = relate_in(&store, &["similar", "r1000-0", "-k", "3", "--json"]);
        assert!(
            answer.status.success(),
            "{when}: query failed: {}",
            String::from_utf8_lossy(&answer.stderr)
        );

        // The re-run times the command again, for the next kill's moment.
        let again = r.run_whole(&store);
        took[k] = (took[k] + again) / 2;
        papers = r.papers_after;
        let after = info(&store);
        assert_eq!(after["papers"].as_u64().unwrap(), papers, "{when}: re-run");
        match kinds[k] {
            Kind::Ingest => {}
            Kind::Index => assert_eq!(after["hnsw_index"], "fresh", "{when}: re-run"),
            Kind::Topics => assert_eq!(after["topics"], "fresh", "{when}: re-run"),
        }
        assert_intact(&store, &format!("{when}, re-run"));
        n += 1;
    }
    println!(
        "{mid_work} of {n} kills landed mid-work (ingest {}, index {}, topics {}); {papers} papers at the end; {:.1}s",
        per_kind[0],
        per_kind[1],
        per_kind[2],
        began.elapsed().as_secs_f64()
    );
    assert!(
        mid_work >= wanted_mid_work,
        "only {mid_work} of {n} kills landed while the command was working"
    );
    let litter = temp_files(&store);
    assert!(litter.is_empty(), "temporary files left behind: {litter:?}");
}
