//! Queries never write to the library, and writers take turns, through the
//! real binary. Tests may run as root, where permission bits stop no write,
//! so every file of the library is compared before and after the queries.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{model_dir, relate_in, succeed};
use sha2::{Digest, Sha256};

const PAPERS: &str = "\
{\"id\":\"a1\",\"title\":\"Graph neural networks for molecules\",\"abstract\":\"Message passing on atoms and bonds.\"}
{\"id\":\"a2\",\"title\":\"Federated learning with many clients\",\"abstract\":\"Averaging model updates.\"}
{\"id\":\"a3\",\"title\":\"Bandits with delayed feedback\",\"abstract\":\"Regret bounds under delay.\"}
{\"id\":\"a4\",\"title\":\"Molecular property prediction with message passing\",\"abstract\":\"Graphs of atoms.\"}
{\"id\":\"a5\",\"title\":\"Privacy in federated optimisation\",\"abstract\":\"Clients keep their data.\"}
";

/// Every file under `dir`: its size, modification time and digest.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, std::time::SystemTime, Vec<u8>)> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            files.extend(snapshot(&entry.path()));
        } else {
            let digest = Sha256::digest(fs::read(entry.path()).unwrap()).to_vec();
            files.insert(
                entry.path().display().to_string(),
                (meta.len(), meta.modified().unwrap(), digest),
            );
        }
    }
    files
}

#[test]
fn queries_leave_every_file_of_the_library_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let input = dir.path().join("papers.jsonl");
    fs::write(&input, PAPERS).unwrap();
    succeed(&relate_in(&store, &["ingest", input.to_str().unwrap()]));
    succeed(&relate_in(&store, &["index"]));
    succeed(&relate_in(&store, &["topics", "--clusters", "2"]));
    // A vector file behind the database (as a crash after a commit leaves
    // it) is read around, not rewritten, by queries.
    let vectors = store.join("vectors.f32");
    let mut bytes = fs::read(&vectors).unwrap();
    let generation = u64::from_le_bytes(bytes[24..32].try_into().unwrap());
    bytes[24..32].copy_from_slice(&(generation - 1).to_le_bytes());
    // The header's own checksum (of its first 48 bytes) follows the change.
    assert_eq!(&bytes[48..52], b"HCK1");
    let own = crc32fast::hash(&bytes[..48]);
    bytes[52..56].copy_from_slice(&own.to_le_bytes());
    fs::write(&vectors, &bytes).unwrap();

    let before = snapshot(&store);
    let queries: [&[&str]; 6] = [
        &["similar", "a1", "--json"],
        &["similar", "a1", "--hnsw", "--json"],
        &["similar", "Bandits with delayed feedback"],
        &["search", "graphs of atoms", "--json"],
        &["info"],
        &["info", "--json"],
    ];
    for args in queries {
        let out = relate_in(&store, args);
        succeed(&out);
        assert!(!out.stdout.is_empty(), "{args:?} printed nothing");
    }
    let after = snapshot(&store);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "queries added or removed files"
    );
    for (path, was) in &before {
        assert_eq!(&after[path], was, "a query changed {path}");
    }

    // The answer is still right: the stored vectors are read instead.
    let answer = common::stdout_json(&relate_in(&store, &["similar", "a1", "-k", "1", "--json"]));
    assert_eq!(answer["results"][0]["id"], "a4");
}

#[test]
fn a_second_writer_waits_then_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let input = dir.path().join("papers.jsonl");
    fs::write(&input, PAPERS).unwrap();
    succeed(&relate_in(&store, &["ingest", input.to_str().unwrap()]));

    // An ingest that holds the library while it waits for its input.
    let fifo = dir.path().join("feed.jsonl");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut holder = Command::new(env!("CARGO_BIN_EXE_relate"))
        .args(["ingest", fifo.to_str().unwrap()])
        .env("RELATE_MODEL", model_dir())
        .env("RELATE_STORE", &store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Opening the FIFO for writing returns once the ingest has opened it,
    // which it does after taking the library's lock.
    let feed = fs::OpenOptions::new().write(true).open(&fifo).unwrap();

    for args in [
        &["index", "--wait", "0"][..],
        &["topics", "--wait", "1"],
        &["ingest", "--wait", "0", input.to_str().unwrap()],
    ] {
        let out = relate_in(&store, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("process {}", holder.id())) && stderr.contains("--wait"),
            "{args:?}: {stderr}"
        );
    }
    // Queries are not held up by a writer.
    succeed(&relate_in(&store, &["similar", "a1"]));

    drop(feed);
    assert!(holder.wait().unwrap().success());
    succeed(&relate_in(&store, &["index", "--wait", "0"]));
}
