//! Reads tagged reference lists: RIS, as Zotero, EndNote, Mendeley, Web of
//! Science and Scopus export them (`TY  - JOUR` … `ER  - `), PubMed's
//! MEDLINE text (`PMID- 123` … , `.nbib`) and Web of Science's plain text
//! (`FN Clarivate Analytics Web of Science`, then `PT J` … `ER`). RIS and
//! MEDLINE write one field per line as a tag of up to four letters and
//! digits, padded to four columns, then `- ` and the value; a line without
//! a tag continues the value before it. A record starts at `TY` or `PMID`
//! and ends at `ER` or the next start. Web of Science writes a two-letter
//! tag, a space and the value; a line indented by three spaces continues
//! it, and for lists (authors, one per line) adds the next item.
//!
//! Each record's fields are renamed to the names JSON records use and made
//! into a paper by [`super::record::paper_from_fields`], so titles, ids and
//! extra fields are treated alike in every format:
//!
//! | paper field | RIS | MEDLINE | Web of Science |
//! |-------------|-----|---------|----------------|
//! | `title`     | `TI`, `T1`, else `CT`, `BT` | `TI` | `TI` |
//! | `abstract`  | `AB`, else `N2` | `AB` | `AB` |
//! | `authors`   | `AU`, `A1` | `FAU`, else `AU` | `AF`, else `AU` |
//! | `date`      | `PY`, `Y1`, `DA` (`2016/06/27/` read as `2016-06-27`) | `DP` | `PY` |
//! | `doi`       | `DO` | `LID`/`AID` ending in `[doi]` | `DI` |
//! | `url`       | `UR` | | |
//!
//! The id is the DOI, else an arXiv address's arXiv id, else the record's
//! own `ID` (RIS), `pmid:` and its PubMed id, or `UT` (Web of Science's
//! accession number). Other tags are kept as extra fields named by their
//! tag, lowercased.

use serde_json::{Map, Value};

use super::event::{Problem, ReadEvent};
use super::paper_id::source_id;
use super::record::paper_from_fields;

/// The tags that start a record.
const STARTS: &[&str] = &["TY", "PMID"];
/// The tag that ends a RIS record.
const END: &str = "ER";

/// One tagged line: `TI  - A title` gives `("TI", "A title")`.
fn tagged(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    if bytes.len() < 5 || bytes[4] != b'-' || !(bytes.len() == 5 || bytes[5] == b' ') {
        return None;
    }
    let tag = line[..4].trim_end();
    let well_formed = (2..=4).contains(&tag.len())
        && tag.as_bytes()[0].is_ascii_uppercase()
        && tag
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    well_formed.then(|| (tag, line.get(6..).unwrap_or("").trim()))
}

/// The tags of a Web of Science record that list one item per line.
const WOS_LISTS: &[&str] = &[
    "AU", "AF", "BA", "BF", "CA", "GP", "ED", "CR", "C1", "C3", "EM",
];

/// The dialects of tagged lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// RIS and MEDLINE: `TAG - value`, the tag padded to four columns.
    Padded,
    /// Web of Science: `TG value`.
    WebOfScience,
}

/// One Web of Science line: `TI A title` gives `("TI", "A title")`, `ER`
/// gives `("ER", "")`.
fn wos_tagged(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    let tag_ok = bytes.len() >= 2
        && bytes[0].is_ascii_uppercase()
        && (bytes[1].is_ascii_uppercase() || bytes[1].is_ascii_digit());
    if !tag_ok || (bytes.len() > 2 && bytes[2] != b' ') {
        return None;
    }
    Some((&line[..2], line.get(3..).unwrap_or("").trim()))
}

/// The first non-empty line of a text.
fn first_line(head: &str) -> Option<&str> {
    head.lines()
        .map(|l| l.trim_end_matches('\r').trim_start_matches('\u{feff}'))
        .find(|l| !l.trim().is_empty())
}

/// Whether a text starts like a tagged reference list: its first non-empty
/// line opens a record, or is Web of Science's `FN` line.
pub(crate) fn looks_like_tagged_list(head: &str) -> bool {
    first_line(head).is_some_and(|line| {
        tagged(line).is_some_and(|(tag, _)| STARTS.contains(&tag)) || is_wos_start(line)
    })
}

/// Web of Science's first line: `FN Clarivate Analytics Web of Science`
/// (or Thomson Reuters').
fn is_wos_start(line: &str) -> bool {
    line.starts_with("FN ") && line.contains("Web of Science")
}

