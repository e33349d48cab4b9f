//! Reads XML files whose records are papers (feeds, EndNote's export):
//! walks the elements, collects the text of every element inside each
//! record element by its path of local names (`author/name`, namespaces
//! aside), with links' addresses and categories' terms, and hands each
//! record to its kind's mapping to the fields JSON records use. Entity
//! and character references are resolved; an HTML name a file did not
//! declare is left for the markup cleaning, which knows them.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use serde_json::{Map, Value};

use super::event::{Problem, ReadEvent};
use super::record::paper_from_fields;

/// The name of the first element of an XML text, if it starts like XML.
pub(crate) fn root_element(head: &str) -> Option<String> {
    let mut rest = head.trim_start_matches('\u{feff}').trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("<?") {
            rest = after.split_once("?>")?.1.trim_start();
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.split_once("-->")?.1.trim_start();
        } else if let Some(after) = rest.strip_prefix("<!") {
            rest = after.split_once('>')?.1.trim_start();
        } else {
            let name: String = rest
                .strip_prefix('<')?
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, ':' | '_' | '-' | '.'))
                .collect();
            return (!name.is_empty()).then_some(name);
        }
    }
}

/// `rdf:RDF` → `RDF`.
pub(crate) fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// Text met inside a record: at `path` (local names below the record
/// element, `author/name`), starting an occurrence of that element when
/// `opens`, else continuing it after a nested element closed.
#[derive(Debug, Clone)]
pub(crate) struct TextRun {
    pub path: String,
    pub text: String,
    pub opens: bool,
}

/// What one record said, field by field, as read.
#[derive(Default)]
pub(crate) struct XmlRecord {
    pub line: usize,
    /// The record element's local name (`item`, `entry`, `record`).
    pub element: String,
    /// Every element's text, in document order.
    pub texts: Vec<TextRun>,
    /// (rel, href) of each `<link>` with an `href`.
    pub links: Vec<(String, String)>,
    /// `term`s of Atom's `<category>`s.
    pub terms: Vec<String>,
}

impl XmlRecord {
    /// Each occurrence of the element at `path`, its nested elements' text
    /// included (EndNote's `<style>` runs, Atom's `type="xhtml"` `<div>`),
    /// trimmed; empty ones left out.
    pub fn all(&self, path: &str) -> Vec<String> {
        let nested = format!("{path}/");
        let mut out = Vec::new();
        let mut current: Option<String> = None;
        for run in &self.texts {
            if run.path == path && run.opens {
                out.extend(current.take());
                current = Some(run.text.clone());
            } else if run.path == path || run.path.starts_with(&nested) {
                if let Some(value) = current.as_mut() {
                    value.push_str(&run.text);
                }
            } else if let Some(value) = current.take() {
                out.push(value);
            }
        }
        out.extend(current);
        out.into_iter()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The first occurrence (see [`XmlRecord::all`]) of the first of
    /// `paths` that has one.
    pub fn first(&self, paths: &[&str]) -> Option<String> {
        paths.iter().find_map(|p| self.all(p).into_iter().next())
    }
}

/// A kind of XML file whose records are papers.
pub(crate) struct XmlKind {
    /// What the file is, in messages: "an RSS or Atom feed".
    pub name: &'static str,
    /// Local names of the root elements it may have.
    pub roots: &'static [&'static str],
    /// The roots as a message names them: "<rss>, <feed> or <rdf:RDF>".
    pub roots_shown: &'static str,
    /// Local names of the elements that hold one paper.
    pub records: &'static [&'static str],
    /// A record's fields under the names JSON records use.
    pub to_fields: fn(&XmlRecord) -> Map<String, Value>,
}

