//! Streams papers from JSON lines, one object per line, so a file of any
//! size is read a line at a time. Blank lines are skipped; a line that is
//! not UTF-8, not JSON, not an object, or not a valid paper is rejected with
//! its line number and reading goes on. The mapping from an object to a
//! paper is passed in, so the arXiv snapshot reuses this reader.

use std::io::BufRead;

use serde_json::{Map, Value};

use super::event::{Problem, ReadEvent};
use super::json_object::{object_events, paper_events, JsonRecord};
use super::lines::{read_line_limited, too_long_message, LineRead, MAX_LINE_BYTES};
use super::normalize::{describe_utf8_error, BOM};
use super::Paper;

/// Maps one JSON object to a paper, or says what is wrong with it.
pub(crate) type ObjectToPaper = fn(Map<String, Value>) -> Result<Paper, String>;

/// An iterator over the events of a JSON-lines source.
pub(crate) struct JsonLines<R> {
    reader: R,
    path: String,
    to_paper: ObjectToPaper,
    line: usize,
    buffer: Vec<u8>,
    line_limit: usize,
    done: bool,
    /// Lines that followed a lone carriage return in the line just read
    /// (a file with old Mac line endings), handed out next.
    pending: std::collections::VecDeque<Vec<u8>>,
    /// Events of a line that wrapped several papers, handed out next.
    queued: std::collections::VecDeque<ReadEvent>,
}

impl<R: BufRead> JsonLines<R> {
    pub(crate) fn new(reader: R, path: &str, to_paper: ObjectToPaper) -> Self {
        JsonLines {
            reader,
            path: path.to_string(),
            to_paper,
            line: 0,
            buffer: Vec::new(),
            line_limit: MAX_LINE_BYTES,
            done: false,
            pending: std::collections::VecDeque::new(),
            queued: std::collections::VecDeque::new(),
        }
    }

    /// The same reader with another limit on line length (for tests).
    #[cfg(test)]
    pub(crate) fn with_line_limit(mut self, limit: usize) -> Self {
        self.line_limit = limit;
        self
    }

    fn reject(&self, message: impl Into<String>) -> ReadEvent {
        ReadEvent::Rejected(Problem::new(&self.path, self.line, message))
    }

    /// Reads the next line into the buffer, without its line ending. A
    /// lone carriage return ends a line too: JSON text holds none outside
    /// its whitespace.
    fn read_line(&mut self) -> std::io::Result<LineRead> {
        if let Some(next) = self.pending.pop_front() {
            self.buffer = next;
            self.line += 1;
            return Ok(LineRead::Line);
        }
        let read = read_line_limited(&mut self.reader, &mut self.buffer, self.line_limit)?;
        if read == LineRead::End {
            return Ok(read);
        }
        self.line += 1;
        while matches!(self.buffer.last(), Some(b'\n' | b'\r')) {
            self.buffer.pop();
        }
        if self.line == 1 && self.buffer.starts_with(BOM.as_bytes()) {
            self.buffer.drain(..BOM.len());
        }
        if read == LineRead::Line && self.buffer.contains(&b'\r') {
            let mut parts = self.buffer.split(|&b| b == b'\r').map(<[u8]>::to_vec);
            let first = parts.next().unwrap_or_default();
            self.pending.extend(parts);
            self.buffer = first;
        }
        Ok(read)
    }
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = ReadEvent;