/// One record being read: its first line and its fields in order.
struct Record {
    line: usize,
    fields: Vec<(String, String)>,
}

/// Reads a whole RIS or MEDLINE file (already checked to be UTF-8, BOM
/// removed).
pub(crate) fn read_ris(text: &str, path: &str) -> Vec<ReadEvent> {
    let dialect = match first_line(text) {
        Some(line) if is_wos_start(line) => Dialect::WebOfScience,
        _ => Dialect::Padded,
    };
    let (starts, headers): (&[&str], &[&str]) = match dialect {
        Dialect::Padded => (STARTS, &[]),
        Dialect::WebOfScience => (&["PT"], &["FN", "VR", "EF"]),
    };
    let mut events = Vec::new();
    let mut current: Option<Record> = None;
    let mut stray_reported = false;
    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.trim_end_matches('\r');
        let number = index + 1;
        let parsed = match dialect {
            Dialect::Padded => tagged(line),
            Dialect::WebOfScience if line.starts_with("   ") => None,
            Dialect::WebOfScience => wos_tagged(line),
        };
        match parsed {
            Some((tag, _)) if headers.contains(&tag) => {}
            Some((tag, value)) if starts.contains(&tag) => {
                if let Some(done) = current.take() {
                    events.push(record_event(done, path));
                }
                current = Some(Record {
                    line: number,
                    fields: vec![(tag.to_string(), value.to_string())],
                });
            }
            Some((END, _)) => match current.take() {
                Some(done) => events.push(record_event(done, path)),
                None => events.push(ReadEvent::Rejected(Problem::new(
                    path,
                    number,
                    "`ER` ends a record that was never started (no `TY` line before it)",
                ))),
            },
            Some((tag, value)) => match &mut current {
                Some(record) => record.fields.push((tag.to_string(), value.to_string())),
                None if !stray_reported => {
                    stray_reported = true;
                    events.push(ReadEvent::Rejected(Problem::new(
                        path,
                        number,
                        format!(
                            "`{tag}` comes before any record starts (a `TY` or `PMID` line); \
                             lines up to the next record are skipped"
                        ),
                    )));
                }
                None => {}
            },
            None if line.trim().is_empty() => {}
            None => {
                // A value carried over to the next line (MEDLINE indents it),
                // or the next item of a Web of Science list.
                if let Some(record) = current.as_mut() {
                    continue_value(record, line.trim(), dialect);
                }
            }
        }
    }
    if let Some(done) = current {
        events.push(record_event(done, path));
    }
    events
}

/// Adds a continuation line to the record's last field.
fn continue_value(record: &mut Record, text: &str, dialect: Dialect) {
    let Some((tag, value)) = record.fields.last_mut() else {
        return;
    };
    if dialect == Dialect::WebOfScience && WOS_LISTS.contains(&tag.as_str()) {
        let tag = tag.clone();
        record.fields.push((tag, text.to_string()));
    } else {
        value.push(' ');
        value.push_str(text);
    }
}

/// The paper of a finished record, or why it has none.
fn record_event(record: Record, path: &str) -> ReadEvent {
    let line = record.line;
    let fields = fields_of(record.fields);
    let titled = fields.contains_key("title");
    match paper_from_fields(fields) {
        Ok(paper) => ReadEvent::Paper { paper, line },
        Err(problem) => ReadEvent::Rejected(Problem::new(
            path,
            line,
            if titled {
                problem
            } else {
                "this record has no title (a `TI` or `T1` line)".to_string()
            },
        )),
    }
}

