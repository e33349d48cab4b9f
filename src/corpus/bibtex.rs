//! Reads BibTeX files as exported by Zotero, Google Scholar and similar
//! tools: `@type{key, field = value, …}` entries (or with parentheses),
//! values in braces (nested braces allowed), quotes, bare numbers or
//! `@string` names, joined with `#`; `@string` definitions and the standard
//! month names; `@comment`, `@preamble` and text between entries ignored.
//!
//! Each entry is parsed on its own, from its `@` line up to the next line
//! that starts an entry, so a malformed entry (an unclosed brace, a missing
//! comma) is rejected with its line and the entries after it are still read.
//! An entry whose value holds such a line (an abstract quoting a BibTeX
//! entry) is read whole when it parses up to its closing brace.
//!
//! Mapping: the paper id is the entry's DOI (normalised, see
//! [`normalize_doi`]) when it has one, because a DOI names the same paper in
//! every export while citation keys differ between tools and users; else it
//! is the citation key. `title` (required), `abstract` and `author` (split on
//! `and`, "Last, First" turned into "First Last", `others` dropped) are
//! converted from LaTeX to text; the date is `date`, else `year`; the url is
//! `url`, else the DOI's `https://doi.org/` address. The entry type, the
//! citation key and every other field are kept in [`Paper::extra`]
//! (`bibtex_type`, `bibtex_key`, `journal`, `doi`, …).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::event::{Problem, ReadEvent};
use super::format::is_bibtex_entry_start;
use super::latex::latex_to_text;
use super::normalize::normalize_text;
use super::paper_id::normalize_doi;
use super::Paper;

/// Fields that hold identifiers or addresses, cleaned without LaTeX rules
/// (a `~` or `--` in a URL must stay as it is).
const VERBATIM_FIELDS: &[&str] = &["url", "doi", "eprint", "file", "isbn", "issn", "arxivid"];

/// One parsed entry: type, key, and fields in order (name lowercased, raw
/// value).
struct Entry {
    kind: String,
    key: String,
    fields: Vec<(String, String)>,
}

/// Reads a whole BibTeX file (already checked to be UTF-8, BOM removed).
pub(crate) fn read_bibtex(text: &str, path: &str) -> Vec<ReadEvent> {
    let lines = LineIndex::new(text);
    let mut macros: HashMap<String, String> = [
        ("jan", "January"),
        ("feb", "February"),
        ("mar", "March"),
        ("apr", "April"),
        ("may", "May"),
        ("jun", "June"),
        ("jul", "July"),
        ("aug", "August"),
        ("sep", "September"),
        ("oct", "October"),
        ("nov", "November"),
        ("dec", "December"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();

    let starts = entry_starts(text);
    let mut events = Vec::new();
    let mut n = 0;
    while let Some(&start) = starts.get(n) {
        let end = starts.get(n + 1).copied().unwrap_or(text.len());
        let line = lines.line_of(start);
        let mut parsed = parse_item(text, start, end, &lines, &mut macros);
        // A line inside a value can look like the start of an entry (an
        // abstract quoting `@article{`): when the entry does not end
        // before that line, it is parsed again up to the end of the file,
        // and the entry starts it spans are passed over.
        if parsed.0.is_err() && end < text.len() {
            let whole = parse_item(text, start, text.len(), &lines, &mut macros);
            if whole.0.is_ok() {
                parsed = whole;
            }
        }
        let (result, warnings, parsed_to) = parsed;
        n += 1;
        while starts.get(n).is_some_and(|&s| s < parsed_to) {
            n += 1;
        }
        match result {
            Ok(Some(entry)) => {
                let label = format!("entry `{}`", entry.key);
                events.extend(warnings.into_iter().map(|w| {
                    ReadEvent::Warning(Problem::new(path, line, format!("{label}: {w}")))
                }));
                events.push(match paper_from_entry(entry) {
                    Ok(paper) => ReadEvent::Paper { paper, line },
                    Err(message) => {
                        ReadEvent::Rejected(Problem::new(path, line, format!("{label}: {message}")))
                    }
                });
            }
            Ok(None) => events.extend(
                warnings
                    .into_iter()
                    .map(|w| ReadEvent::Warning(Problem::new(path, line, w))),
            ),
            Err(message) => events.push(ReadEvent::Rejected(Problem::new(
                path,
                line,
                format!("{message}; entry skipped"),
            ))),
        }
    }
    events
}

/// Parses the item starting at `start` and ending by `end`: its result,
/// its warnings and where the parse stopped.
fn parse_item(
    text: &str,
    start: usize,
    end: usize,
    lines: &LineIndex,
    macros: &mut HashMap<String, String>,
) -> (Result<Option<Entry>, String>, Vec<String>, usize) {
    let mut parser = Parser {
        text,
        pos: start,
        end,
        lines,
        macros,
        warnings: Vec::new(),
    };
    let result = parser.item();
    (result, parser.warnings, parser.pos)
}

/// Byte offsets of the `@` of every line that starts an entry.
fn entry_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if is_bibtex_entry_start(line) {
            starts.push(offset + (line.len() - line.trim_start().len()));
        }
        offset += line.len();
    }
    starts
}

