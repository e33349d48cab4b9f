//! Writing a library out with its vectors (`relate export`), so that it can
//! move to another machine or a bigger engine: JSON Lines that `relate
//! ingest` imports again without the model (each record at the top level
//! with its `embedding`, `embedding_model` and `embedding_fingerprint`, as
//! `relate embed` writes them), or one Parquet file that DuckDB, Polars,
//! Spark and LanceDB read directly (one row per paper, the vector a list of
//! 32-bit floats). Or JSON Lines without the vectors beside a NumPy `.npy`
//! matrix of them, row `i` for line `i`. Each paper's topic goes with it when the saved topics
//! are current. Papers are read in slot order and Parquet rows are written
//! in groups of [`ROW_GROUP`], so memory stays bounded whatever the
//! library's size.

use std::io::Write;
use std::sync::Arc;

use npyz::WriterBuilder;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, FloatType, Int32Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::parser::parse_message_type;
use serde_json::{Map, Value};

use crate::corpus::Paper;
use crate::ingest::{EMBEDDING_FIELD, FINGERPRINT_FIELD, MODEL_FIELD};
use crate::library_topics::{self, SavedTopics, TopicTag};
use crate::store::Library;
use crate::{Error, Result};

/// Papers in one Parquet row group (about 25 MB of vectors at 384
/// dimensions).
pub const ROW_GROUP: usize = 16_384;

/// The field of a JSON Lines record that holds its topic.
pub const TOPIC_FIELD: &str = "relate_topic";

/// The Parquet schema: the paper's fields, its vector, its topic (null
/// when the library has no current topics) and the whole stored record as
/// JSON (fields of the source that `relate` does not interpret included).
const PARQUET_SCHEMA: &str = "
message paper {
  required binary id (STRING);
  required binary title (STRING);
  required binary abstract (STRING);
  optional binary date (STRING);
  optional binary url (STRING);
  required group authors (LIST) { repeated group list { required binary element (STRING); } }
  required group categories (LIST) { repeated group list { required binary element (STRING); } }
  required group embedding (LIST) { repeated group list { required float element; } }
  optional int32 topic;
  optional binary topic_label (STRING);
  optional int32 subtopic;
  optional binary subtopic_label (STRING);
  required binary record (JSON);
}
";

/// The formats `relate export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Parquet,
}

impl ExportFormat {
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Parquet => "parquet",
        }
    }
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "jsonl" => Ok(ExportFormat::Jsonl),
            "parquet" => Ok(ExportFormat::Parquet),
            other => Err(format!(
                "unknown export format {other:?}: use jsonl or parquet"
            )),
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    pub papers: usize,
    /// Whether each paper's topic was written (the saved topics are current).
    pub topics: bool,
}

/// Writes every paper of `library` with its vector to `out` in `format`;
/// `progress` is called with the number of papers written so far, every
/// few thousand papers.
pub fn export<W: Write + Send>(
    library: &Library,
    format: ExportFormat,
    out: W,
    progress: &mut dyn FnMut(usize),
) -> Result<ExportSummary> {
    let model = &library.manifest().model;
    let make_sink = move |_papers: usize| -> Result<Box<dyn Sink + '_>> {
        Ok(match format {
            ExportFormat::Jsonl => Box::new(JsonLines {
                out: std::io::BufWriter::new(out),
                model: model.id.clone(),
                fingerprint: model.fingerprint.clone(),
                vectors: true,
            }),
            ExportFormat::Parquet => Box::new(ParquetSink::new(
                out,
                &model.id,
                model.fingerprint.as_deref(),
            )?),
        })
    };
    write_papers(library, make_sink, progress)
}

/// Writes every paper of `library` to `out` as JSON Lines without its
/// vector, and the vectors to `matrix` as a NumPy `.npy` matrix of 32-bit
/// floats (papers × dimensions), row `i` for line `i`: what `relate ingest
/// FILE --vectors MATRIX` reads back, and `numpy.load` reads directly.
pub fn export_with_matrix<W: Write + Send, V: Write>(
    library: &Library,
    out: W,
    matrix: V,
    progress: &mut dyn FnMut(usize),
) -> Result<ExportSummary> {
    let model = &library.manifest().model;
    let make_sink = move |papers: usize| -> Result<Box<dyn Sink + '_>> {
        let shape = [papers as u64, model.dim as u64];
        let matrix = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&shape)
            .writer(std::io::BufWriter::with_capacity(1 << 20, matrix))
            .begin_nd()
            .map_err(io_write_error)?;
        Ok(Box::new(SplitLines {
            lines: JsonLines {
                out: std::io::BufWriter::new(out),
                model: model.id.clone(),
                fingerprint: model.fingerprint.clone(),
                vectors: false,
            },
            matrix: Some(matrix),
        }))
    };
    write_papers(library, make_sink, progress)
}

