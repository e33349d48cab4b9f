//! `relate export`: the JSON Lines export imports into a new library
//! without the model and gives back the same papers and vectors; the
//! Parquet export reads back (with the parquet crate's own reader) with
//! every paper, its vector and its topic.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::{relate_in, relate_without_model, stdout_json, succeed};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{ListAccessor, RowAccessor};
use serde_json::Value;

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/daily-papers-sample.txt")
}

/// `id -> record` of a JSON Lines export.
fn records(path: &Path) -> HashMap<String, Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn exports_import_again_and_read_back_as_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    succeed(&relate_in(&store, &["ingest", sample().to_str().unwrap()]));
    succeed(&relate_in(&store, &["topics"]));
    let papers = stdout_json(&relate_in(&store, &["info", "--json"]))["papers"]
        .as_u64()
        .unwrap() as usize;

    // JSON Lines, then into a new library without the model.
    let jsonl = dir.path().join("papers.jsonl");
    let out = succeed(&relate_in(
        &store,
        &["export", "-o", jsonl.to_str().unwrap()],
    ))
    .stderr
    .clone();
    assert!(
        String::from_utf8_lossy(&out).contains(&format!("exported {papers} papers")),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let exported = records(&jsonl);
    assert_eq!(exported.len(), papers);
    let first = exported.values().next().unwrap();
    assert_eq!(first["embedding_model"], "all-MiniLM-L6-v2");
    assert!(first["relate_topic"]["label"].is_string(), "{first}");

    let copy = dir.path().join("copy");
    succeed(&relate_without_model(
        &copy,
        &["ingest", jsonl.to_str().unwrap()],
    ));
    let again = dir.path().join("again.jsonl");
    succeed(&relate_without_model(
        &copy,
        &["export", "-o", again.to_str().unwrap()],
    ));
    let reimported = records(&again);
    assert_eq!(reimported.len(), papers);
    for (id, record) in &exported {
        let other = &reimported[id];
        assert_eq!(other["title"], record["title"]);
        assert_eq!(other["abstract"], record["abstract"]);
        let (a, b) = (floats(&record["embedding"]), floats(&other["embedding"]));
        assert_eq!(a.len(), 384);
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-6, "{id}: vectors differ by {worst}");
    }

    // Parquet, read back with the parquet crate's row reader.
    let parquet_path = dir.path().join("papers.parquet");
    succeed(&relate_in(
        &store,
        &["export", "-o", parquet_path.to_str().unwrap()],
    ));
    let reader = SerializedFileReader::new(fs::File::open(&parquet_path).unwrap()).unwrap();
    assert_eq!(
        reader.metadata().file_metadata().num_rows() as usize,
        papers
    );
    let mut seen = 0;
    for row in reader.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        let column = |name: &str| {
            row.get_column_iter()
                .position(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("no column {name}"))
        };
        let id = row.get_string(column("id")).unwrap().clone();
        let record = &exported[&id];
        assert_eq!(
            row.get_string(column("title")).unwrap(),
            record["title"].as_str().unwrap()
        );
        let list = row.get_list(column("embedding")).unwrap();
        let expected = floats(&record["embedding"]);
        assert_eq!(list.len(), expected.len());
        for (j, x) in expected.iter().enumerate() {
            assert_eq!(list.get_float(j).unwrap(), *x, "{id}[{j}]");
        }
        assert_eq!(
            row.get_string(column("topic_label")).unwrap(),
            record["relate_topic"]["label"].as_str().unwrap()
        );
        let stored: Value =
            serde_json::from_str(row.get_string(column("record")).unwrap()).unwrap();
        assert_eq!(stored["id"], id.as_str());
        seen += 1;
    }
    assert_eq!(seen, papers);
}

#[test]
fn parquet_needs_a_file_and_a_bad_target_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    succeed(&relate_in(&store, &["ingest", sample().to_str().unwrap()]));
    let out = relate_in(&store, &["export", "--format", "parquet"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--output"));

    let target = dir.path().join("no-such-folder").join("papers.parquet");
    let out = relate_in(&store, &["export", "-o", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("papers.parquet"), "{stderr}");
    assert!(!target.exists());

    let out = relate_in(&store, &["export", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(2), "bad usage");
}
