//! Paper sources that are not plain files, through the real binary:
//! standard input, a FIFO, compressed files, folders, and lines too long
//! to read.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{jsonl_ids, model_dir, relate_in, stdout_json, succeed};
use serde_json::Value;

const PAPERS: &str = "\
{\"id\":\"a1\",\"title\":\"Graph neural networks for molecules\",\"abstract\":\"Message passing on atoms.\"}
{\"id\":\"a2\",\"title\":\"Federated learning with many clients\",\"abstract\":\"Averaging updates.\"}
{\"id\":\"a3\",\"title\":\"Bandits with delayed feedback\",\"abstract\":\"Regret bounds.\"}
";

/// Runs relate on the library in `store` with `input` on its standard input.
fn relate_with_stdin(store: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_relate"))
        .args(args)
        .env("RELATE_MODEL", model_dir())
        .env("RELATE_STORE", store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("relate starts");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread so that a full pipe cannot block the test.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn files(summary: &Value) -> &Vec<Value> {
    summary["files"].as_array().unwrap()
}

#[test]
fn standard_input_is_read_as_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");

    // Named by `-`, format given.
    let out = relate_with_stdin(
        &store,
        &["ingest", "-", "--format", "jsonl", "--json"],
        PAPERS.as_bytes(),
    );
    let summary = stdout_json(&out);
    assert_eq!(files(&summary)[0]["path"], "<stdin>");
    assert_eq!(files(&summary)[0]["read"], 3);
    assert_eq!(files(&summary)[0]["added"], 3);

    // Through /dev/stdin, the format sniffed from the content.
    let more = PAPERS.replace("\"a", "\"b");
    let out = relate_with_stdin(&store, &["ingest", "/dev/stdin", "--json"], more.as_bytes());
    let summary = stdout_json(&out);
    assert_eq!(files(&summary)[0]["format"], "jsonl");
    assert_eq!(files(&summary)[0]["added"], 3);
    assert_eq!(summary["papers_in_library"], 6);
}

#[test]
fn unrecognisable_standard_input_asks_for_a_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let out = relate_with_stdin(&store, &["ingest", "-"], b"one line only\n");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("<stdin>") && stderr.contains("--format"),
        "{stderr}"
    );
}

#[test]
fn a_file_read_as_the_wrong_format_warns_that_it_found_no_paper() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let path = dir.path().join("papers.jsonl");
    fs::write(&path, PAPERS).unwrap();
    let out = relate_in(
        &store,
        &["ingest", path.to_str().unwrap(), "--format", "bibtex"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no paper was found in it, read as bibtex") && stderr.contains("--format"),
        "{stderr}"
    );
    // Read as what it is, it is found.
    let out = relate_in(&store, &["ingest", path.to_str().unwrap()]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("no paper was found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn strict_reads_a_stream_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let bad = format!("{PAPERS}{{oops\n");
    let out = relate_with_stdin(&store, &["ingest", "-", "--strict"], bad.as_bytes());
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("<stdin>:4"));
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["papers"], 0, "--strict stored nothing");

    let out = relate_with_stdin(&store, &["ingest", "-", "--strict"], PAPERS.as_bytes());
    common::succeed(&out);
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["papers"], 3);
}

#[cfg(unix)]
#[test]
fn a_fifo_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let fifo = dir.path().join("feed");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::write(fifo, PAPERS).unwrap())
    };
    let out = relate_in(&store, &["ingest", "--json", fifo.to_str().unwrap()]);
    writer.join().unwrap();
    let summary = stdout_json(&out);
    assert_eq!(files(&summary)[0]["read"], 3);
    assert_eq!(summary["papers_in_library"], 3);
}

