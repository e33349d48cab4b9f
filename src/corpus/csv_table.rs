//! Streams papers from a CSV table (comma-separated; tab-separated for
//! `.tsv` files; otherwise tab, semicolon or `|` when that separator, and
//! not the comma, splits the header into a `title` column; or the one an
//! Excel `sep=X` first line names). The first row (after `sep=`) names the
//! columns (see [`super::record`] for which names mean what; `title` is
//! required). Rows are read one at a time; quoted fields may hold commas,
//! quotes (`""`) and line breaks. A row is rejected, with the line it
//! starts on, when it has a different number of fields than the header or
//! holds bytes that are not UTF-8. Empty cells count as absent.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;

use csv::{ByteRecord, Reader, ReaderBuilder};
use serde_json::{Map, Value};

use super::event::{Problem, ReadEvent};
use super::normalize::strip_bom;
use super::record::paper_from_fields;
use crate::{Error, Result};

/// An iterator over the events of a CSV source.
pub(crate) struct CsvRows<R> {
    reader: Reader<LineCounter<R>>,
    path: String,
    columns: Vec<String>,
    record: ByteRecord,
    done: bool,
    /// The record read after one with a line break in a field, to learn
    /// whether that one ran to the end of the file; or the error reading
    /// it gave.
    ahead: Option<std::result::Result<ByteRecord, csv::Error>>,
}

/// Separators a header line is tried with, the most usual first.
const SEPARATORS: [u8; 4] = [b',', b'\t', b';', b'|'];

/// Chooses the field separator: tab for `.tsv` files; otherwise the one
/// (of comma, tab, semicolon and `|`) that splits the header line into a
/// `title` column, and when several or none do, the one that splits it
/// into the most columns, comma on a tie. Separators inside quoted names
/// do not count, so `id;title;"abstract, full"` is semicolon-separated.
pub(crate) fn delimiter_for(extension: Option<&str>, first_line: &str) -> u8 {
    if extension.is_some_and(|e| e.eq_ignore_ascii_case("tsv")) {
        return b'\t';
    }
    let line = first_line.trim_start_matches('\u{feff}');
    let split: Vec<(u8, Vec<String>)> = SEPARATORS
        .iter()
        .map(|&sep| (sep, header_names(line, sep)))
        .collect();
    let names_title = |names: &[String]| names.iter().any(|n| n.eq_ignore_ascii_case("title"));
    let with_title: Vec<&(u8, Vec<String>)> = split
        .iter()
        .filter(|(_, names)| names_title(names))
        .collect();
    let candidates = if with_title.is_empty() {
        split.iter().collect()
    } else {
        with_title
    };
    // The first of the candidates with the most columns (comma first).
    let mut best = candidates[0];
    for candidate in &candidates[1..] {
        if candidate.1.len() > best.1.len() {
            best = candidate;
        }
    }
    best.0
}

/// Whether a header line, split at some separator, has more than one
/// column and one named `title`.
pub(crate) fn names_a_title_column(line: &str) -> bool {
    let line = line.trim_start_matches('\u{feff}');
    SEPARATORS.iter().any(|&sep| {
        let names = header_names(line, sep);
        names.len() > 1
            && (names.iter().any(|n| n.eq_ignore_ascii_case("title")) || is_web_of_science(&names))
    })
}

/// Whether a header names Web of Science's tab-delimited columns (`PT`,
/// `AU`, `TI`, …), which [`web_of_science_names`] renames.
fn is_web_of_science(names: &[String]) -> bool {
    ["PT", "AU", "TI"]
        .iter()
        .all(|tag| names.iter().any(|n| n == tag))
        && !names.iter().any(|n| n.eq_ignore_ascii_case("title"))
}