/// How often an export takes the vectors again when a writer commits
/// between reading them and reading the papers.
const SNAPSHOT_ATTEMPTS: usize = 50;

/// Hands every paper of `library`, in slot order, to `sink` with its vector
/// and topic.
fn write_papers<'a>(
    library: &Library,
    make_sink: impl FnOnce(usize) -> Result<Box<dyn Sink + 'a>>,
    progress: &mut dyn FnMut(usize),
) -> Result<ExportSummary> {
    let mut make_sink = Some(make_sink);
    let topics = library_topics::load_fresh(library)?;
    let mut papers = 0;
    let mut failed = None;
    // The papers are read in one transaction at the vectors' generation; a
    // writer that committed in between (an ingest running alongside) means
    // taking the vectors again, before anything was written.
    let mut attempts = 0;
    loop {
        let vectors = library.vectors()?;
        let done = library.read_together(|library| {
            if library.generation()? != vectors.generation() {
                return Ok(false);
            }
            let make_sink = make_sink.take().expect("the papers are written once");
            let mut sink = make_sink(vectors.len())?;
            library.for_each_paper(|slot, paper| {
                if failed.is_some() {
                    return;
                }
                let Some(vector) = vectors.vector(slot) else {
                    failed = Some(Error::StoreCorrupt {
                        path: library.dir().to_path_buf(),
                        problem: format!("paper {} has no vector", paper.id),
                        fix: "Run `relate repair`, then export again".into(),
                    });
                    return;
                };
                let tag = topics.as_ref().and_then(|t: &SavedTopics| t.tag(slot));
                if let Err(e) = sink.push(&paper, vector, tag.as_ref()) {
                    failed = Some(e);
                    return;
                }
                papers += 1;
                if papers % 4096 == 0 {
                    progress(papers);
                }
            })?;
            if let Some(e) = failed.take() {
                return Err(e);
            }
            sink.finish()?;
            Ok(true)
        })?;
        if done {
            break;
        }
        attempts += 1;
        if attempts == SNAPSHOT_ATTEMPTS {
            return Err(Error::InvalidArgument {
                name: "library".into(),
                problem: format!(
                    "it changed {SNAPSHOT_ATTEMPTS} times while its vectors were being read; \
                     export again when the writer (an ingest, say) is done"
                ),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    progress(papers);
    Ok(ExportSummary {
        papers,
        topics: topics.is_some(),
    })
}

/// Where exported papers go.
trait Sink {
    fn push(&mut self, paper: &Paper, vector: &[f32], topic: Option<&TopicTag>) -> Result<()>;
    fn finish(&mut self) -> Result<()>;
}

/// A failed write, keeping the kind of the I/O error (so a closed pipe
/// is told apart).
fn io_write_error(e: impl Into<std::io::Error>) -> Error {
    Error::Io {
        action: "write",
        path: "the export".into(),
        cause: e.into(),
    }
}

fn write_error(e: impl std::fmt::Display) -> Error {
    Error::Io {
        action: "write",
        path: "the export".into(),
        cause: std::io::Error::other(e.to_string()),
    }
}

/// One JSON object per line, in the shape `relate ingest` reads.
struct JsonLines<W: Write> {
    out: std::io::BufWriter<W>,
    model: String,
    fingerprint: Option<String>,
    /// Whether each line carries the vector and its model.
    vectors: bool,
}

impl<W: Write> Sink for JsonLines<W> {
    fn push(&mut self, paper: &Paper, vector: &[f32], topic: Option<&TopicTag>) -> Result<()> {
        let mut record = Map::new();
        record.insert("id".into(), paper.id.clone().into());
        record.insert("title".into(), paper.title.clone().into());
        record.insert("abstract".into(), paper.abstract_text.clone().into());
        if !paper.authors.is_empty() {
            record.insert("authors".into(), paper.authors.clone().into());
        }
        if let Some(date) = &paper.date {
            record.insert("date".into(), date.clone().into());
        }
        if !paper.categories.is_empty() {
            record.insert("categories".into(), paper.categories.clone().into());
        }
        if let Some(url) = &paper.url {
            record.insert("url".into(), url.clone().into());
        }
        for (key, value) in &paper.extra {
            record.entry(key.clone()).or_insert_with(|| value.clone());
        }
        if let Some(topic) = topic {
            record.insert(
                TOPIC_FIELD.into(),
                serde_json::to_value(topic).map_err(write_error)?,
            );
        }
        if self.vectors {
            record.insert(MODEL_FIELD.into(), self.model.clone().into());
            if let Some(fingerprint) = &self.fingerprint {
                record.insert(FINGERPRINT_FIELD.into(), fingerprint.clone().into());
            }
            record.insert(
                EMBEDDING_FIELD.into(),
                Value::Array(vector.iter().map(|&x| Value::from(x)).collect()),
            );
        } else {
            // A field of the source under one of these names would be
            // taken for a vector when the file is read again.
            for field in [MODEL_FIELD, FINGERPRINT_FIELD, EMBEDDING_FIELD] {
                record.remove(field);
            }
        }
        serde_json::to_writer(&mut self.out, &record).map_err(io_write_error)?;
        self.out.write_all(b"\n").map_err(io_write_error)
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(io_write_error)
    }
}

/// JSON Lines without vectors, and the vectors as rows of a `.npy` matrix.
struct SplitLines<W: Write, V: Write> {
    lines: JsonLines<W>,
    /// `None` once finished.
    matrix: Option<npyz::NpyWriter<f32, V>>,
}

impl<W: Write, V: Write> Sink for SplitLines<W, V> {
    fn push(&mut self, paper: &Paper, vector: &[f32], topic: Option<&TopicTag>) -> Result<()> {
        self.lines.push(paper, vector, topic)?;
        let matrix = self
            .matrix
            .as_mut()
            .ok_or_else(|| write_error("finished"))?;
        vector
            .iter()
            .try_for_each(|v| matrix.push(v))
            .map_err(io_write_error)
    }

    fn finish(&mut self) -> Result<()> {
        self.lines.finish()?;
        // Fails unless exactly the promised rows were written.
        match self.matrix.take() {
            Some(matrix) => matrix.finish().map_err(io_write_error),
            None => Ok(()),
        }
    }
}

/// Columns of the row group being gathered, with the definition and
/// repetition levels of the optional and list columns.
#[derive(Default)]
struct Columns {
    ids: Vec<ByteArray>,
    titles: Vec<ByteArray>,
    abstracts: Vec<ByteArray>,
    dates: Optional<ByteArray>,
    urls: Optional<ByteArray>,
    authors: List<ByteArray>,
    categories: List<ByteArray>,
    embedding: List<f32>,
    topic: Optional<i32>,
    topic_label: Optional<ByteArray>,
    subtopic: Optional<i32>,
    subtopic_label: Optional<ByteArray>,
    records: Vec<ByteArray>,
}

/// An optional column: its values and one definition level per row.
struct Optional<T> {
    values: Vec<T>,
    defined: Vec<i16>,
}

impl<T> Default for Optional<T> {
    fn default() -> Self {
        Optional {
            values: Vec::new(),
            defined: Vec::new(),
        }
    }
}

impl<T> Optional<T> {
    fn push(&mut self, value: Option<T>) {
        self.defined.push(i16::from(value.is_some()));
        self.values.extend(value);
    }
}

/// A required list column: its values and their levels (an empty list is
/// one entry at definition level 0).
struct List<T> {
    values: Vec<T>,
    defined: Vec<i16>,
    repeated: Vec<i16>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            values: Vec::new(),
            defined: Vec::new(),
            repeated: Vec::new(),
        }
    }
}

impl<T> List<T> {
    fn push(&mut self, items: impl IntoIterator<Item = T>) {
        let before = self.values.len();
        self.values.extend(items);
        let added = self.values.len() - before;
        if added == 0 {
            self.defined.push(0);
            self.repeated.push(0);
            return;
        }
        self.defined.extend(std::iter::repeat_n(1, added));
        self.repeated.push(0);
        self.repeated.extend(std::iter::repeat_n(1, added - 1));
    }
}

fn text(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

/// Parquet rows, written a row group at a time.
struct ParquetSink<W: Write + Send> {
    writer: Option<SerializedFileWriter<W>>,
    columns: Columns,
    rows: usize,
}

fn parquet_error(e: parquet::errors::ParquetError) -> Error {
    write_error(format!("Parquet: {e}"))
}

impl<W: Write + Send> ParquetSink<W> {
    /// A sink whose file names the model of its vectors in its key-value
    /// metadata (`embedding_model`, `embedding_fingerprint`), which `relate
    /// ingest` checks as it does the same fields of a JSON Lines record.
    fn new(out: W, model: &str, fingerprint: Option<&str>) -> Result<Self> {
        let schema = Arc::new(parse_message_type(PARQUET_SCHEMA).map_err(parquet_error)?);
        let mut metadata = vec![KeyValue::new(MODEL_FIELD.to_string(), model.to_string())];
        if let Some(fingerprint) = fingerprint {
            metadata.push(KeyValue::new(
                FINGERPRINT_FIELD.to_string(),
                fingerprint.to_string(),
            ));
        }
        let properties = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_created_by(format!("relate {}", env!("CARGO_PKG_VERSION")))
                .set_key_value_metadata(Some(metadata))
                .build(),
        );
        let writer = SerializedFileWriter::new(out, schema, properties).map_err(parquet_error)?;
        Ok(ParquetSink {
            writer: Some(writer),
            columns: Columns::default(),
            rows: 0,
        })
    }

    fn write_row_group(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let columns = std::mem::take(&mut self.columns);
        self.rows = 0;
        let writer = self.writer.as_mut().expect("writer open until finish");
        let mut group = writer.next_row_group().map_err(parquet_error)?;
        let mut leaf = 0;
        while let Some(mut column) = group.next_column().map_err(parquet_error)? {
            write_leaf(&mut column, leaf, &columns).map_err(parquet_error)?;
            column.close().map_err(parquet_error)?;
            leaf += 1;
        }
        group.close().map_err(parquet_error)?;
        Ok(())
    }
}

/// Writes leaf column `leaf` (in schema order) of `c`.
fn write_leaf(
    column: &mut SerializedColumnWriter<'_>,
    leaf: usize,
    c: &Columns,
) -> parquet::errors::Result<usize> {
    let strings = |column: &mut SerializedColumnWriter<'_>, values: &[ByteArray]| {
        column
            .typed::<ByteArrayType>()
            .write_batch(values, None, None)
    };
    let optional_strings = |column: &mut SerializedColumnWriter<'_>, o: &Optional<ByteArray>| {
        column
            .typed::<ByteArrayType>()
            .write_batch(&o.values, Some(&o.defined), None)
    };
    let string_list = |column: &mut SerializedColumnWriter<'_>, l: &List<ByteArray>| {
        column
            .typed::<ByteArrayType>()
            .write_batch(&l.values, Some(&l.defined), Some(&l.repeated))
    };
    let optional_int = |column: &mut SerializedColumnWriter<'_>, o: &Optional<i32>| {
        column
            .typed::<Int32Type>()
            .write_batch(&o.values, Some(&o.defined), None)
    };
    match leaf {
        0 => strings(column, &c.ids),
        1 => strings(column, &c.titles),
        2 => strings(column, &c.abstracts),
        3 => optional_strings(column, &c.dates),
        4 => optional_strings(column, &c.urls),
        5 => string_list(column, &c.authors),
        6 => string_list(column, &c.categories),
        7 => column.typed::<FloatType>().write_batch(
            &c.embedding.values,
            Some(&c.embedding.defined),
            Some(&c.embedding.repeated),
        ),
        8 => optional_int(column, &c.topic),
        9 => optional_strings(column, &c.topic_label),
        10 => optional_int(column, &c.subtopic),
        11 => optional_strings(column, &c.subtopic_label),
        _ => strings(column, &c.records),
    }
}