/// A record's tagged values under the field names of JSON records.
fn fields_of(tagged: Vec<(String, String)>) -> Map<String, Value> {
    let medline = tagged.first().is_some_and(|(tag, _)| tag == "PMID");
    let wos = tagged.first().is_some_and(|(tag, _)| tag == "PT");
    let mut by_tag: Vec<(String, Vec<String>)> = Vec::new();
    for (tag, value) in tagged {
        if value.is_empty() {
            continue;
        }
        match by_tag.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, values)) => values.push(value),
            None => by_tag.push((tag, vec![value])),
        }
    }
    let mut take = |tags: &[&str]| -> Option<Vec<String>> {
        tags.iter().find_map(|tag| {
            let at = by_tag.iter().position(|(t, _)| t == tag)?;
            Some(by_tag.remove(at).1)
        })
    };
    let mut fields = Map::new();
    let mut put = |name: &str, value: Value| {
        fields.insert(name.to_string(), value);
    };
    let first = |values: Vec<String>| Value::String(values.into_iter().next().unwrap_or_default());
    let title = take(&["TI", "T1", "CT", "BT"]);
    let abstract_text = take(&["AB", "N2"]);
    let authors = if medline {
        take(&["FAU", "AU"])
    } else if wos {
        take(&["AF", "AU"])
    } else {
        take(&["AU", "A1"])
    };
    let date = take(if medline {
        &["DP"]
    } else {
        &["PY", "Y1", "DA"]
    });
    let doi = if medline {
        let ids: Vec<String> = ["LID", "AID"]
            .iter()
            .filter_map(|tag| take(&[tag]))
            .flatten()
            .collect();
        ids.iter()
            .find_map(|v| v.strip_suffix("[doi]").map(|d| d.trim().to_string()))
            .map(|d| vec![d])
    } else if wos {
        take(&["DI"])
    } else {
        take(&["DO"])
    };
    let url = take(&["UR"]);
    let own_id = if medline {
        take(&["PMID"]).map(|v| format!("pmid:{}", v[0]))
    } else if wos {
        take(&["UT"]).map(|v| v[0].clone())
    } else {
        take(&["ID"]).map(|v| v[0].clone())
    };
    if let Some(v) = title {
        put("title", first(v));
    }
    if let Some(v) = abstract_text {
        put("abstract", Value::String(v.join(" ")));
    }
    if let Some(v) = authors {
        put(
            "authors",
            Value::Array(v.into_iter().map(Value::String).collect()),
        );
    }
    if let Some(v) = date {
        put("date", Value::String(ris_date(&v[0])));
    }
    let arxiv = url.as_ref().and_then(|v| {
        v.iter()
            .filter(|u| u.contains("arxiv.org/"))
            .find_map(|u| source_id(u))
    });
    match (doi, arxiv, own_id) {
        (Some(doi), _, _) => put("doi", first(doi)),
        (None, Some(arxiv), _) => put("id", Value::String(arxiv)),
        (None, None, Some(id)) => put("id", Value::String(id)),
        (None, None, None) => {}
    }
    if let Some(v) = url {
        put("url", first(v));
    }
    for (tag, mut values) in by_tag {
        let value = if values.len() == 1 {
            Value::String(values.remove(0))
        } else {
            Value::Array(values.into_iter().map(Value::String).collect())
        };
        put(&tag.to_ascii_lowercase(), value);
    }
    fields
}