/// Maps byte offsets to 1-based line numbers.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    end: usize,
    lines: &'a LineIndex,
    macros: &'a mut HashMap<String, String>,
    warnings: Vec<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        (self.pos < self.end).then(|| self.text.as_bytes()[self.pos])
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn line(&self) -> usize {
        self.lines
            .line_of(self.pos.min(self.text.len().saturating_sub(1)))
    }

    /// What the parser is looking at, for messages.
    fn found(&self) -> String {
        match self.text[self.pos..self.end].chars().next() {
            None if self.end == self.text.len() => "the end of the file".to_string(),
            None => format!("the next entry (line {})", self.lines.line_of(self.end)),
            Some(c) => format!("`{c}` on line {}", self.line()),
        }
    }

    /// Parses the item at `@`: an entry, or `None` for `@string`,
    /// `@comment` and `@preamble`.
    fn item(&mut self) -> Result<Option<Entry>, String> {
        self.pos += 1; // '@'
        let kind = self
            .take_while(|b| b.is_ascii_alphabetic())
            .to_ascii_lowercase();
        self.skip_whitespace();
        let close = match self.peek() {
            Some(b'{') => b'}',
            Some(b'(') => b')',
            _ => {
                return Err(format!(
                    "@{kind}: expected `{{` after the type, found {}",
                    self.found()
                ))
            }
        };
        self.pos += 1;
        match kind.as_str() {
            "comment" | "preamble" => Ok(None),
            "string" => self.string_definition(close).map(|()| None),
            _ => self.entry(kind, close).map(Some),
        }
    }

    fn string_definition(&mut self, close: u8) -> Result<(), String> {
        self.skip_whitespace();
        let name = self.field_name().to_ascii_lowercase();
        if name.is_empty() {
            return Err(format!("@string: expected a name, found {}", self.found()));
        }
        self.skip_whitespace();
        if self.peek() != Some(b'=') {
            return Err(format!(
                "@string {name}: expected `=`, found {}",
                self.found()
            ));
        }
        self.pos += 1;
        let value = self.value().map_err(|e| format!("@string {name}: {e}"))?;
        self.skip_whitespace();
        if self.peek() != Some(close) {
            return Err(format!(
                "@string {name}: expected `{}`, found {}",
                close as char,
                self.found()
            ));
        }
        self.pos += 1;
        self.macros.insert(name, value);
        Ok(())
    }

    fn field_name(&mut self) -> &str {
        self.take_while(|b| b.is_ascii_alphanumeric() || b"_-:.+/".contains(&b))
    }

    fn entry(&mut self, kind: String, close: u8) -> Result<Entry, String> {
        self.skip_whitespace();
        let key = self
            .take_while(|b| !b.is_ascii_whitespace() && b != b',' && b != close)
            .to_string();
        let label = if key.is_empty() {
            format!("@{kind} entry")
        } else {
            format!("entry `{key}`")
        };
        if key.is_empty() || key.contains(['{', '}', '=']) {
            return Err(format!("{label}: missing citation key after `@{kind}{{`"));
        }
        let mut entry = Entry {
            kind,
            key,
            fields: Vec::new(),
        };
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => self.pos += 1,
            Some(c) if c == close => {
                self.pos += 1;
                return Ok(entry);
            }
            _ => {
                return Err(format!(
                    "{label}: expected `,` after the key, found {}",
                    self.found()
                ))
            }
        }
        loop {
            self.skip_whitespace();
            match self.peek() {
                None => {
                    return Err(format!(
                        "{label} is not closed: a `{}` is missing before {}",
                        close as char,
                        self.found()
                    ))
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(entry);
                }
                _ => {}
            }
            let field_line = self.line();
            let name = self.field_name().to_ascii_lowercase();
            if name.is_empty() {
                return Err(format!(
                    "{label}: expected a field name, found {}",
                    self.found()
                ));
            }
            self.skip_whitespace();
            if self.peek() != Some(b'=') {
                return Err(format!(
                    "{label}: field `{name}`: expected `=`, found {}",
                    self.found()
                ));
            }
            self.pos += 1;
            let value = self
                .value()
                .map_err(|e| format!("{label}: field `{name}`: {e}"))?;
            if entry.fields.iter().any(|(n, _)| *n == name) {
                self.warnings.push(format!(
                    "field `{name}` is given again on line {field_line}; the first one is used"
                ));
            } else {
                entry.fields.push((name.clone(), value));
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {}
                _ => {
                    return Err(format!(
                        "{label}: after field `{name}` expected `,` or `{}`, found {} \
                         (is a comma missing?)",
                        close as char,
                        self.found()
                    ))
                }
            }
        }
    }

    /// A value: pieces joined by `#`.
    fn value(&mut self) -> Result<String, String> {
        let mut value = String::new();
        loop {
            self.skip_whitespace();
            value.push_str(&self.piece()?);
            self.skip_whitespace();
            if self.peek() == Some(b'#') {
                self.pos += 1;
            } else {
                return Ok(value);
            }
        }
    }

    fn piece(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(b'{') => {
                let open_line = self.line();
                self.pos += 1;
                self.delimited(b'}', open_line)
            }
            Some(b'"') => {
                let open_line = self.line();
                self.pos += 1;
                self.delimited(b'"', open_line)
            }
            Some(b) if b.is_ascii_digit() => {
                Ok(self.take_while(|b| b.is_ascii_digit()).to_string())
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let name = self.field_name().to_string();
                match self.macros.get(&name.to_ascii_lowercase()) {
                    Some(text) => Ok(text.clone()),
                    None => {
                        self.warnings.push(format!(
                            "`{name}` is not a defined @string; it is kept as the text `{name}`"
                        ));
                        Ok(name)
                    }
                }
            }
            _ => Err(format!(
                "expected a value in braces or quotes, found {}",
                self.found()
            )),
        }
    }

    /// Text up to the `end` byte at brace depth 0, braces kept.
    fn delimited(&mut self, end: u8, open_line: usize) -> Result<String, String> {
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'{' => depth += 1,
                b'}' if depth > 0 => depth -= 1,
                _ if b == end && depth == 0 => {
                    let text = self.text[start..self.pos].to_string();
                    self.pos += 1;
                    return Ok(text);
                }
                b'}' => {
                    return Err(format!(
                        "unbalanced `}}` on line {} in the value opened on line {open_line}",
                        self.line()
                    ))
                }
                _ => {}
            }
            self.pos += 1;
        }
        let what = if end == b'"' { "quote" } else { "brace" };
        Err(format!(
            "the value opened on line {open_line} is not closed (a {what} is missing) before {}",
            self.found()
        ))
    }
}