#[test]
fn compressed_files_are_read_directly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let gz = dir.path().join("papers.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(PAPERS.as_bytes()).unwrap();
    fs::write(&gz, enc.finish().unwrap()).unwrap();

    let csv = "id,title,abstract\nc1,Sparse attention for long documents,Fewer pairs.\n";
    let zst = dir.path().join("papers.csv.zst");
    fs::write(&zst, zstd::encode_all(csv.as_bytes(), 3).unwrap()).unwrap();

    let bib = "@article{x1, title={Kernel methods revisited}, abstract={Old ideas.}}\n";
    let xz = dir.path().join("library.bib.xz");
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
    enc.write_all(bib.as_bytes()).unwrap();
    fs::write(&xz, enc.finish().unwrap()).unwrap();

    let out = relate_in(
        &store,
        &[
            "ingest",
            "--json",
            gz.to_str().unwrap(),
            zst.to_str().unwrap(),
            xz.to_str().unwrap(),
        ],
    );
    let summary = stdout_json(&out);
    let formats: Vec<&str> = files(&summary)
        .iter()
        .map(|f| f["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["jsonl", "csv", "bibtex"]);
    let added: Vec<u64> = files(&summary)
        .iter()
        .map(|f| f["added"].as_u64().unwrap())
        .collect();
    assert_eq!(added, [3, 1, 1]);

    // A compressed stream on standard input is recognised by its bytes.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(PAPERS.replace("\"a", "\"z").as_bytes())
        .unwrap();
    let out = relate_with_stdin(&store, &["ingest", "-", "--json"], &enc.finish().unwrap());
    assert_eq!(files(&stdout_json(&out))[0]["added"], 3);
}

/// A JSON line a little over 16 MiB.
fn huge_line() -> String {
    format!(
        "{{\"id\":\"huge\",\"title\":\"Huge\",\"abstract\":\"{}\"}}\n",
        "word ".repeat(17 * 1024 * 1024 / 5)
    )
}

#[test]
fn an_over_long_line_is_a_bad_record_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let path = dir.path().join("papers.jsonl");
    let mut lines = PAPERS.lines();
    let text = format!(
        "{}\n{}{}\n{}\n",
        lines.next().unwrap(),
        huge_line(),
        lines.next().unwrap(),
        lines.next().unwrap()
    );
    fs::write(&path, text).unwrap();
    let out = relate_in(&store, &["ingest", "--json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("papers.jsonl:2") && stderr.contains("limit"),
        "{stderr}"
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(files(&summary)[0]["rejected"], 1);
    assert_eq!(files(&summary)[0]["added"], 3);
}

#[test]
fn embed_skips_an_over_long_line() {
    let input = format!(
        "{{\"text\":\"first\"}}\n{}{{\"text\":\"third\"}}\n",
        huge_line()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = relate_with_stdin(dir.path(), &["embed"], input.as_bytes());
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("<stdin>:2") && stderr.contains("limit"),
        "{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let texts: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["text"].to_string())
        .collect();
    assert_eq!(texts, ["\"first\"", "\"third\""]);
}

/// An arXiv snapshot line.
fn arxiv_line(id: &str, categories: &str, update_date: &str) -> String {
    serde_json::json!({
        "id": id,
        "title": format!("Paper {id} on {categories}"),
        "abstract": format!("Results of paper {id}."),
        "authors": "A. Author, B. Author",
        "categories": categories,
        "update_date": update_date,
        "versions": [{"version": "v1"}],
    })
    .to_string()
        + "\n"
}

#[test]
fn a_field_is_taken_from_a_compressed_snapshot_by_category_and_date() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let lines: String = [
        ("2301.00001", "cs.LG stat.ML", "2023-01-05"),
        ("2307.00002", "math.CO", "2023-07-01"),
        ("2307.00003", "stat.ML CS.CL", "2023-07-02"),
        ("2312.00004", "hep-th", "2023-12-31"),
        ("2401.00005", "cs.CV", "2024"),
        ("2501.00006", "cs.AI", "2025-01-01"),
        ("2306.00007", "cs.DB", "2023-06-30"),
        ("2308.00008", "astro-ph.GA", "2023-08-08"),
    ]
    .iter()
    .map(|(id, cats, date)| arxiv_line(id, cats, date))
    .collect();
    let path = dir.path().join("snapshot.json.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(lines.as_bytes()).unwrap();
    fs::write(&path, enc.finish().unwrap()).unwrap();
    let path = path.to_str().unwrap();

    let out = relate_in(
        &store,
        &[
            "ingest",
            path,
            "--category",
            "cs.",
            "--category",
            "hep",
            "--since",
            "2023-06",
            "--until",
            "2024",
            "--json",
        ],
    );
    let summary = stdout_json(&out);
    let file = &files(&summary)[0];
    assert_eq!(file["format"], "arxiv");
    assert_eq!(file["added"], 4, "{summary}");
    assert_eq!(file["filtered_out"], 4, "{summary}");
    // Only the papers kept ran through the model.
    assert_eq!(summary["embedded"], 4);
    let export = dir.path().join("kept.jsonl");
    let out = relate_in(
        &store,
        &[
            "export",
            "--format",
            "jsonl",
            "-o",
            export.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ids = jsonl_ids(&fs::read_to_string(&export).unwrap());
    ids.sort();
    assert_eq!(
        ids,
        ["2306.00007", "2307.00003", "2312.00004", "2401.00005"]
    );

    // Written to a log rather than a terminal, progress comes as lines
    // (every RELATE_PROGRESS_EVERY seconds) with the share of the file done.
    let out = Command::new(env!("CARGO_BIN_EXE_relate"))
        .args(["ingest", path, "--category", "q-bio"])
        .env("RELATE_MODEL", model_dir())
        .env("RELATE_STORE", dir.path().join("other"))
        .env("RELATE_PROGRESS_EVERY", "0")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("relate: {path}: ")) && l.contains("% done (")),
        "{err}"
    );
    assert!(err.contains("8 filtered out"), "{err}");

    // A range no date can be in is bad usage, named.
    let out = relate_in(
        &store,
        &["ingest", path, "--since", "2024", "--until", "2023-12"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--since 2024 is after --until 2023-12"),
        "{err}"
    );
    let out = relate_in(&store, &["ingest", path, "--since", "June 2024"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));
}

#[test]
fn tables_saved_by_spreadsheets_and_other_tools_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    // Excel's "Unicode text": UTF-16 with a byte-order mark, tabs, CRLF,
    // saved as .txt.
    let unicode_text = "ID\tTitle\tAbstract Note\r\n\
                        u1\tCafé networks\tCoffee shops as graphs.\r\n\
                        u2\tSpiking neurons\tBrains in silicon.\r\n";
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in unicode_text.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let txt = dir.path().join("export.txt");
    fs::write(&txt, utf16).unwrap();
    // Excel's CSV with its separator line and a comma in a quoted name.
    let excel = dir.path().join("excel.csv");
    fs::write(
        &excel,
        "\u{feff}sep=;\r\nID;Title;\"Abstract, full\"\r\ne1;Ocean waves;\"Long, rolling swells.\"\r\n",
    )
    .unwrap();
    let summary = stdout_json(&relate_in(
        &store,
        &[
            "ingest",
            "--json",
            txt.to_str().unwrap(),
            excel.to_str().unwrap(),
        ],
    ));
    let files = files(&summary);
    assert_eq!(files[0]["format"], "csv", "{summary}");
    assert_eq!(files[0]["added"], 2, "{summary}");
    assert_eq!(files[1]["added"], 1, "{summary}");
    let found = stdout_json(&relate_in(
        &store,
        &["similar", "Café networks", "--json", "-k", "1"],
    ));
    assert_eq!(found["query"]["id"], "u1", "{found}");

    // A header without a title column stores nothing: an error, exit 1.
    let bad = dir.path().join("bad.csv");
    fs::write(&bad, "id,name\n1,x\n").unwrap();
    let out = relate_in(&store, &["ingest", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.csv:1"));
}

#[test]
fn papers_replaced_by_another_file_under_the_same_id_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    let first = dir.path().join("first.csv");
    let second = dir.path().join("second.csv");
    fs::write(
        &first,
        "id,title\n1,Neural machine translation\n2,Sequence to sequence learning\n",
    )
    .unwrap();
    fs::write(
        &second,
        "id,title\n1,Protein structure prediction\n2,Sequence to sequence learning\n",
    )
    .unwrap();
    succeed(&relate_in(&store, &["ingest", first.to_str().unwrap()]));
    let out = relate_in(&store, &["ingest", "--json", second.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 paper replaced") && stderr.contains("Neural machine translation"),
        "{stderr}"
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(files(&summary)[0]["replaced_from_other_files"], 1);
    // Ingesting the same file again replaces nothing from elsewhere.
    let out = relate_in(&store, &["ingest", second.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("replaced"));
}

#[test]
fn a_folder_gives_the_paper_files_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("papers");
    fs::create_dir_all(folder.join("2024")).unwrap();
    fs::write(folder.join("a.jsonl"), PAPERS).unwrap();
    fs::write(
        folder.join("2024/more.csv"),
        "id,title,abstract\nc1,Contrastive pretraining of image encoders,Pairs of views.\n",
    )
    .unwrap();
    fs::write(folder.join("notes.md"), "# reading list\n").unwrap();
    // The library inside the folder is not read as papers.
    let store = folder.join("library");

    let out = relate_in(&store, &["ingest", folder.to_str().unwrap()]);
    succeed(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 paper files"), "{stderr}");
    assert!(
        stderr.contains("1 other file left out") && stderr.contains("notes.md"),
        "{stderr}"
    );
    let again = relate_in(&store, &["ingest", folder.to_str().unwrap(), "--json"]);
    let summary = stdout_json(succeed(&again));
    assert_eq!(summary["papers_in_library"], 4);
    let files: Vec<&str> = summary["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files[0].ends_with("more.csv") && files[1].ends_with("a.jsonl"),
        "{files:?}"
    );
    // `info` names the files the papers came from, most first.
    let info = relate_in(&store, &["info", "--json"]);
    let info = stdout_json(succeed(&info));
    let sources: Vec<(String, u64)> = info["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_string(),
                s["papers"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sources.len(), 2, "{sources:?}");
    assert!(
        sources[0].0.ends_with("a.jsonl") && sources[0].1 == 3,
        "{sources:?}"
    );
    assert!(
        sources[1].0.ends_with("more.csv") && sources[1].1 == 1,
        "{sources:?}"
    );
    let text = relate_in(&store, &["info"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("sources     2 files: "), "{text}");
    // A folder names liked papers too.
    let liked = folder.join("2024");
    let answer = relate_in(
        &store,
        &[
            "recommend",
            "--like-file",
            liked.to_str().unwrap(),
            "-k",
            "2",
            "--json",
        ],
    );
    let answer = stdout_json(succeed(&answer));
    let ids: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{answer}");
    assert!(!ids.contains(&"c1"), "the liked paper is left out: {ids:?}");

    // A folder without paper files is an error, and makes no library.
    let empty = dir.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let elsewhere = dir.path().join("other-library");
    let out = relate_in(&elsewhere, &["ingest", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no paper files in"));
    assert!(!elsewhere.exists());
}
