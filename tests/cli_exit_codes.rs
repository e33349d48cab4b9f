//! The exit status of every command, through the real binary, as the help
//! texts and the README document it: 0 success, 1 error (or, for `info
//! --check` and `repair`, a problem found or left), 2 bad usage, 3 finished
//! but some input records were reported and skipped.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{model_dir, relate_in};

const PAPERS: &str = "\
{\"id\":\"a1\",\"title\":\"Graph neural networks for molecules\",\"abstract\":\"Message passing on atoms and bonds.\"}
{\"id\":\"a2\",\"title\":\"Federated learning with many clients\",\"abstract\":\"Averaging model updates.\"}
{\"id\":\"a3\",\"title\":\"Bandits with delayed feedback\",\"abstract\":\"Regret bounds under delay.\"}
{\"id\":\"a4\",\"title\":\"Molecular property prediction with message passing\",\"abstract\":\"Graphs of atoms.\"}
{\"id\":\"a5\",\"title\":\"Privacy in federated optimisation\",\"abstract\":\"Clients keep their data.\"}
";

/// The exit status of `relate ARGS` on the library in `store`.
fn status(store: &Path, args: &[&str]) -> i32 {
    let out = relate_in(store, args);
    out.status.code().unwrap_or_else(|| {
        panic!(
            "relate {args:?} was killed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The exit status of `relate embed ARGS` given `input` on standard input.
fn embed_status(args: &[&str], input: &str) -> i32 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_relate"))
        .arg("embed")
        .args(args)
        .env("RELATE_MODEL", model_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A run that stops before reading its input closes the pipe early.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait().unwrap().code().unwrap()
}

#[test]
fn every_command_exits_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let nowhere = dir.path().join("no-library");
    let good = dir.path().join("papers.jsonl");
    fs::write(&good, PAPERS).unwrap();
    let bad = dir.path().join("mixed.jsonl");
    fs::write(
        &bad,
        "{\"id\":\"b1\",\"title\":\"Sparse attention\",\"abstract\":\"Fewer pairs.\"}\n{oops\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.jsonl");
    let (good, bad, missing) = (
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        missing.to_str().unwrap(),
    );

    // ingest
    assert_eq!(status(&store, &["ingest", good]), 0, "ingest: success");
    assert_eq!(status(&store, &["ingest", bad]), 3, "ingest: bad record");
    assert_eq!(
        status(&store, &["ingest", "--strict", bad]),
        3,
        "ingest --strict: bad record"
    );
    assert_eq!(status(&store, &["ingest", missing]), 1, "ingest: no file");
    assert_eq!(
        status(&store, &["ingest", missing, bad]),
        1,
        "ingest: an error outweighs bad records"
    );
    assert_eq!(status(&store, &["ingest"]), 2, "ingest: no PATH");
    assert_eq!(
        status(&store, &["ingest", good, "--format", "xml"]),
        2,
        "ingest: unknown format name"
    );

    // similar
    assert_eq!(status(&store, &["similar", "a1"]), 0, "similar: success");
    assert_eq!(status(&store, &["similar", "a1", "--exact"]), 0);
    assert_eq!(status(&store, &["similar", "zzz-no-such"]), 1);
    assert_eq!(status(&nowhere, &["similar", "a1"]), 1, "no library");
    assert_eq!(status(&store, &["similar", "a1", "--hnsw"]), 1, "no index");
    assert_eq!(status(&store, &["similar", "a1", "-k", "0"]), 2);
    assert_eq!(status(&store, &["similar", "a1", "-k", "100001"]), 2);
    assert_eq!(status(&store, &["similar", "a1", "--exact", "--hnsw"]), 2);

    // search
    assert_eq!(status(&store, &["search", "graphs of atoms"]), 0);
    assert_eq!(status(&nowhere, &["search", "graphs"]), 1, "no library");
    assert_eq!(status(&store, &["search"]), 2, "search: no TEXT");
    assert_eq!(status(&store, &["search", "  "]), 2, "search: blank TEXT");
    assert_eq!(status(&store, &["similar", ""]), 2, "similar: empty QUERY");

    // info
    assert_eq!(status(&store, &["info", "--json"]), 0);
    assert_eq!(status(&nowhere, &["info"]), 1, "no library");
    assert_eq!(status(&store, &["info", "--bogus"]), 2);
    assert_eq!(status(&store, &["info", "--check"]), 0, "check: sound");
    assert_eq!(status(&nowhere, &["info", "--check"]), 1, "no library");

    // repair
    assert_eq!(status(&store, &["repair"]), 0, "repair: sound afterwards");
    assert_eq!(status(&nowhere, &["repair"]), 1, "no library");
    assert_eq!(status(&store, &["repair", "--wait", "-1"]), 2);
    let vectors = store.join("vectors.f32");
    let mut bytes = fs::read(&vectors).unwrap();
    // A bit of the first paper's vector, which only the file keeps.
    bytes[64 + 13] ^= 1;
    fs::write(&vectors, &bytes).unwrap();
    assert_eq!(status(&store, &["info", "--check"]), 1, "check: damage");
    assert_eq!(
        status(&store, &["repair"]),
        1,
        "repair mends the file; a paper awaits embedding again"
    );
    assert_eq!(status(&store, &["info", "--check"]), 1, "check: still so");
    assert_eq!(status(&store, &["ingest", good]), 0, "ingest embeds it");
    assert_eq!(status(&store, &["info", "--check"]), 0);

    // index
    assert_eq!(status(&store, &["index"]), 0, "index: success");
    assert_eq!(status(&store, &["similar", "a1", "--hnsw"]), 0);
    assert_eq!(status(&nowhere, &["index"]), 1, "no library");
    assert_eq!(status(&store, &["index", "--ef-search", "0"]), 2);
    assert_eq!(status(&store, &["index", "--ef-search", "100000000"]), 2);
    assert_eq!(
        status(&store, &["index", "--ef-construction", "100000000"]),
        2
    );
    assert_eq!(status(&store, &["index", "--max-connections", "300"]), 2);

    // topics
    assert_eq!(status(&store, &["topics", "--clusters", "2"]), 0);
    assert_eq!(
        status(&store, &["topics", "--clusters", "50"]),
        1,
        "more topics than papers"
    );
    assert_eq!(status(&store, &["topics", "--clusters", "0"]), 2);
    assert_eq!(status(&store, &["topics", "--clusters", "5000"]), 2);
    assert_eq!(status(&nowhere, &["topics"]), 1, "no library");

    // embed
    assert_eq!(embed_status(&[], "{\"text\": \"hello\"}\n"), 0);
    assert_eq!(embed_status(&[], "{\"text\": \"hello\"}\n{oops\n"), 3);
    assert_eq!(
        embed_status(&["--strict"], "{\"text\": \"hello\"}\n{oops\n"),
        1,
        "embed --strict stops with an error"
    );
    assert_eq!(embed_status(&["--input", missing], ""), 1);
    assert_eq!(embed_status(&["--batch-size", "0"], ""), 2);
    assert_eq!(embed_status(&["--batch-size", "1000000"], ""), 2);

    // no command at all, or an unknown one
    assert_eq!(status(&store, &[]), 2);
    assert_eq!(status(&store, &["frobnicate"]), 2);
}

#[test]
fn inputs_that_cannot_be_opened_make_no_new_library() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let missing = dir.path().join("mistyped.jsonl");
    let out = relate_in(&store, &["ingest", missing.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot open") && stderr.contains("mistyped.jsonl"),
        "{stderr}"
    );
    assert!(stderr.contains("no library was made"), "{stderr}");
    assert!(!store.exists(), "a library folder was left behind");

    // One input that opens is enough to make the library.
    let good = dir.path().join("papers.jsonl");
    fs::write(&good, PAPERS).unwrap();
    let args = ["ingest", missing.to_str().unwrap(), good.to_str().unwrap()];
    assert_eq!(status(&store, &args), 1, "one input was missing");
    assert!(store.join("library.sqlite").exists());
    assert_eq!(status(&store, &["similar", "a1"]), 0);
}

#[test]
fn inputs_that_open_but_cannot_be_read_make_no_new_library() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let unknown = dir.path().join("notes.dat");
    fs::write(&unknown, [0x89u8, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02, 0xff]).unwrap();
    let no_title = dir.path().join("table.csv");
    fs::write(&no_title, "name,year\nA paper,2020\n").unwrap();
    let args = [
        "ingest",
        unknown.to_str().unwrap(),
        no_title.to_str().unwrap(),
    ];
    let out = relate_in(&store, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("notes.dat"), "{stderr}");
    assert!(stderr.contains("table.csv"), "{stderr}");
    assert!(stderr.contains("no library was made"), "{stderr}");
    assert!(!store.exists(), "a library folder was left behind");
}