/// Reads a whole XML file of `kind` (already checked to be UTF-8, BOM
/// removed): each record element a paper, reported at the line it starts
/// on. A syntax error stops the reading there, with its line, after the
/// papers before it.
pub(crate) fn read_xml_records(text: &str, path: &str, kind: &XmlKind) -> Vec<ReadEvent> {
    let line_of = |offset: u64| {
        let offset = (offset as usize).min(text.len());
        1 + text.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    };
    let mut reader = Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut events = Vec::new();
    // Local names from the item down to the element being read.
    let mut below_item: Vec<String> = Vec::new();
    let mut item: Option<XmlRecord> = None;
    let mut items_seen = 0usize;
    let mut root_checked = false;
    loop {
        let position = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                // The item being read is lost with the rest.
                item = None;
                events.push(ReadEvent::Rejected(Problem::new(
                    path,
                    line_of(reader.error_position()),
                    format!("the XML is not valid here ({e}); nothing after this point was read"),
                )));
                break;
            }
        };
        match event {
            Event::Start(start) => {
                let name = local_name(&start);
                if !root_checked {
                    root_checked = true;
                    if !kind.roots.contains(&name.as_str()) {
                        events.push(ReadEvent::Rejected(Problem::new(
                            path,
                            line_of(position),
                            format!(
                                "this XML is not {} (its first element is <{name}>, where it \
                                 would start with {}); nothing was read",
                                kind.name, kind.roots_shown
                            ),
                        )));
                        break;
                    }
                }
                match &mut item {
                    None if kind.records.contains(&name.as_str()) => {
                        items_seen += 1;
                        item = Some(XmlRecord {
                            line: line_of(position),
                            element: name.clone(),
                            ..XmlRecord::default()
                        });
                        below_item.clear();
                    }
                    None => {}
                    Some(current) => {
                        below_item.push(name.clone());
                        note_attributes(current, &name, &start);
                        current.texts.push(TextRun {
                            path: below_item.join("/"),
                            text: String::new(),
                            opens: true,
                        });
                    }
                }
            }
            Event::End(_) => match &mut item {
                Some(_) if below_item.is_empty() => {
                    if let Some(done) = item.take() {
                        events.push(record_event(done, path, kind));
                    }
                }
                Some(current) => {
                    below_item.pop();
                    // Text after a child closes belongs to the parent again.
                    if !below_item.is_empty() {
                        current.texts.push(TextRun {
                            path: below_item.join("/"),
                            text: String::new(),
                            opens: false,
                        });
                    }
                }
                None => {}
            },
            Event::Text(t) => append(&mut item, &below_item, &t.xml10_content()),
            Event::CData(t) => append(&mut item, &below_item, &t.xml10_content()),
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => match &*r {
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "amp" => "&".to_string(),
                        "quot" => "\"".to_string(),
                        "apos" => "'".to_string(),
                        // An HTML name a feed did not declare: left for
                        // the markup cleaning, which knows them.
                        other => format!("&{other};"),
                    },
                };
                append(&mut item, &below_item, &text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = item {
        events.push(ReadEvent::Rejected(Problem::new(
            path,
            open.line,
            "this record is not closed before the file ends (is it cut short?)",
        )));
    }
    if root_checked && items_seen == 0 && events.is_empty() {
        let names: Vec<String> = kind.records.iter().map(|r| format!("<{r}>")).collect();
        events.push(ReadEvent::Warning(Problem::new(
            path,
            1,
            format!("the file has no {}: no papers in it", names.join(" or ")),
        )));
    }
    events
}

/// The local name of an element (`dc:creator` → `creator`).
fn local_name(start: &BytesStart<'_>) -> String {
    start.local_name().as_ref().to_string()
}

/// Keeps what an item's element says in its attributes: a link's address,
/// a category's term.
fn note_attributes(item: &mut XmlRecord, name: &str, start: &BytesStart<'_>) {
    let attribute = |key: &str| {
        start
            .attributes()
            .flatten()
            .find(|a| a.key.local_name().as_ref() == key)
            .and_then(|a| {
                a.normalized_value(XmlVersion::default())
                    .ok()
                    .map(|v| v.trim().to_string())
            })
            .filter(|v| !v.is_empty())
    };
    match name {
        "link" => {
            if let Some(href) = attribute("href") {
                item.links
                    .push((attribute("rel").unwrap_or_default(), href));
            }
        }
        "category" => item.terms.extend(attribute("term")),
        _ => {}
    }
}

/// Adds text to the element being read inside an item.
fn append(item: &mut Option<XmlRecord>, below_item: &[String], text: &str) {
    let Some(item) = item else {
        return;
    };
    if below_item.is_empty() {
        return;
    }
    if let Some(run) = item.texts.last_mut() {
        run.text.push_str(text);
    }
}

/// The paper of a finished item, or why it has none.
fn record_event(record: XmlRecord, path: &str, kind: &XmlKind) -> ReadEvent {
    let line = record.line;
    let fields = (kind.to_fields)(&record);
    match paper_from_fields(fields) {
        Ok(paper) => ReadEvent::Paper { paper, line },
        Err(problem) => ReadEvent::Rejected(Problem::new(
            path,
            line,
            if problem.contains("missing title") {
                format!("this <{}> has no title", record.element)
            } else {
                problem
            },
        )),
    }
}

/// Papers with their lines, and problems as (line, message): what tests of
/// the XML readers compare.
#[cfg(test)]
pub(crate) type Sorted = (Vec<(super::Paper, usize)>, Vec<(usize, String)>);

/// Sorts a reader's events into [`Sorted`].
#[cfg(test)]
pub(crate) fn sort_events(events: Vec<ReadEvent>) -> Sorted {
    let (mut papers, mut problems) = (Vec::new(), Vec::new());
    for event in events {
        match event {
            ReadEvent::Paper { paper, line } => papers.push((paper, line)),
            ReadEvent::Rejected(p) | ReadEvent::Warning(p) => problems.push((p.line, p.message)),
        }
    }
    (papers, problems)
}
