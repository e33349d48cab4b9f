//! Parquet tables of papers: the file `relate export -o papers.parquet`
//! writes, or one from pandas, Polars, DuckDB or Spark. Each row is a
//! paper whose columns are named like the JSON Lines fields (`id`, `title`,
//! `abstract`, `authors`, `categories`, `date`, `url`, ...) and read the
//! same way; an `embedding` column (a list of numbers) brings the paper's
//! vector. The model that made the vectors is named by `embedding_model`
//! and `embedding_fingerprint`, as columns or as the file's key-value
//! metadata (where `relate export` writes them). A `record` column (the
//! stored record as JSON, as `relate export` writes it) stands for the
//! paper's other columns, and the columns of saved topics (`topic`,
//! `topic_label`, `subtopic`, `subtopic_label`) are not paper fields, so
//! neither is read then.
//!
//! A Parquet file is read from its end (its footer holds the schema), so a
//! regular file is read in place, one row group at a time; a pipe or a
//! compressed file is first read whole into memory. Problems name the row
//! (1-based) where other formats name the line: `papers.parquet:7: ...` is
//! its seventh row.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::schema::types::Type;
use serde_json::{Map, Value};

use super::event::{Problem, ReadEvent};
use super::input::ReadPosition;
use super::record::paper_from_fields;
use crate::{Error, Result};

/// Columns `relate export` writes from the library's saved topics.
const TOPIC_COLUMNS: [&str; 4] = ["topic", "topic_label", "subtopic", "subtopic_label"];
/// The column holding the whole stored record as JSON.
const RECORD_COLUMN: &str = "record";
/// Columns read beside `record`.
const WITH_RECORD: [&str; 3] = ["embedding", "embedding_model", "embedding_fingerprint"];
/// Key-value metadata copied into every row that lacks the field.
const FILE_FIELDS: [&str; 2] = ["embedding_model", "embedding_fingerprint"];

/// Where the table's bytes are: the file itself, or a copy in memory.
pub(crate) enum ParquetSource {
    File(File),
    Memory(Vec<u8>),
}

/// The rows of a Parquet table as [`ReadEvent`]s.
pub(crate) struct ParquetRows {
    rows: Option<RowIter<'static>>,
    shown: String,
    /// Rows handed out so far.
    row: usize,
    total_rows: usize,
    /// Set as rows are read, in proportion to the rows of the file.
    position: ReadPosition,
    has_record: bool,
    /// Model fields from the file's key-value metadata.
    file_fields: Vec<(String, String)>,
}

fn bad(shown: &str, problem: String) -> Error {
    Error::BadInput {
        path: shown.to_string(),
        problem,
    }
}

impl ParquetRows {
    pub(crate) fn open(
        source: ParquetSource,
        shown: &str,
        position: ReadPosition,
    ) -> Result<ParquetRows> {
        let unreadable = |e: parquet::errors::ParquetError| {
            bad(shown, format!("not a readable Parquet file ({e})"))
        };
        let reader: Box<dyn FileReader> = match source {
            ParquetSource::File(file) => {
                Box::new(SerializedFileReader::new(file).map_err(unreadable)?)
            }
            ParquetSource::Memory(bytes) => {
                Box::new(SerializedFileReader::new(bytes::Bytes::from(bytes)).map_err(unreadable)?)
            }
        };
        let metadata = reader.metadata().file_metadata();
        let total_rows = usize::try_from(metadata.num_rows()).unwrap_or(0);
        let file_fields: Vec<(String, String)> = metadata
            .key_value_metadata()
            .into_iter()
            .flatten()
            .filter(|kv| FILE_FIELDS.contains(&kv.key.as_str()))
            .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
            .collect();
        let root = metadata.schema();
        let fields = root.get_fields();
        let has_record = fields.iter().any(|f| f.name() == RECORD_COLUMN);
        let kept: Vec<Arc<Type>> = fields
            .iter()
            .filter(|f| {
                if has_record {
                    f.name() == RECORD_COLUMN || WITH_RECORD.contains(&f.name())
                } else {
                    !TOPIC_COLUMNS.contains(&f.name())
                }
            })
            .cloned()
            .collect();
        // Field names match as in JSON Lines: case and spacing aside.
        if !has_record
            && !kept
                .iter()
                .any(|f| f.name().trim().eq_ignore_ascii_case("title"))
        {
            let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
            return Err(bad(
                shown,
                format!(
                    "the table has no `title` column (its columns: {}); every paper needs a title",
                    names.join(", ")
                ),
            ));
        }
        let projection = Type::group_type_builder(root.name())
            .with_fields(kept)
            .build()
            .map_err(unreadable)?;
        let rows = RowIter::from_file_into(reader)
            .project(Some(projection))
            .map_err(unreadable)?;
        Ok(ParquetRows {
            rows: Some(rows),
            shown: shown.to_string(),
            row: 0,
            total_rows,
            position,
            has_record,
            file_fields,
        })
    }

