//! Papers that bring their own vectors, through the real binary: `relate
//! embed` output imported into a new library without the model, the checks
//! that refuse vectors of another dimension, model or value range, and
//! mixed files where only the papers without a vector are embedded, and
//! vectors given as a NumPy matrix beside the records.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{model_dir, relate_in, relate_without_model, stdout_json, succeed};
use serde_json::Value;

const PAPERS: &str = r#"{"id":"a1","title":"Private federated learning","abstract":"We train models across many clients with differential privacy."}
{"id":"a2","title":"Bandits with regret bounds","abstract":"Online learning with bandit feedback and regret."}
{"id":"a3","title":"Theorem proving with language models","abstract":"Language models search for formal proofs."}
"#;

/// `relate embed` output for [`PAPERS`], as parsed lines.
fn embedded(dir: &Path) -> (PathBuf, Vec<Value>) {
    let input = dir.join("papers.jsonl");
    fs::write(&input, PAPERS).unwrap();
    let output = dir.join("embedded.jsonl");
    succeed(&relate_in(
        &dir.join("unused"),
        &[
            "embed",
            "-i",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ],
    ));
    (output.clone(), lines(&output))
}

fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_lines(path: &Path, rows: &[Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    fs::write(path, text).unwrap();
}

fn vector_of(row: &Value) -> Vec<f32> {
    row["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

/// Every stored vector and record, by paper id, as the library reads them.
fn stored(store: &Path) -> Vec<(String, Vec<f32>, Value)> {
    let library = relate::store::Library::open(store).unwrap();
    let vectors = library.vectors().unwrap();
    let mut rows: Vec<_> = library
        .all_papers()
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(slot, paper)| {
            (
                paper.id.clone(),
                vectors.vector(slot as u32).unwrap().to_vec(),
                serde_json::to_value(&paper).unwrap(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[test]
fn embed_output_imports_without_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let (file, rows) = embedded(dir.path());
    let fingerprint = rows[0]["embedding_fingerprint"].as_str().unwrap();
    assert_eq!(fingerprint.len(), 64, "embed records the model fingerprint");
    assert_eq!(rows[0]["embedding_model"], "all-MiniLM-L6-v2");

    let store = dir.path().join("library");
    let summary = stdout_json(&relate_without_model(
        &store,
        &["ingest", "--json", file.to_str().unwrap()],
    ));
    assert_eq!(summary["embedded"], 0);
    assert_eq!(summary["files"][0]["added"], 3);
    assert_eq!(summary["files"][0]["vectors_given"], 3);
    let info = stdout_json(&relate_without_model(&store, &["info", "--json"]));
    assert_eq!(info["papers"], 3);
    assert_eq!(info["dimension"], 384);
    assert_eq!(info["model_fingerprint"], &fingerprint[..12]);

    // The vectors are stored exactly as given, and the vector fields are
    // not kept in the records.
    let papers = stored(&store);
    for ((id, vector, record), row) in papers.iter().zip(&rows) {
        assert_eq!(id, row["id"].as_str().unwrap());
        assert_eq!(*vector, vector_of(row));
        assert!(record.get("embedding").is_none(), "{record}");
        assert!(record.get("embedding_fingerprint").is_none(), "{record}");
    }

    // The same papers embedded by ingest with the model get the same vectors.
    let with_model = dir.path().join("with-model");
    let input = dir.path().join("papers.jsonl");
    succeed(&relate_in(
        &with_model,
        &["ingest", input.to_str().unwrap()],
    ));
    for ((_, a, _), (_, b, _)) in papers.iter().zip(&stored(&with_model)) {
        assert!(common::cosine(a, b) > 0.9999);
    }

    // Importing again changes nothing, still without the model.
    let again = stdout_json(&relate_without_model(
        &store,
        &["ingest", "--json", file.to_str().unwrap()],
    ));
    assert_eq!(again["files"][0]["unchanged"], 3);
    assert_eq!(again["embedded"], 0);
}

#[test]
fn bad_vectors_are_rejected_and_other_models_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rows) = embedded(dir.path());
    let store = dir.path().join("library");

    // Wrong dimension and a value no f32 holds: those records are skipped.
    let mut bad = rows.clone();
    bad[0]["embedding"] = serde_json::json!([0.5, 0.5, 0.5]);
    bad[1]["embedding"][7] = serde_json::json!(1e300);
    let file = dir.path().join("bad.jsonl");
    write_lines(&file, &bad);
    let out = relate_without_model(&store, &["ingest", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.jsonl:1: field `embedding` has 3 values"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.jsonl:2: field `embedding`: value 8"),
        "{stderr}"
    );
    let ids: Vec<String> = stored(&store).into_iter().map(|p| p.0).collect();
    assert_eq!(ids, ["a3"]);

    // Vectors of another model: refused, naming both, nothing stored.
    let mut other = rows.clone();
    for row in &mut other {
        row["embedding_fingerprint"] = Value::from("ab".repeat(32));
        row["embedding_model"] = Value::from("other-model");
    }
    let file = dir.path().join("other.jsonl");
    write_lines(&file, &other);
    let out = relate_without_model(&store, &["ingest", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("other-model (fingerprint abababababab)")
            && stderr.contains("all-MiniLM-L6-v2 (fingerprint"),
        "{stderr}"
    );
    assert_eq!(stored(&store).len(), 1);

    // A file from elsewhere: no model named, so --model-id must vouch.
    let mut foreign = rows.clone();
    for row in &mut foreign {
        let object = row.as_object_mut().unwrap();
        object.remove("embedding_fingerprint");
        object.remove("embedding_model");
    }
    let file = dir.path().join("foreign.jsonl");
    write_lines(&file, &foreign);
    let path = file.to_str().unwrap();
    let out = relate_without_model(&store, &["ingest", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--model-id"));
    let out = relate_without_model(&store, &["ingest", path, "--model-id", "other-model"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--model-id other-model names another model")
    );
    assert_eq!(stored(&store).len(), 1);
    let short = &rows[0]["embedding_fingerprint"].as_str().unwrap()[..12];
    let summary = stdout_json(&relate_without_model(
        &store,
        &["ingest", "--json", path, "--model-id", short],
    ));
    assert_eq!(summary["files"][0]["added"], 2);
    assert_eq!(stored(&store).len(), 3);
}

#[test]
fn a_file_that_stops_part_way_reports_what_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rows) = embedded(dir.path());
    let store = dir.path().join("library");
    // The second record's vector is another model's: the file stops there.
    let mut mixed = rows.clone();
    mixed[1]["embedding_fingerprint"] = Value::from("ab".repeat(32));
    mixed[1]["embedding_model"] = Value::from("other-model");
    let file = dir.path().join("mixed.jsonl");
    write_lines(&file, &mixed);
    let out = relate_without_model(&store, &["ingest", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mixed.jsonl (jsonl): 1 read, 1 added")
            && stderr.contains("mixed.jsonl: line 2:")
            && stderr.contains("1 of 1 stopped part-way"),
        "{stderr}"
    );
    assert!(!stderr.contains("no input could be read"), "{stderr}");
    assert_eq!(stored(&store).len(), 1);
}

#[test]
fn mixed_files_embed_only_papers_without_a_vector() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rows) = embedded(dir.path());
    let mut mixed = rows.clone();
    let object = mixed[1].as_object_mut().unwrap();
    object.remove("embedding");
    // A vector twice as long as a unit vector is scaled back.
    let doubled: Vec<f32> = vector_of(&rows[2]).iter().map(|v| v * 2.0).collect();
    mixed[2]["embedding"] = Value::from(doubled);
    let file = dir.path().join("mixed.jsonl");
    write_lines(&file, &mixed);

    let store = dir.path().join("library");
    let summary = stdout_json(&relate_in(
        &store,
        &["ingest", "--json", file.to_str().unwrap()],
    ));
    assert_eq!(summary["embedded"], 1);
    assert_eq!(summary["files"][0]["vectors_given"], 2);
    assert_eq!(summary["files"][0]["normalised"], 1);
    let papers = stored(&store);
    assert_eq!(papers.len(), 3);
    assert!(common::cosine(&papers[1].1, &vector_of(&rows[1])) > 0.9999);
    assert!((common::norm(&papers[2].1) - 1.0).abs() < 1e-5);
    assert!(common::cosine(&papers[2].1, &vector_of(&rows[2])) > 0.99999);
    assert!(model_dir().is_dir());
}

#[test]
fn source_filter_keeps_papers_of_the_files_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rows) = embedded(dir.path());
    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    write_lines(&first, &rows[..2]);
    write_lines(&second, &rows[2..]);
    let store = dir.path().join("library");
    for file in [&first, &second] {
        succeed(&relate_without_model(
            &store,
            &["ingest", file.to_str().unwrap()],
        ));
    }
    // The same paper seen again in another file comes from both.
    write_lines(&second, &rows[1..]);
    succeed(&relate_without_model(
        &store,
        &["ingest", second.to_str().unwrap()],
    ));

    let ids = |source: &Path| -> Vec<String> {
        let out = stdout_json(&relate_without_model(
            &store,
            &[
                "recommend",
                "--like",
                "a1",
                "--json",
                "--source",
                source.to_str().unwrap(),
            ],
        ));
        let mut ids: Vec<String> = out["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&first), ["a2"]);
    assert_eq!(ids(&second), ["a2", "a3"]);
    // A file named by another path to it is the same source.
    let other_path = dir.path().join(".").join("second.jsonl");
    assert_eq!(ids(&other_path), ["a2", "a3"]);
    assert!(ids(&dir.path().join("never-ingested.jsonl")).is_empty());
}

/// `rows` as a NumPy `.npy` file of 64-bit floats, as `numpy.save` writes it.
fn write_npy(path: &Path, rows: &[Vec<f32>]) {
    let dim = rows.first().map_or(0, Vec::len);
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {dim}), }}",
        rows.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for value in rows.iter().flatten() {
        bytes.extend_from_slice(&f64::from(*value).to_le_bytes());
    }
    fs::write(path, bytes).unwrap();
}

#[test]
fn npy_rows_pair_with_records_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rows) = embedded(dir.path());
    // The records without their vectors, and a bad record (no title) as
    // the second line: it takes the second row, so the rest stay paired.
    let mut records: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut record = row.clone();
            let object = record.as_object_mut().unwrap();
            for field in ["embedding", "embedding_model", "embedding_fingerprint"] {
                object.remove(field);
            }
            record
        })
        .collect();
    records.insert(1, serde_json::json!({"id": "untitled"}));
    let papers = dir.path().join("papers.jsonl");
    write_lines(&papers, &records);
    let mut vectors: Vec<Vec<f32>> = rows.iter().map(vector_of).collect();
    vectors.insert(1, vec![0.5; 384]);
    let npy = dir.path().join("vectors.npy");
    write_npy(&npy, &vectors);
    let (papers, npy) = (papers.to_str().unwrap(), npy.to_str().unwrap());
    let store = dir.path().join("library");

    // Rows and records must agree in number: one row short stores nothing.
    let short = dir.path().join("short.npy");
    write_npy(&short, &vectors[..3]);
    let out = relate_in(
        &store,
        &[
            "ingest",
            papers,
            "--vectors",
            short.to_str().unwrap(),
            "--model-id",
            "all-MiniLM-L6-v2",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("short.npy has 3 rows, but the file has 4 records (counting 1 bad ones)"),
        "{stderr}"
    );
    assert!(stored(&store).is_empty());

    // Rows of another length, and no word on the model: refused.
    let narrow = dir.path().join("narrow.npy");
    write_npy(&narrow, &vec![vec![1.0, 0.0]; 4]);
    let out = relate_in(
        &store,
        &[
            "ingest",
            papers,
            "--vectors",
            narrow.to_str().unwrap(),
            "--model-id",
            "all-MiniLM-L6-v2",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("its rows have 2 values, but the library"),
        "{stderr}"
    );
    let out = relate_in(&store, &["ingest", papers, "--vectors", npy]);
    assert_eq!(out.status.code(), Some(2), "--vectors needs --model-id");
    assert!(stored(&store).is_empty());

    let out = relate_in(
        &store,
        &[
            "ingest",
            "--json",
            papers,
            "--vectors",
            npy,
            "--model-id",
            "all-MiniLM-L6-v2",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "the untitled record is rejected"
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["embedded"], 0);
    assert_eq!(summary["files"][0]["added"], 3);
    assert_eq!(summary["files"][0]["vectors_given"], 3);
    assert_eq!(summary["files"][0]["rejected"], 1);
    let stored = stored(&store);
    assert_eq!(stored.len(), 3);
    for ((id, vector, _), row) in stored.iter().zip(&rows) {
        assert_eq!(id, row["id"].as_str().unwrap());
        assert_eq!(*vector, vector_of(row), "{id} has its own row's vector");
    }
}

#[test]
fn an_export_with_a_matrix_imports_back_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (file, rows) = embedded(dir.path());
    let store = dir.path().join("library");
    succeed(&relate_without_model(
        &store,
        &["ingest", file.to_str().unwrap()],
    ));
    let papers = dir.path().join("out.jsonl");
    let matrix = dir.path().join("out.npy");
    let (papers, matrix) = (papers.to_str().unwrap(), matrix.to_str().unwrap());
    succeed(&relate_without_model(
        &store,
        &["export", "-o", papers, "--vectors", matrix],
    ));
    for record in lines(Path::new(papers)) {
        for field in ["embedding", "embedding_model", "embedding_fingerprint"] {
            assert!(record.get(field).is_none(), "{record}");
        }
    }
    let original = stored(&store);
    let mut rows_read = relate::vector_rows::VectorRows::open(Path::new(matrix)).unwrap();
    assert_eq!((rows_read.rows(), rows_read.dim()), (3, 384));
    for (id, vector, _) in &original {
        assert_eq!(&rows_read.next_row().unwrap().unwrap(), vector, "{id}");
    }

    let copy = dir.path().join("copy");
    let fingerprint = &rows[0]["embedding_fingerprint"].as_str().unwrap()[..12];
    let summary = stdout_json(&relate_in(
        &copy,
        &[
            "ingest",
            "--json",
            papers,
            "--vectors",
            matrix,
            "--model-id",
            fingerprint,
        ],
    ));
    assert_eq!(summary["embedded"], 0);
    assert_eq!(stored(&copy), original);

    // Parquet holds its vectors itself.
    let out = relate_without_model(&store, &["export", "-o", "x.parquet", "--vectors", matrix]);
    assert_eq!(out.status.code(), Some(1));
}
