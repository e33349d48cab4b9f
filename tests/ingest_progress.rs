//! The progress an ingest reports follows the papers embedded and stored,
//! not the reader, which runs up to a thousand records ahead of the model.

use std::path::Path;

use relate::ingest::{ingest_file, FileProgress, FileSummary, IngestOptions, Progress, BATCH};
use relate::store::{Library, ModelInfo};

const DIM: usize = 8;
const PAPERS: usize = 3000;

/// Every report: papers read so far, and the bytes said to be done.
#[derive(Default)]
struct Recorder {
    reports: Vec<(usize, FileProgress)>,
}

impl Progress for Recorder {
    fn reading(&mut self, summary: &FileSummary, done: FileProgress) {
        self.reports.push((summary.read, done));
    }
}

/// A JSONL file of `PAPERS` records of about 1.2 KB each; returns the byte
/// offset where each record ends.
fn write_papers(path: &Path) -> Vec<u64> {
    let mut text = String::new();
    let mut ends = Vec::new();
    for i in 0..PAPERS {
        let abstract_text = format!("Paper {i} studies a question at length. ").repeat(30);
        let record = serde_json::json!({
            "id": format!("p{i}"),
            "title": format!("A study numbered {i}"),
            "abstract": abstract_text,
        });
        text.push_str(&record.to_string());
        text.push('\n');
        ends.push(text.len() as u64);
    }
    std::fs::write(path, text).unwrap();
    ends
}

#[test]
fn progress_counts_the_bytes_behind_the_papers_stored_not_the_read_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("papers.jsonl");
    let ends = write_papers(&input);
    let total = *ends.last().unwrap();
    let model = ModelInfo {
        id: "test-model".into(),
        dim: DIM,
        fingerprint: None,
    };
    let mut library = Library::open_or_create(&dir.path().join("lib"), &model).unwrap();
    // A stand-in model, slow enough that the reader fills its read-ahead.
    let mut embed = |texts: &[String]| -> relate::Result<Vec<Vec<f32>>> {
        std::thread::sleep(std::time::Duration::from_millis(40));
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.0f32; DIM];
                v[t.len() % DIM] = 1.0;
                v
            })
            .collect())
    };
    let mut recorder = Recorder::default();
    let summary = ingest_file(
        &mut library,
        &mut embed,
        &input,
        &IngestOptions::default(),
        &mut recorder,
    )
    .unwrap();
    assert_eq!(summary.added, PAPERS);
    assert!(
        recorder.reports.len() >= PAPERS / BATCH,
        "{:?}",
        recorder.reports
    );

    let mut last = 0;
    for &(read, done) in &recorder.reports {
        assert_eq!(done.total_bytes, Some(total));
        assert!(done.bytes_done >= last, "progress went back: {done:?}");
        last = done.bytes_done;
        // The reader's buffer (64 KiB) may be ahead of the last record
        // taken; the thousand records of read-ahead (1.2 MB) must not be.
        let behind = if read == 0 { 0 } else { ends[read - 1] };
        assert!(
            done.bytes_done <= behind + 128 * 1024,
            "{read} papers taken, {} of {total} bytes said done",
            done.bytes_done
        );
    }
    // Reports come as the file is worked through, not all at its end.
    let halfway = recorder
        .reports
        .iter()
        .filter(|(_, d)| d.bytes_done > total / 4 && d.bytes_done < total * 3 / 4)
        .count();
    assert!(halfway >= 2, "{:?}", recorder.reports);
}