/// Web of Science's tab-delimited export names its columns by field tags:
/// `TI` the title, `AB` the abstract, `AF` (else `AU`) the authors, `PY`
/// the year, `DI` the DOI, and `UT` (its accession number) the id when
/// there is no `DI` column. Other tags are kept as they are.
fn web_of_science_names(columns: &mut [String]) {
    let has = |tag: &str, columns: &[String]| columns.iter().any(|c| c == tag);
    let authors = if has("AF", columns) { "AF" } else { "AU" };
    let ids = !has("DI", columns);
    for column in columns.iter_mut() {
        let name = match column.as_str() {
            "TI" => "title",
            "AB" => "abstract",
            "PY" => "year",
            "DI" => "doi",
            "UT" if ids => "id",
            tag if tag == authors => "authors",
            _ => continue,
        };
        *column = name.to_string();
    }
}

/// The separator named by Excel's first line `sep=X` (which Excel writes
/// for, and reads as, "the fields are separated by X"), if the line is one.
pub(crate) fn excel_separator(first_line: &str) -> Option<u8> {
    let line = first_line
        .trim_start_matches('\u{feff}')
        .trim_end_matches(['\r', '\n']);
    let rest = line
        .get(..4)?
        .eq_ignore_ascii_case("sep=")
        .then(|| &line[4..])?;
    match rest.as_bytes() {
        [sep] if sep.is_ascii() && *sep != b'"' && *sep != b'\n' => Some(*sep),
        _ => None,
    }
}

/// The column names of a header line split at `sep` outside double
/// quotes, each trimmed and unquoted.
fn header_names(line: &str, sep: u8) -> Vec<String> {
    let mut names = Vec::new();
    let mut name = String::new();
    let mut quoted = false;
    for c in line.trim_end_matches(['\r', '\n']).chars() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted && c == sep as char {
            names.push(std::mem::take(&mut name).trim().to_string());
        } else {
            name.push(c);
        }
    }
    names.push(name.trim().to_string());
    names
}

impl<R: Read> CsvRows<R> {
    /// Reads the header row. Fails when it is not UTF-8, names a column
    /// twice, or has no `title` column; a source without any header yields
    /// nothing.
    /// `separator_line`: the source starts with Excel's `sep=X` line,
    /// which is passed over (see [`excel_separator`]).
    pub(crate) fn new(input: R, path: &str, delimiter: u8, separator_line: bool) -> Result<Self> {
        let mut counter = LineCounter::new(input);
        counter.skip_first_line = separator_line;
        let mut reader = ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(counter);
        let header_error = |problem: String| Error::BadRecord {
            path: path.to_string(),
            line: 1 + usize::from(separator_line),
            problem,
        };
        let headers = reader
            .byte_headers()
            .map_err(|e| header_error(format!("cannot read the header row: {e}")))?
            .clone();
        let mut columns = Vec::with_capacity(headers.len());
        for (i, raw) in headers.iter().enumerate() {
            let name = std::str::from_utf8(raw).map_err(|_| {
                header_error(format!(
                    "column {} of the header row is not valid UTF-8; save the file as UTF-8",
                    i + 1
                ))
            })?;
            let name = if i == 0 { strip_bom(name) } else { name };
            let name = name.trim().to_string();
            if !name.is_empty() {
                if let Some(first) = columns
                    .iter()
                    .position(|c: &String| c.eq_ignore_ascii_case(&name))
                {
                    return Err(header_error(format!(
                        "column `{name}` appears twice (columns {} and {}); rename one",
                        first + 1,
                        i + 1
                    )));
                }
            }
            columns.push(name);
        }
        if is_web_of_science(&columns) {
            web_of_science_names(&mut columns);
        }
        let no_header = columns.iter().all(String::is_empty);
        if !no_header && !columns.iter().any(|c| c.eq_ignore_ascii_case("title")) {
            return Err(header_error(format!(
                "the header row has no `title` column (it has: {}); the first row must name \
                 the columns, and `title` is required",
                columns.join(", ")
            )));
        }
        Ok(CsvRows {
            reader,
            path: path.to_string(),
            columns,
            record: ByteRecord::new(),
            done: no_header,
            ahead: None,
        })
    }

    fn reject(&self, line: usize, message: impl Into<String>) -> ReadEvent {
        ReadEvent::Rejected(Problem::new(&self.path, line, message))
    }