    fn reject(&self, message: String) -> ReadEvent {
        ReadEvent::Rejected(Problem::new(&self.shown, self.row, message))
    }

    /// The paper fields of one row, as a JSON Lines record would hold them.
    fn fields(&self, row: Value) -> std::result::Result<Map<String, Value>, String> {
        let Value::Object(mut columns) = row else {
            return Err("the row is not a group of columns".to_string());
        };
        let mut fields = if self.has_record {
            let record = match columns.remove(RECORD_COLUMN) {
                Some(Value::String(text)) => text,
                _ => return Err(format!("the `{RECORD_COLUMN}` column is not text")),
            };
            match serde_json::from_str::<Value>(&record) {
                Ok(Value::Object(mut fields)) => {
                    // A stored record keeps the source's other fields
                    // under `extra`; they go back to the top level, as in
                    // the JSON Lines export.
                    if let Some(Value::Object(extra)) = fields.remove("extra") {
                        for (key, value) in extra {
                            fields.entry(key).or_insert(value);
                        }
                    }
                    fields.extend(columns);
                    fields
                }
                _ => {
                    return Err(format!(
                        "the `{RECORD_COLUMN}` column does not hold a JSON object"
                    ))
                }
            }
        } else {
            columns
        };
        for (key, value) in &self.file_fields {
            if fields.get(key).is_none_or(Value::is_null) {
                fields.insert(key.clone(), Value::String(value.clone()));
            }
        }
        Ok(fields)
    }
}

impl Iterator for ParquetRows {
    type Item = ReadEvent;

    fn next(&mut self) -> Option<ReadEvent> {
        let rows = self.rows.as_mut()?;
        // The row reader panics on some damaged files rather than failing.
        let next = catch_quietly(|| rows.next());
        self.row += 1;
        if let (Some(total_bytes), true) = (self.position.total_bytes(), self.total_rows > 0) {
            let share = self.row.min(self.total_rows) as f64 / self.total_rows as f64;
            self.position.set((share * total_bytes as f64) as u64);
        }
        match next {
            Ok(None) => {
                self.rows = None;
                None
            }
            Ok(Some(Ok(row))) => Some(match self.fields(row.to_json_value()) {
                Ok(fields) => match paper_from_fields(fields) {
                    Ok(paper) => ReadEvent::Paper {
                        paper,
                        line: self.row,
                    },
                    Err(message) => self.reject(message),
                },
                Err(message) => self.reject(message),
            }),
            Ok(Some(Err(e))) => {
                self.rows = None;
                Some(self.reject(format!(
                    "the file is damaged at this row ({e}); nothing after it was read"
                )))
            }
            Err(payload) => {
                self.rows = None;
                let reason = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .map_or(String::new(), |s| format!(" ({s})"));
                Some(self.reject(format!(
                    "the file is damaged at this row{reason}; nothing after it was read"
                )))
            }
        }
    }
}

thread_local! {
    /// Set while [`catch_quietly`] runs its closure on this thread.
    static QUIET_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic without the panic hook printing it (the
/// panic becomes a bad row, reported once with its message). Panics on
/// other threads, or outside `f`, are printed as usual.
fn catch_quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET_PANICS.with(|quiet| quiet.set(true));
    let out = catch_unwind(AssertUnwindSafe(f));
    QUIET_PANICS.with(|quiet| quiet.set(false));
    out
}

/// Reads a Parquet table from `path` in place.
pub(crate) fn open_file(path: &Path, shown: &str) -> Result<ParquetSource> {
    File::open(path)
        .map(ParquetSource::File)
        .map_err(|e| Error::io("cannot open", Path::new(shown), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_comes_back_with_its_message_and_quiet_ends_with_it() {
        let caught = catch_quietly(|| -> u32 { panic!("the row reader gave up") });
        let payload = caught.unwrap_err();
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"the row reader gave up")
        );
        assert!(!QUIET_PANICS.with(std::cell::Cell::get));
        assert_eq!(catch_quietly(|| 7).unwrap(), 7);
    }
}