/// Builds a paper from an entry; the error says what is missing.
fn paper_from_entry(entry: Entry) -> Result<Paper, String> {
    let mut title = String::new();
    let mut abstract_text = String::new();
    let mut authors = Vec::new();
    let mut date = None;
    let mut year = None;
    let mut url = None;
    let mut doi = None;
    let mut extra = Map::new();
    extra.insert("bibtex_type".to_string(), Value::String(entry.kind));
    extra.insert("bibtex_key".to_string(), Value::String(entry.key.clone()));
    for (name, raw) in entry.fields {
        let verbatim = VERBATIM_FIELDS.contains(&name.as_str());
        let text = if verbatim {
            verbatim_text(&raw)
        } else {
            latex_to_text(&raw)
        };
        match name.as_str() {
            "title" => title = text,
            "abstract" => abstract_text = text,
            "author" => authors = split_names(&raw),
            "date" if !text.is_empty() => date = Some(text),
            "year" if !text.is_empty() => year = Some(text),
            "url" if !text.is_empty() => url = Some(text),
            _ => {
                if name == "doi" {
                    doi = normalize_doi(&text);
                }
                if !text.is_empty() {
                    extra.insert(name, Value::String(text));
                }
            }
        }
    }
    if title.is_empty() {
        return Err("no title; every paper needs a `title` field".to_string());
    }
    if date.is_none() {
        date = year;
    } else if let Some(year) = year {
        extra.insert("year".to_string(), Value::String(year));
    }
    if url.is_none() {
        url = doi.as_ref().map(|d| format!("https://doi.org/{d}"));
    }
    Ok(Paper {
        id: doi.unwrap_or(entry.key),
        title,
        abstract_text,
        authors,
        date,
        categories: Vec::new(),
        url,
        extra,
    })
}

