//! Opening a paper source: picks the format (given, or detected), hands the
//! file to that format's reader, and checks what every format shares: ids
//! are unique within the file (a later duplicate is rejected, naming the
//! line of the first) and a paper without an abstract gets a warning.
//!
//! JSON lines, the arXiv snapshot and CSV are streamed record by record, so
//! a file of any size is never held whole in memory (only the ids read so
//! far are kept, to find duplicates); digest pages and BibTeX files are read
//! whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::event::{Problem, ReadEvent};
use super::format::{detect_format, Format};
use super::normalize::{describe_utf8_error, strip_bom};
use super::{arxiv, bibtex, csv_table, digest, jsonl, record};
use crate::{Error, Result};

/// The papers of one source, as an iterator of [`ReadEvent`]s.
pub struct PaperReader {
    format: Format,
    path: String,
    events: Box<dyn Iterator<Item = ReadEvent> + Send>,
    first_line_of: HashMap<String, usize>,
    held_back: Option<ReadEvent>,
}

/// Opens `path` and reads it as `format`, or as the format
/// [`detect_format`] finds when `format` is `None`.
///
/// Fails with [`Error::Io`] when the file cannot be opened or read, with
/// [`Error::UnknownFormat`] when the format cannot be told, and with
/// [`Error::BadRecord`] when a digest page or BibTeX file is not UTF-8 (the
/// error names the line) or a CSV header has no `title` column. An empty
/// file gives a reader with no papers. Problems with single records do not
/// fail: they come out of the reader as [`ReadEvent::Rejected`].
pub fn read_papers(path: &Path, format: Option<Format>) -> Result<PaperReader> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let size = file
        .metadata()
        .map_err(|e| Error::io("cannot read", path, e))?
        .len();
    let format = match format {
        Some(format) => format,
        // An empty file has no papers whatever its format; report the one
        // its name suggests, if any.
        None if size == 0 => detect_format(path).unwrap_or(Format::Jsonl),
        None => detect_format(path)?,
    };
    let events: Box<dyn Iterator<Item = ReadEvent> + Send> = if size == 0 {
        Box::new(std::iter::empty())
    } else {
        match format {
            Format::Jsonl => Box::new(jsonl::JsonLines::new(
                BufReader::new(file),
                &shown,
                record::paper_from_fields,
            )),
            Format::Arxiv => Box::new(jsonl::JsonLines::new(
                BufReader::new(file),
                &shown,
                arxiv::paper_from_arxiv,
            )),
            Format::Csv => {
                let mut input = BufReader::new(file);
                let first_line = peek_first_line(&mut input, path)?;
                let extension = path.extension().and_then(|e| e.to_str());
                let delimiter = csv_table::delimiter_for(extension, &first_line);
                Box::new(csv_table::CsvRows::new(input, &shown, delimiter)?)
            }
            Format::Digest => {
                let text = read_text(file, path, &shown)?;
                Box::new(digest::read_digest(&text, &shown).into_iter())
            }
            Format::Bibtex => {
                let text = read_text(file, path, &shown)?;
                Box::new(bibtex::read_bibtex(&text, &shown).into_iter())
            }
        }
    };
    Ok(PaperReader {
        format,
        path: shown,
        events,
        first_line_of: HashMap::new(),
        held_back: None,
    })
}

impl PaperReader {
    /// The format the source is read as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The source's path, as shown in problems.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl Iterator for PaperReader {
    type Item = ReadEvent;

    fn next(&mut self) -> Option<ReadEvent> {
        if let Some(event) = self.held_back.take() {
            return Some(event);
        }
        let (paper, line) = match self.events.next()? {
            ReadEvent::Paper { paper, line } => (paper, line),
            other => return Some(other),
        };
        if let Some(&first) = self.first_line_of.get(&paper.id) {
            return Some(ReadEvent::Rejected(Problem::new(
                &self.path,
                line,
                format!(
                    "duplicate id `{}`: line {first} already has a paper with this id; \
                     this one (\"{}\") is skipped",
                    paper.id, paper.title
                ),
            )));
        }
        self.first_line_of.insert(paper.id.clone(), line);
        if paper.abstract_text.is_empty() {
            let warning = Problem::new(
                &self.path,
                line,
                format!(
                    "\"{}\" has no abstract; it is kept with its title only",
                    paper.title
                ),
            );
            self.held_back = Some(ReadEvent::Paper { paper, line });
            return Some(ReadEvent::Warning(warning));
        }
        Some(ReadEvent::Paper { paper, line })
    }
}

/// Reads a whole file as UTF-8 text without a BOM; bytes that are not UTF-8
/// are an error naming their line.
fn read_text(mut file: File, path: &Path, shown: &str) -> Result<String> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read", path, e))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(strip_bom(&text).to_string()),
        Err(e) => {
            let (line, problem) = describe_utf8_error(e.as_bytes(), &e.utf8_error());
            Err(Error::BadRecord {
                path: shown.to_string(),
                line: line + 1,
                problem,
            })
        }
    }
}

/// The first line of a buffered file, without consuming it (only as much
/// as the buffer holds; enough to choose a CSV separator).
fn peek_first_line(input: &mut BufReader<File>, path: &Path) -> Result<String> {
    let buffer = input
        .fill_buf()
        .map_err(|e| Error::io("cannot read", path, e))?;
    let end = buffer
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(buffer.len());
    Ok(String::from_utf8_lossy(&buffer[..end]).into_owned())
}