    fn next(&mut self) -> Option<ReadEvent> {
        if let Some(event) = self.queued.pop_front() {
            return Some(event);
        }
        loop {
            if self.done {
                return None;
            }
            match self.read_line() {
                Ok(LineRead::Line) => {}
                Ok(LineRead::End) => {
                    self.done = true;
                    return None;
                }
                Ok(LineRead::TooLong { bytes }) => {
                    return Some(self.reject(too_long_message(bytes, self.line_limit)));
                }
                Err(e) => {
                    self.done = true;
                    self.line += 1;
                    return Some(self.reject(format!(
                        "cannot read the file from here on ({e}); the rest of it was not read"
                    )));
                }
            }
            let text = match std::str::from_utf8(&self.buffer) {
                Ok(text) => text,
                Err(e) => {
                    let (_, message) = describe_utf8_error(&self.buffer, &e);
                    return Some(self.reject(message));
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            let (object, repeated) = match JsonRecord::parse(text) {
                Ok(JsonRecord::Object { fields, repeated }) => (fields, repeated),
                Ok(JsonRecord::Other(found)) => {
                    return Some(self.reject(format!(
                        "expected a JSON object {{...}} on this line, found {found}"
                    )));
                }
                Err(e) => return Some(self.reject(json_error_message(&e))),
            };
            // An API answer saved on one line (`curl` output): the papers it
            // wraps, each reported at this line. Only an object without a
            // title is looked into, so papers are parsed once.
            let titled = object
                .keys()
                .any(|k| k.trim().eq_ignore_ascii_case("title"));
            if let Some(items) = (!titled)
                .then(|| super::json_document::wrapped_papers(text))
                .flatten()
            {
                let (path, line) = (&self.path, self.line);
                let events = items
                    .iter()
                    .flat_map(|item| paper_events(item.get(), self.to_paper, path, line));
                self.queued.extend(events);
            } else {
                let events = object_events(object, &repeated, self.to_paper, &self.path, self.line);
                self.queued.extend(events);
            }
            match self.queued.pop_front() {
                Some(event) => return Some(event),
                None => continue,
            }
        }
    }
}

/// "not valid JSON at column 12: expected `,` or `}`", without serde's own
/// line number (always 1 here, which would contradict the file's line).
fn json_error_message(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let what = full
        .rfind(" at line ")
        .map_or(full.as_str(), |at| &full[..at]);
    format!(
        "not valid JSON at column {}: {what}; each line must be one JSON object",
        error.column()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::record::paper_from_fields;

    fn events(input: &[u8]) -> Vec<ReadEvent> {
        JsonLines::new(input, "in.jsonl", paper_from_fields).collect()
    }

    #[test]
    fn old_mac_line_endings_end_lines_too() {
        let input = b"{\"title\": \"One\"}\r{\"title\": oops}\r\r{\"title\": \"Two\"}\r\n{\"title\": \"Three\"}\n";
        let events = events(input);
        let found: Vec<(usize, &str)> = events
            .iter()
            .map(|e| match e {
                ReadEvent::Paper { paper, line } => (*line, paper.title.as_str()),
                ReadEvent::Rejected(p) => (p.line, "rejected"),
                ReadEvent::Warning(p) => (p.line, "warning"),
            })
            .collect();
        assert_eq!(
            found,
            [(1, "One"), (2, "rejected"), (4, "Two"), (5, "Three")]
        );
    }

    #[test]
    fn reads_objects_and_rejects_bad_lines_with_their_numbers() {
        let input =
            b"\xEF\xBB\xBF{\"title\": \"One\"}\r\n\n[1]\n{\"title\": oops}\n{\"title\": \"Two\"}";
        let events = events(input);
        assert_eq!(events.len(), 4, "{events:?}");
        assert!(matches!(&events[0], ReadEvent::Paper { paper, line: 1 } if paper.title == "One"));
        match &events[1] {
            ReadEvent::Rejected(p) => {
                assert_eq!(p.line, 3);
                assert!(p.message.contains("found a list"), "{}", p.message);
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        match &events[2] {
            ReadEvent::Rejected(p) => {
                assert_eq!(p.line, 4);
                assert!(
                    p.message.starts_with("not valid JSON at column"),
                    "{}",
                    p.message
                );
                assert!(!p.message.contains("line 1"), "{}", p.message);
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(matches!(&events[3], ReadEvent::Paper { paper, line: 5 } if paper.title == "Two"));
    }

    #[test]
    fn a_repeated_field_is_warned_about_before_its_paper() {
        let input = b"{\"title\": \"One\", \"title\": \"Two\"}\n{\"title\": \"Three\"}\n";
        let events = events(input);
        assert_eq!(events.len(), 3, "{events:?}");
        match &events[0] {
            ReadEvent::Warning(p) => {
                assert_eq!(p.line, 1);
                assert!(
                    p.message.contains("`title` appears more than once"),
                    "{}",
                    p.message
                );
            }
            other => panic!("expected a warning, got {other:?}"),
        }
        assert!(matches!(&events[1], ReadEvent::Paper { paper, line: 1 } if paper.title == "Two"));
        assert!(
            matches!(&events[2], ReadEvent::Paper { paper, line: 2 } if paper.title == "Three")
        );
    }

    #[test]
    fn over_long_lines_are_rejected_and_reading_goes_on() {
        let long = format!("{{\"title\": \"{}\"}}", "x".repeat(100));
        let input = format!("{{\"title\": \"One\"}}\n{long}\n{{\"title\": \"Two\"}}\n");
        let events: Vec<ReadEvent> =
            JsonLines::new(input.as_bytes(), "in.jsonl", paper_from_fields)
                .with_line_limit(64)
                .collect();
        assert_eq!(events.len(), 3, "{events:?}");
        match &events[1] {
            ReadEvent::Rejected(p) => {
                assert_eq!(p.line, 2);
                assert!(p.message.contains("113 bytes long"), "{}", p.message);
                assert!(p.message.contains("limit of 64 bytes"), "{}", p.message);
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(matches!(&events[2], ReadEvent::Paper { paper, line: 3 } if paper.title == "Two"));
    }

    #[test]
    fn an_api_answer_on_one_line_gives_the_papers_it_wraps() {
        let got = events(
            b"{\"title\": \"Alone\"}\n{\"status\": \"ok\", \"message\": {\"items\": \
              [{\"title\": [\"One\"]}, {\"title\": \"\"}, {\"title\": [\"Two\"]}]}}\n\
              {\"title\": \"After\"}\n",
        );
        let seen: Vec<(String, usize)> = got
            .iter()
            .map(|e| match e {
                ReadEvent::Paper { paper, line } => (paper.title.clone(), *line),
                ReadEvent::Rejected(p) => (format!("rejected: {}", p.message), p.line),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert_eq!(seen[0], ("Alone".to_string(), 1));
        assert_eq!(seen[1], ("One".to_string(), 2));
        assert!(
            seen[2].0.contains("missing title") && seen[2].1 == 2,
            "{seen:?}"
        );
        assert_eq!(seen[3], ("Two".to_string(), 2));
        assert_eq!(seen[4], ("After".to_string(), 3));
    }
}
