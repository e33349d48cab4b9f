//! `relate embed` end to end: the real binary on small JSONL files.

mod common;

use std::fs;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{cosine, model_dir, read_references};
use serde_json::Value;

fn relate(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_relate"))
        .args(args)
        .env("RELATE_MODEL", model_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("relate starts");
    let mut pipe = child.stdin.take().unwrap();
    // A run that fails before reading its input closes the pipe early.
    if let Err(e) = pipe.write_all(stdin.unwrap_or("").as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("output line is JSON"))
        .collect()
}

#[test]
fn embeds_jsonl_from_stdin_in_order_keeping_fields() {
    let refs = read_references("all-MiniLM-L6-v2.abstracts.jsonl");
    let input: String = refs
        .iter()
        .take(5)
        .enumerate()
        .map(|(i, r)| serde_json::json!({"id": i, "text": r.text}).to_string() + "\n")
        .collect();
    let out = relate(&["embed", "--device", "cpu"], Some(&input));
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = lines(&out.stdout);
    assert_eq!(rows.len(), 5);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["id"], i);
        let v: Vec<f32> = serde_json::from_value(row["embedding"].clone()).unwrap();
        assert!(cosine(&v, &refs[i].embedding) > 0.9999);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("embedded 5 texts") && stderr.contains("texts/s"),
        "{stderr}"
    );
}

#[test]
fn bad_lines_are_reported_and_skipped() {
    let input = "{\"title\":\"Bandits\",\"abstract\":\"Regret bounds.\"}\n{broken\n\n{\"id\":3}\n{\"text\":\"last\"}\n";
    let out = relate(&["embed", "--device", "cpu"], Some(input));
    assert_eq!(
        out.status.code(),
        Some(3),
        "exit code says some lines failed"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("<stdin>:2: not valid JSON"), "{stderr}");
    assert!(
        stderr.contains("<stdin>:4:") && stderr.contains("no \"text\""),
        "{stderr}"
    );
    let rows = lines(&out.stdout);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["title"], "Bandits");
    assert_eq!(rows[1]["text"], "last");
}

#[test]
fn strict_stops_and_leaves_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    fs::write(&input, "{\"text\":\"fine\"}\nnot json\n").unwrap();
    let out = relate(
        &[
            "embed",
            "--strict",
            "--device",
            "cpu",
            "-i",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("in.jsonl:2") && stderr.contains("--strict"),
        "{stderr}"
    );
    assert!(!output.exists());
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no partial file left behind"
    );
}

#[test]
fn writes_output_file_from_input_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    fs::write(&input, "{\"text\":\"alpha\"}\r\n{\"text\":\"beta\"}\r\n").unwrap();
    let out = relate(
        &[
            "embed",
            "--device",
            "cpu",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = lines(&fs::read(&output).unwrap());
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["embedding"].as_array().unwrap().len(), 384);

    // An output that is not a regular file (a pipe here; /dev/null alike) is
    // written in place, never replaced by a renamed file.
    use std::os::unix::fs::FileTypeExt;
    let fifo = dir.path().join("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(&fifo).unwrap())
    };
    let out = relate(
        &[
            "embed",
            "--device",
            "cpu",
            "-i",
            input.to_str().unwrap(),
            "-o",
            fifo.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines(&reader.join().unwrap()).len(), 2);
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn missing_input_and_model_are_clear_errors() {
    let out = relate(&["embed", "--input", "/nonexistent/in.jsonl"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open /nonexistent/in.jsonl"));
    assert_eq!(
        stderr.matches("No such file").count(),
        1,
        "the cause is named once: {stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_relate"))
        .args(["embed", "--model", "/nonexistent/model"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/model") && stderr.contains("fetch.sh"),
        "{stderr}"
    );
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_in_a_cpu_build_is_refused() {
    let out = relate(&["embed", "--device", "cuda"], Some("{\"text\":\"x\"}\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features cuda"));
}
