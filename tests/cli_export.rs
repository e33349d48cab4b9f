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

fn results_of(answer: &Value) -> &Vec<Value> {
    answer["results"].as_array().expect("results")
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
        // The topic was the first library's, not a field of the paper.
        assert!(other.get("relate_topic").is_none(), "{other}");
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

    // A name another format owns, one file for both outputs, and a
    // compressed Parquet file are refused before anything is written.
    let csv = dir.path().join("papers.csv");
    let out = relate_in(&store, &["export", "-o", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".jsonl"));
    assert!(!csv.exists());
    let both = dir.path().join("both.npy");
    let out = relate_in(
        &store,
        &[
            "export",
            "-o",
            both.to_str().unwrap(),
            "--format",
            "jsonl",
            "--vectors",
            both.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different files"));
    assert!(!both.exists());
    let packed = dir.path().join("papers.parquet.gz");
    let out = relate_in(&store, &["export", "-o", packed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!packed.exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("compresses its own"));
}

#[test]
fn a_compressed_export_is_compressed_and_imports_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    succeed(&relate_in(&store, &["ingest", sample().to_str().unwrap()]));
    let plain = dir.path().join("papers.jsonl");
    succeed(&relate_in(
        &store,
        &["export", "-o", plain.to_str().unwrap()],
    ));
    let expected = fs::read(&plain).unwrap();
    for (name, magic) in [
        ("papers.jsonl.gz", &[0x1f, 0x8b][..]),
        ("papers.jsonl.zst", &[0x28, 0xb5, 0x2f, 0xfd][..]),
        ("papers.jsonl.xz", &[0xfd, b'7', b'z', b'X', b'Z'][..]),
    ] {
        let path = dir.path().join(name);
        succeed(&relate_in(
            &store,
            &["export", "-o", path.to_str().unwrap()],
        ));
        let bytes = fs::read(&path).unwrap();
        assert!(bytes.starts_with(magic), "{name} is not compressed");
        assert!(
            bytes.len() < expected.len() / 2,
            "{name}: {} bytes",
            bytes.len()
        );
        let copy = dir.path().join(format!("copy-{name}"));
        let summary = stdout_json(&relate_without_model(
            &copy,
            &["ingest", path.to_str().unwrap(), "--json"],
        ));
        assert_eq!(summary["embedded"], 0, "{summary}");
        assert_eq!(
            summary["files"][0]["added"].as_u64().unwrap() as usize,
            records(&plain).len(),
            "{summary}"
        );
    }
}

#[test]
fn a_parquet_export_imports_into_a_new_library_without_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    succeed(&relate_in(&store, &["ingest", sample().to_str().unwrap()]));
    succeed(&relate_in(&store, &["topics"]));
    let parquet_path = dir.path().join("papers.parquet");
    succeed(&relate_in(
        &store,
        &["export", "-o", parquet_path.to_str().unwrap()],
    ));
    let jsonl = dir.path().join("papers.jsonl");
    succeed(&relate_in(
        &store,
        &["export", "-o", jsonl.to_str().unwrap()],
    ));

    // The file names its model in its metadata, so no model is needed to
    // create the new library, and nothing is embedded.
    let copy = dir.path().join("copy");
    let summary = stdout_json(&relate_without_model(
        &copy,
        &["ingest", parquet_path.to_str().unwrap(), "--json"],
    ));
    let file = &summary["files"][0];
    assert_eq!(file["format"], "parquet", "{summary}");
    assert_eq!(summary["embedded"], 0, "{summary}");
    let exported = records(&jsonl);
    assert_eq!(file["added"], exported.len(), "{summary}");
    assert_eq!(file["vectors_given"], exported.len(), "{summary}");

    // The same records and vectors come back out (the topics, not
    // computed in the copy, aside).
    let again = dir.path().join("again.jsonl");
    succeed(&relate_without_model(
        &copy,
        &["export", "-o", again.to_str().unwrap()],
    ));
    let reimported = records(&again);
    for (id, record) in &exported {
        let mut record = record.clone();
        let mut other = reimported[id].clone();
        record.as_object_mut().unwrap().remove("relate_topic");
        other.as_object_mut().unwrap().remove("relate_topic");
        assert_eq!(other, record, "{id}");
    }
    // And the same answers.
    let id = exported.keys().next().unwrap();
    let answer = |store: &Path| {
        let mut results = stdout_json(&relate_without_model(
            store,
            &["similar", id, "-k", "5", "--json"],
        ))["results"]
            .clone();
        for row in results.as_array_mut().unwrap() {
            row.as_object_mut().unwrap().remove("topic");
        }
        results
    };
    assert_eq!(answer(&copy), answer(&store));
}

/// A Parquet table as another tool writes it: no model named, a `Title`
/// column in its own case, a DATE column, 64-bit floats, a row without a
/// title and one whose vector is too short.
fn write_foreign_parquet(path: &Path, vectors: &[(String, String, Vec<f32>)]) {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    let schema = Arc::new(
        parse_message_type(
            "message table {
               required binary id (UTF8);
               optional binary Title (UTF8);
               optional binary abstract (UTF8);
               optional int32 date (DATE);
               required group embedding (LIST) {
                 repeated group list { required double element; }
               }
             }",
        )
        .unwrap(),
    );
    let file = fs::File::create(path).unwrap();
    let mut writer =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::default())).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let rows = vectors.len();
    let mut leaf = 0;
    while let Some(mut column) = group.next_column().unwrap() {
        match leaf {
            0 => {
                let ids: Vec<ByteArray> = vectors.iter().map(|v| v.0.as_str().into()).collect();
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&ids, None, None)
                    .unwrap();
            }
            1 | 2 => {
                // The last row has no title.
                let values: Vec<ByteArray> = vectors
                    .iter()
                    .take(if leaf == 1 { rows - 1 } else { rows })
                    .map(|v| v.1.split_once(". ").unwrap())
                    .map(|(t, a)| if leaf == 1 { t.into() } else { a.into() })
                    .collect();
                let defined: Vec<i16> = (0..rows)
                    .map(|r| i16::from(leaf == 2 || r < rows - 1))
                    .collect();
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&values, Some(&defined), None)
                    .unwrap();
            }
            3 => {
                // 2024-03-05 is day 19,787 after 1970-01-01.
                let days = vec![19_787; rows];
                column
                    .typed::<Int32Type>()
                    .write_batch(&days, Some(&vec![1; rows]), None)
                    .unwrap();
            }
            _ => {
                let (mut values, mut defined, mut repeated) = (Vec::new(), Vec::new(), Vec::new());
                for (r, (_, _, vector)) in vectors.iter().enumerate() {
                    // The first row's vector is cut short.
                    let keep = if r == 0 { 10 } else { vector.len() };
                    for (j, &x) in vector.iter().take(keep).enumerate() {
                        values.push(f64::from(x));
                        defined.push(1);
                        repeated.push(i16::from(j > 0));
                    }
                }
                column
                    .typed::<DoubleType>()
                    .write_batch(&values, Some(&defined), Some(&repeated))
                    .unwrap();
            }
        }
        column.close().unwrap();
        leaf += 1;
    }
    group.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn a_parquet_table_from_another_tool_needs_the_model_vouched_for_and_names_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("lib");
    succeed(&relate_in(&store, &["ingest", sample().to_str().unwrap()]));
    let jsonl = dir.path().join("papers.jsonl");
    succeed(&relate_in(
        &store,
        &["export", "-o", jsonl.to_str().unwrap()],
    ));
    let papers: Vec<(String, String, Vec<f32>)> = records(&jsonl)
        .into_values()
        .take(6)
        .map(|r| {
            (
                format!("other-{}", r["id"].as_str().unwrap()),
                format!(
                    "{}. {}",
                    r["title"].as_str().unwrap().trim_end_matches('.'),
                    r["abstract"].as_str().unwrap()
                ),
                floats(&r["embedding"]),
            )
        })
        .collect();
    let table = dir.path().join("table.parquet");
    write_foreign_parquet(&table, &papers);

    // No model named in the file: refused unless --model-id vouches.
    let out = relate_without_model(&store, &["ingest", table.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--model-id"), "{stderr}");

    let out = relate_without_model(
        &store,
        &[
            "ingest",
            table.to_str().unwrap(),
            "--model-id",
            "all-MiniLM-L6-v2",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "bad rows: exit 3");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = &summary["files"][0];
    assert_eq!(file["added"], 4, "{summary}");
    assert_eq!(file["rejected"], 2, "{summary}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("table.parquet:1: field `embedding` has 10 values"),
        "{stderr}"
    );
    assert!(
        stderr.contains("table.parquet:6: missing title"),
        "{stderr}"
    );
    // The DATE column is read as a date; the vector is stored as given.
    let stored = stdout_json(&relate_without_model(
        &store,
        &["similar", &papers[1].0, "-k", "1", "--json"],
    ));
    assert_eq!(stored["query"]["id"], papers[1].0.as_str(), "{stored}");
    // The sample paper with the same title and vector is the same paper
    // under another id: not a related one.
    let copy = papers[1].0.trim_start_matches("other-");
    assert!(
        results_of(&stored).iter().all(|r| r["id"] != copy),
        "{stored}"
    );

    let out_path = dir.path().join("after.jsonl");
    succeed(&relate_without_model(
        &store,
        &["export", "-o", out_path.to_str().unwrap()],
    ));
    let exported = &records(&out_path)[&papers[1].0];
    assert_eq!(exported["date"], "2024-03-05");
    assert_eq!(
        floats(&exported["embedding"]),
        papers[1].2,
        "stored as given"
    );

    // A file that only starts like Parquet is a clear error.
    let broken = dir.path().join("broken.parquet");
    fs::write(&broken, b"PAR1 and then nothing of a Parquet file").unwrap();
    let out = relate_without_model(&store, &["ingest", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.parquet") && stderr.contains("not a readable Parquet file"),
        "{stderr}"
    );
}