/// A RIS date (`2016/06/27/`, `2017///`, `2017`) as `2016-06-27` or
/// `2017`; anything else as written.
fn ris_date(date: &str) -> String {
    let parts: Vec<&str> = date.split('/').collect();
    if parts.len() < 2 || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        return date.to_string();
    }
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Paper;

    fn read(text: &str) -> (Vec<(Paper, usize)>, Vec<usize>) {
        let (mut papers, mut rejected) = (Vec::new(), Vec::new());
        for event in read_ris(text, "refs.ris") {
            match event {
                ReadEvent::Paper { paper, line } => papers.push((paper, line)),
                ReadEvent::Rejected(problem) => rejected.push(problem.line),
                _ => {}
            }
        }
        (papers, rejected)
    }

    #[test]
    fn ris_records_from_reference_managers() {
        let text = "TY  - JOUR\r\nTI  - Attention Is All You Need\r\nAU  - Vaswani, Ashish\r\n\
                    AU  - Shazeer, Noam\r\nPY  - 2017///\r\nAB  - The dominant sequence\r\n\
                    transduction models.\r\nDO  - 10.48550/arXiv.1706.03762\r\nKW  - attention\r\n\
                    KW  - transformers\r\nER  - \r\n\r\n\
                    TY  - CONF\nT1  - Deep Residual Learning\nA1  - He, Kaiming\n\
                    Y1  - 2016/06/27/\nN2  - Deeper networks are harder to train.\n\
                    UR  - https://arxiv.org/abs/1512.03385v1\nER  -\n\n\
                    TY  - RPRT\nAU  - Nobody\nER  - \n\
                    TY  - GEN\nTI  - Own id only\nID  - smith2020\nER  - \n";
        let (papers, rejected) = read(text);
        assert_eq!(rejected, [21], "the record without a title");
        let (first, line) = &papers[0];
        assert_eq!(*line, 1);
        assert_eq!(first.title, "Attention Is All You Need");
        assert_eq!(
            first.abstract_text,
            "The dominant sequence transduction models."
        );
        assert_eq!(first.authors, ["Vaswani, Ashish", "Shazeer, Noam"]);
        assert_eq!(first.date.as_deref(), Some("2017"));
        assert_eq!(first.id, "10.48550/arxiv.1706.03762");
        assert_eq!(
            first.extra["kw"],
            serde_json::json!(["attention", "transformers"])
        );
        assert_eq!(first.extra["ty"], "JOUR");
        let (second, line) = &papers[1];
        assert_eq!(*line, 13);
        assert_eq!(second.title, "Deep Residual Learning");
        assert_eq!(second.abstract_text, "Deeper networks are harder to train.");
        assert_eq!(second.date.as_deref(), Some("2016-06-27"));
        assert_eq!(second.id, "1512.03385", "the arXiv id of its address");
        assert_eq!(papers[2].0.id, "smith2020");
        assert_eq!(papers.len(), 3);
    }

    #[test]
    fn medline_records_from_pubmed() {
        let text = "PMID- 31452104\nOWN - NLM\nTI  - Deep learning for chest radiograph\n      \
                    diagnosis.\nAB  - We trained a network\n      on radiographs.\n\
                    FAU - Rajpurkar, Pranav\nAU  - Rajpurkar P\nFAU - Irvin, Jeremy\n\
                    DP  - 2018 Nov 20\nLID - 10.1371/journal.pmed.1002686 [doi]\n\
                    LID - e1002686\n\nPMID- 1\nTI  - No DOI here\n";
        let (papers, rejected) = read(text);
        assert!(rejected.is_empty());
        let (first, line) = &papers[0];
        assert_eq!(*line, 1);
        assert_eq!(first.title, "Deep learning for chest radiograph diagnosis.");
        assert_eq!(first.abstract_text, "We trained a network on radiographs.");
        assert_eq!(first.authors, ["Rajpurkar, Pranav", "Irvin, Jeremy"]);
        assert_eq!(first.date.as_deref(), Some("2018 Nov 20"));
        assert_eq!(first.id, "10.1371/journal.pmed.1002686");
        assert_eq!(papers[1].0.id, "pmid:1");
    }

    #[test]
    fn lines_outside_records_are_reported_once() {
        let (papers, rejected) = read("XX  - stray\nYY  - stray\nER  - \nTY  - JOUR\nTI  - Kept\n");
        assert_eq!(rejected, [1, 3]);
        assert_eq!(papers.len(), 1);
        assert!(looks_like_tagged_list("\n\nTY  - JOUR\nTI  - x\n"));
        assert!(looks_like_tagged_list("PMID- 1\nTI  - x\n"));
        assert!(!looks_like_tagged_list("TI  - x\n"));
        assert!(!looks_like_tagged_list("Daily papers\n\nTY - not a tag\n"));
    }

    #[test]
    fn web_of_science_plain_text_records() {
        let text = "FN Clarivate Analytics Web of Science\nVR 1.0\nPT J\nAU Doe, J\n   Roe, R\n\
                    AF Doe, Jane\n   Roe, Rick\nTI Sparse attention for long\n   documents\n\
                    SO JOURNAL OF LONG TEXTS\nAB We propose a sparse attention pattern.\n\
                    PY 2021\nDI 10.1000/sparse.2021.17\nUT WOS:000123456700001\nER\n\n\
                    PT J\nAU Haddad, R\nTI Graph networks\nUT WOS:000123456700002\nER\n\nEF\n";
        assert!(looks_like_tagged_list(text));
        let (papers, rejected) = read(text);
        assert!(rejected.is_empty(), "{rejected:?}");
        let (first, line) = &papers[0];
        assert_eq!(*line, 3);
        assert_eq!(first.title, "Sparse attention for long documents");
        assert_eq!(first.authors, ["Doe, Jane", "Roe, Rick"]);
        assert_eq!(
            first.abstract_text,
            "We propose a sparse attention pattern."
        );
        assert_eq!(first.date.as_deref(), Some("2021"));
        assert_eq!(first.id, "10.1000/sparse.2021.17");
        assert_eq!(first.extra["so"], "JOURNAL OF LONG TEXTS");
        assert_eq!(papers[1].0.id, "WOS:000123456700002");
        assert_eq!(papers[1].0.authors, ["Haddad, R"]);
        assert_eq!(papers.len(), 2);
    }
}