    /// Turns the current record into named fields, or says what is wrong.
    fn fields(&self) -> std::result::Result<Map<String, Value>, String> {
        if self.record.len() != self.columns.len() {
            // A quote left open takes the lines after it into one field.
            let breaks: usize = self
                .record
                .iter()
                .map(|field| field.iter().filter(|&&b| b == b'\n').count())
                .sum();
            let spans = if breaks > 0 {
                format!(
                    "; a quoted field of it runs over {} lines, so a quote may be missing its \
                     closing quote (the lines after it were read as part of this row)",
                    breaks + 1
                )
            } else {
                String::new()
            };
            return Err(format!(
                "this row has {} fields but the header has {}; check its quotes and separators{spans}",
                self.record.len(),
                self.columns.len()
            ));
        }
        let mut fields = Map::new();
        for (column, raw) in self.columns.iter().zip(self.record.iter()) {
            let text = std::str::from_utf8(raw).map_err(|_| {
                format!("field `{column}` is not valid UTF-8; save the file as UTF-8")
            })?;
            if !column.is_empty() && !text.trim().is_empty() {
                fields.insert(column.clone(), Value::String(text.to_string()));
            }
        }
        Ok(fields)
    }
}

impl<R: Read> Iterator for CsvRows<R> {
    type Item = ReadEvent;

    fn next(&mut self) -> Option<ReadEvent> {
        if self.done {
            return None;
        }
        let read = match self.ahead.take() {
            Some(Ok(record)) => {
                self.record = record;
                Ok(true)
            }
            Some(Err(e)) => Err(e),
            None => self.reader.read_byte_record(&mut self.record),
        };
        match read {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                let line = e.position().map_or(0, |p| p.line() as usize);
                return Some(self.reject(
                    line,
                    format!("cannot read the file from here on ({e}); the rest of it was not read"),
                ));
            }
        }
        // The CSV parser's own line count is one short after a CRLF line
        // ending, so lines are counted from the bytes (see `LineCounter`).
        let line = self
            .record
            .position()
            .map_or(0, |p| self.reader.get_ref().line_at(p.byte()));
        if self.record.iter().any(|field| field.contains(&b'\n')) {
            let mut next = ByteRecord::new();
            match self.reader.read_byte_record(&mut next) {
                Ok(true) => self.ahead = Some(Ok(next)),
                Ok(false) => {
                    self.done = true;
                    // A quote left open runs to the end of the file with no
                    // error from the parser: its quotes are then odd.
                    if self.reader.get_ref().odd_quotes() {
                        return Some(self.reject(
                            line,
                            "a quote opened in this row is never closed, so the rest of the \
                             file was read into one of its fields: close the quote",
                        ));
                    }
                }
                Err(e) => self.ahead = Some(Err(e)),
            }
        }
        Some(match self.fields().and_then(paper_from_fields) {
            Ok(paper) => ReadEvent::Paper { paper, line },
            Err(message) => self.reject(line, message),
        })
    }
}

/// Passes bytes through and remembers where each line's content starts, so
/// the line of a record the parser has read past can be found. The parser's
/// own record positions may point at the line break before a record (after
/// a CRLF or a blank line), so a record's line is that of the first content
/// at or after its position. Queries come in increasing order and entries
/// already passed are dropped, so memory stays bounded by what the parser
/// has buffered.
pub(crate) struct LineCounter<R> {
    inner: R,
    offset: u64,
    line: usize,
    line_has_content: bool,
    /// Quote characters passed so far: odd at the end when one is open.
    quotes: u64,
    /// (byte offset, 1-based line) of the first content byte of each line.
    content_starts: RefCell<VecDeque<(u64, usize)>>,
    /// Whether the first line is still to be passed over (Excel's `sep=`).
    skip_first_line: bool,
}