impl<W: Write + Send> Sink for ParquetSink<W> {
    fn push(&mut self, paper: &Paper, vector: &[f32], topic: Option<&TopicTag>) -> Result<()> {
        let c = &mut self.columns;
        c.ids.push(text(&paper.id));
        c.titles.push(text(&paper.title));
        c.abstracts.push(text(&paper.abstract_text));
        c.dates.push(paper.date.as_deref().map(text));
        c.urls.push(paper.url.as_deref().map(text));
        c.authors.push(paper.authors.iter().map(|a| text(a)));
        c.categories.push(paper.categories.iter().map(|a| text(a)));
        c.embedding.push(vector.iter().copied());
        c.topic.push(topic.and_then(|t| t.id).map(|id| id as i32));
        c.topic_label.push(topic.map(|t| text(&t.label)));
        c.subtopic
            .push(topic.and_then(|t| t.subtopic).map(|s| s as i32));
        c.subtopic_label
            .push(topic.and_then(|t| t.sublabel.as_deref()).map(text));
        let record = serde_json::to_string(paper).map_err(write_error)?;
        c.records.push(ByteArray::from(record.into_bytes()));
        self.rows += 1;
        if self.rows == ROW_GROUP {
            self.write_row_group()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.write_row_group()?;
        if let Some(writer) = self.writer.take() {
            let mut out = writer.into_inner().map_err(parquet_error)?;
            out.flush().map_err(write_error)?;
        }
        Ok(())
    }
}