/// Identifiers and addresses: braces removed, `\_`-style escapes undone,
/// whitespace normalised, nothing else changed.
fn verbatim_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' | '}' => {}
            '\\' if chars.peek().is_some_and(|n| "_%&#$~".contains(*n)) => {
                out.extend(chars.next());
            }
            _ => out.push(c),
        }
    }
    normalize_text(&out)
}

/// Splits a BibTeX name list on `and` outside braces, converts each name to
/// text and "Last, First" / "Last, Jr, First" to "First Last" /
/// "First Last Jr"; `others` ("et al.") is dropped.
fn split_names(raw: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    let mut word = String::new();
    let flush_word =
        |word: &mut String, current: &mut String, names: &mut Vec<String>, depth: usize| {
            if depth == 0 && word.eq_ignore_ascii_case("and") {
                names.push(std::mem::take(current));
            } else {
                current.push_str(word);
            }
            word.clear();
        };
    for c in raw.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            flush_word(&mut word, &mut current, &mut names, depth);
            current.push(' ');
        } else {
            word.push(c);
        }
    }
    flush_word(&mut word, &mut current, &mut names, depth);
    names.push(current);
    names
        .into_iter()
        .map(|name| latex_to_text(&name))
        .filter(|name| !name.is_empty() && name != "others")
        .map(|name| {
            let parts: Vec<&str> = name.split(',').map(str::trim).collect();
            match parts.as_slice() {
                [last, first] if !first.is_empty() => format!("{first} {last}"),
                [last, jr, first] if !first.is_empty() => format!("{first} {last} {jr}"),
                _ => name.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names_outside_braces_and_reorders_them() {
        assert_eq!(
            split_names(r"Vaswani, Ashish and Shazeer, Noam and {Barnes and Noble} and others"),
            ["Ashish Vaswani", "Noam Shazeer", "Barnes and Noble"]
        );
        assert_eq!(
            split_names("G{\\\"o}del, Kurt AND Doe, Jr., John"),
            ["Kurt Gödel", "John Doe Jr."]
        );
        assert_eq!(split_names("Ada Lovelace"), ["Ada Lovelace"]);
    }

    fn titles_and_rejections(text: &str) -> (Vec<(String, usize)>, Vec<usize>) {
        let (mut papers, mut rejected) = (Vec::new(), Vec::new());
        for event in read_bibtex(text, "refs.bib") {
            match event {
                ReadEvent::Paper { paper, line } => papers.push((paper.title, line)),
                ReadEvent::Rejected(problem) => rejected.push(problem.line),
                _ => {}
            }
        }
        (papers, rejected)
    }

    #[test]
    fn an_entry_line_inside_a_value_stays_in_that_value() {
        let text = "@article{a,\n  title = {Citing in abstracts},\n  abstract = {We cite\n\
                    @misc{x, title = {Inner}}\n  and go on.}\n}\n\
                    @article{b,\n  title = {Next}\n}\n";
        let (papers, rejected) = titles_and_rejections(text);
        assert_eq!(
            papers,
            [
                ("Citing in abstracts".to_string(), 1),
                ("Next".to_string(), 7)
            ]
        );
        assert!(rejected.is_empty());
        let events = read_bibtex(text, "refs.bib");
        let ReadEvent::Paper { paper, .. } = &events[0] else {
            panic!("expected a paper, got {:?}", events[0]);
        };
        assert!(
            paper.abstract_text.contains("Inner") && paper.abstract_text.ends_with("and go on.")
        );

        // An entry left open is still rejected alone, and the next read.
        let broken = "@article{a,\n  title = {Open\n@article{b,\n  title = {Next}\n}\n";
        let (papers, rejected) = titles_and_rejections(broken);
        assert_eq!(papers, [("Next".to_string(), 3)]);
        assert_eq!(rejected, [1]);
    }

    #[test]
    fn line_index_is_one_based() {
        let index = LineIndex::new("a\nb\n\nc");
        assert_eq!(index.line_of(0), 1);
        assert_eq!(index.line_of(2), 2);
        assert_eq!(index.line_of(5), 4);
    }

    #[test]
    fn verbatim_fields_keep_tildes_and_dashes() {
        assert_eq!(
            verbatim_text(r"{https://x.org/~me/a--b\_c}"),
            "https://x.org/~me/a--b_c"
        );
    }
}