impl<R> LineCounter<R> {
    fn new(inner: R) -> Self {
        LineCounter {
            inner,
            offset: 0,
            line: 1,
            line_has_content: false,
            quotes: 0,
            content_starts: RefCell::new(VecDeque::new()),
            skip_first_line: false,
        }
    }

    /// Whether an odd number of quote characters has passed.
    fn odd_quotes(&self) -> bool {
        self.quotes % 2 == 1
    }

    /// 1-based line of the record the parser says starts at byte `offset`.
    fn line_at(&self, offset: u64) -> usize {
        let mut starts = self.content_starts.borrow_mut();
        while starts.front().is_some_and(|&(at, _)| at < offset) {
            starts.pop_front();
        }
        starts.front().map_or(self.line, |&(_, line)| line)
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = self.inner.read(buf)?;
        while self.skip_first_line && n > 0 {
            if let Some(end) = buf[..n].iter().position(|&b| b == b'\n') {
                self.skip_first_line = false;
                self.line += 1;
                buf.copy_within(end + 1..n, 0);
                n -= end + 1;
            } else {
                n = 0;
            }
            if n == 0 {
                n = self.inner.read(buf)?;
            }
        }
        let starts = self.content_starts.get_mut();
        for (i, &byte) in buf[..n].iter().enumerate() {
            self.quotes += u64::from(byte == b'"');
            match byte {
                b'\n' => {
                    self.line += 1;
                    self.line_has_content = false;
                }
                b'\r' => {}
                _ if !self.line_has_content => {
                    starts.push_back((self.offset + i as u64, self.line));
                    self.line_has_content = true;
                }
                _ => {}
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_tab_for_tsv_and_tab_only_headers() {
        assert_eq!(delimiter_for(Some("TSV"), "a,b"), b'\t');
        assert_eq!(delimiter_for(None, "id\ttitle"), b'\t');
        assert_eq!(delimiter_for(Some("csv"), "id,title\tx"), b',');
        assert_eq!(delimiter_for(Some("csv"), "id;title"), b';');
        assert_eq!(delimiter_for(Some("csv"), "id,title;x"), b',');
    }

    #[test]
    fn excel_separator_line_names_the_separator_and_is_passed_over() {
        assert_eq!(excel_separator("\u{feff}sep=;\r"), Some(b';'));
        assert_eq!(excel_separator("SEP=|"), Some(b'|'));
        assert_eq!(excel_separator("sep=;;"), None);
        assert_eq!(excel_separator("separator,title"), None);
        let input =
            &b"sep=;\r\nID;Title ;Abstract\r\n1;A paper;Its text\r\n\r\n2;\"Two\r\nlines\";x\r\n"[..];
        let rows: Vec<(String, usize)> = CsvRows::new(input, "t.csv", b';', true)
            .unwrap()
            .map(|event| match event {
                ReadEvent::Paper { paper, line } => (paper.title, line),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            rows,
            [("A paper".to_string(), 3), ("Two lines".to_string(), 5)]
        );
        let err = CsvRows::new(&b"sep=,\nid,name\n"[..], "t.csv", b',', true)
            .err()
            .unwrap();
        assert!(err.to_string().contains(":2:"), "{err}");
    }

    #[test]
    fn picks_the_separator_that_yields_a_title_column() {
        // A quoted name may hold another separator.
        assert_eq!(
            delimiter_for(None, "id;title;\"abstract, full\";year"),
            b';'
        );
        assert_eq!(
            delimiter_for(None, "\u{feff}\"Title\";\"Authors, all\""),
            b';'
        );
        assert_eq!(delimiter_for(None, "id\ttitle\tnotes, free"), b'\t');
        assert_eq!(delimiter_for(None, "id|title|abstract"), b'|');
        assert_eq!(delimiter_for(None, "\"title;short\",abstract"), b',');
        // Without a title column anywhere: the most columns, comma first.
        assert_eq!(delimiter_for(None, "a;b;c,d"), b';');
        assert_eq!(delimiter_for(None, "a,b;c"), b',');
        assert_eq!(delimiter_for(None, "title"), b',');
    }

    #[test]
    fn rows_are_numbered_by_their_first_line_with_any_line_ending() {
        for input in [
            &b"title,abstract\na,\"x\ny\"\n\nb,z\n"[..],
            b"title,abstract\r\na,\"x\r\ny\"\r\n\r\nb,z\r\n",
        ] {
            let lines: Vec<usize> = CsvRows::new(input, "t.csv", b',', false)
                .unwrap()
                .map(|e| match e {
                    ReadEvent::Paper { line, .. } => line,
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
            assert_eq!(lines, [2, 5], "{}", String::from_utf8_lossy(input));
        }
    }

    fn rows_of(input: &[u8]) -> Vec<ReadEvent> {
        CsvRows::new(input, "t.csv", b',', false).unwrap().collect()
    }

    #[test]
    fn an_unclosed_quote_is_named_in_the_row_it_swallows() {
        let input = b"id,title,abstract\n1,First,\"open\n2,Second,fine\n3,Third,fine\n";
        let events = rows_of(input);
        assert_eq!(events.len(), 1, "{events:?}");
        match &events[0] {
            ReadEvent::Rejected(problem) => {
                assert_eq!(problem.line, 2);
                assert!(
                    problem.message.contains("never closed"),
                    "{}",
                    problem.message
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        // In a middle column, to the end of the file too.
        let input = b"id,title,abstract\n1,\"First,open\n2,Second,fine\n";
        let events = rows_of(input);
        match &events[..] {
            [ReadEvent::Rejected(problem)] => {
                assert!(
                    problem.message.contains("never closed"),
                    "{}",
                    problem.message
                )
            }
            other => panic!("unexpected {other:?}"),
        }
        // Closed by a later quote: the row comes up short of fields, and
        // the message says how many lines its field took.
        let input = b"id,title,abstract\n1,\"First,open\n2,Second,\"fine\n3,Third,x\n";
        let events = rows_of(input);
        match &events[0] {
            ReadEvent::Rejected(problem) => assert!(
                problem.message.contains("runs over 2 lines")
                    && problem.message.contains("closing quote"),
                "{}",
                problem.message
            ),
            other => panic!("unexpected {other:?}"),
        }
        // A closed quote over lines, last in the file, is a paper.
        let input = b"id,title,abstract\n1,First,\"two\nlines\"\n";
        let events = rows_of(input);
        assert!(
            matches!(&events[..], [ReadEvent::Paper { line: 2, .. }]),
            "{events:?}"
        );
    }

    #[test]
    fn header_without_title_is_an_error() {
        let err = CsvRows::new(&b"id,name\n1,x\n"[..], "t.csv", b',', false)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("no `title` column (it has: id, name)"),
            "{err}"
        );
        let err = CsvRows::new(&b"title,Title\n"[..], "t.csv", b',', false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("appears twice"), "{err}");
    }

    #[test]
    fn web_of_science_tab_delimited_columns_are_renamed() {
        let text = "PT\tAU\tAF\tTI\tSO\tAB\tPY\tDI\tUT\n\
                    J\tDoe, J; Roe, R\tDoe, Jane; Roe, Rick\tSparse attention\tJ LONG TEXTS\t\
                    We propose it.\t2021\t10.1000/x\tWOS:1\n";
        assert!(names_a_title_column(text.lines().next().unwrap()));
        let rows: Vec<ReadEvent> = CsvRows::new(text.as_bytes(), "savedrecs.txt", b'\t', false)
            .unwrap()
            .collect();
        let ReadEvent::Paper { paper, line } = &rows[0] else {
            panic!("{rows:?}")
        };
        assert_eq!(*line, 2);
        assert_eq!(paper.title, "Sparse attention");
        assert_eq!(paper.abstract_text, "We propose it.");
        assert_eq!(paper.authors, ["Doe, Jane", "Roe, Rick"]);
        assert_eq!(paper.date.as_deref(), Some("2021"));
        assert_eq!(paper.id, "10.1000/x");
        assert_eq!(paper.extra["UT"], "WOS:1");
    }
}
