//! Reads papers from JSON that is not one object per line: a JSON array
//! of objects (`json.dump(papers)`), or objects spread over several lines
//! (`jq` without `-c`, pretty-printed exports), one after another. Such a
//! document is read whole; each object becomes a paper through the same
//! mapping as JSON lines, and is reported at the line it starts on. A
//! syntax error ends the reading there, with its line, after the papers
//! before it.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use super::event::{Problem, ReadEvent};
use super::json_object::paper_events;
use super::jsonl::ObjectToPaper;

/// Whether the start of a JSON source is a document rather than JSON
/// lines: it opens an array, or its first line opens an object that a
/// later line closes (`{` alone, or an API answer's `{"total": 2, "data":
/// [`).
pub(crate) fn is_json_document(head: &str) -> bool {
    let head = head.trim_start_matches('\u{feff}');
    let Some(first) = head.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    if first.starts_with('[') || first == "{" {
        return true;
    }
    // Only a line that ends within `head` (not one cut off by the sniffing
    // limit) can tell: alone it is JSON that ends too early, and it ends
    // where a pretty printer breaks a line (after `[`, `{` or `,`), not
    // inside a value as a line of JSON lines cut short by a crash does.
    let end = first.as_ptr() as usize - head.as_ptr() as usize + first.len();
    let line_ends = head[end..]
        .trim_start_matches([' ', '\t'])
        .starts_with(['\r', '\n']);
    first.starts_with('{')
        && first.ends_with(['[', '{', ','])
        && line_ends
        && serde_json::from_str::<serde::de::IgnoredAny>(first).is_err_and(|e| e.is_eof())
}

/// How deep inside an API answer its papers are looked for (Crossref's
/// `{"message": {"items": [...]}}` is two levels down).
const MAX_WRAPPING: usize = 3;

/// Whether a JSON object has a `title` field (any case).
fn has_title(fields: &BTreeMap<String, &RawValue>) -> bool {
    fields
        .keys()
        .any(|k| k.trim().eq_ignore_ascii_case("title"))
}

/// The papers of an object that wraps them, as API answers do (`{"total":
/// 2, "data": [...]}` from Semantic Scholar, `{"meta": {...}, "results":
/// [...]}` from OpenAlex, `{"status": "ok", "message": {"items": [...]}}`
/// from Crossref): an object with no `title` whose only non-empty array
/// holds objects, the first of them with a `title`; or, when it has no
/// such array, whose only object field is a paper (Crossref's answer for
/// one work) or wraps papers in turn.
pub(crate) fn wrapped_papers(object: &str) -> Option<Vec<&RawValue>> {
    wrapped_at(object, 0)
}

fn wrapped_at(object: &str, depth: usize) -> Option<Vec<&RawValue>> {
    let fields: BTreeMap<String, &RawValue> = serde_json::from_str(object).ok()?;
    if has_title(&fields) || depth >= MAX_WRAPPING {
        return None;
    }
    let mut arrays = fields.values().filter_map(|v| {
        let items: Vec<&RawValue> = serde_json::from_str(v.get()).ok()?;
        (!items.is_empty()).then_some(items)
    });
    if let Some(items) = arrays.next() {
        let titled = items.first().is_some_and(|first| {
            serde_json::from_str::<BTreeMap<String, &RawValue>>(first.get())
                .is_ok_and(|f| has_title(&f))
        });
        return (titled && arrays.next().is_none()).then_some(items);
    }
    let mut objects = fields.values().filter(|v| v.get().starts_with('{'));
    let inner = objects.next()?;
    if objects.next().is_some() {
        return None;
    }
    let inner_fields: BTreeMap<String, &RawValue> = serde_json::from_str(inner.get()).ok()?;
    if has_title(&inner_fields) {
        Some(vec![*inner])
    } else {
        wrapped_at(inner.get(), depth + 1)
    }
}

/// Every event of a JSON document.
pub(crate) fn read_json_document(
    text: &str,
    path: &str,
    to_paper: ObjectToPaper,
) -> Vec<ReadEvent> {
    let text = text.trim_start_matches('\u{feff}');
    let line_of = |part: &str| {
        let offset = part.as_ptr() as usize - text.as_ptr() as usize;
        1 + text[..offset].bytes().filter(|&b| b == b'\n').count()
    };
    let mut events = Vec::new();
    let paper_at = |value: &RawValue, events: &mut Vec<ReadEvent>| {
        let line = line_of(value.get());
        events.extend(paper_events(value.get(), to_paper, path, line));
    };
    let stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    for value in stream {
        match value {
            Ok(value) if value.get().starts_with('[') => {
                match serde_json::from_str::<Vec<&RawValue>>(value.get()) {
                    Ok(items) => items.iter().for_each(|item| paper_at(item, &mut events)),
                    Err(e) => {
                        events.push(syntax_error(path, line_of(value.get()) + e.line() - 1, &e));
                        break;
                    }
                }
            }
            Ok(value) => match wrapped_papers(value.get()) {
                Some(items) => items.iter().for_each(|item| paper_at(item, &mut events)),
                None => paper_at(value, &mut events),
            },
            Err(e) => {
                events.push(syntax_error(path, e.line(), &e));
                break;
            }
        }
    }
    events
}

fn syntax_error(path: &str, line: usize, error: &serde_json::Error) -> ReadEvent {
    ReadEvent::Rejected(Problem::new(
        path,
        line,
        format!(
            "the JSON is not valid here ({error}); nothing of the array or object around this \
             point, nor after it, was read"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::record::paper_from_fields;

    fn titles_and_lines(text: &str) -> Vec<(usize, String)> {
        read_json_document(text, "papers.json", paper_from_fields)
            .into_iter()
            .map(|event| match event {
                ReadEvent::Paper { paper, line } => (line, paper.title),
                ReadEvent::Rejected(problem) => {
                    (problem.line, format!("rejected: {}", problem.message))
                }
                ReadEvent::Warning(problem) => {
                    (problem.line, format!("warning: {}", problem.message))
                }
            })
            .collect()
    }

    #[test]
    fn a_repeated_field_is_warned_about_before_its_paper() {
        let text = "[\n{\"title\": \"A\"},\n{\"title\": \"B\",\n \"abstract\": \"x\", \"abstract\": \"y\"}\n]";
        let events = read_json_document(text, "in.json", paper_from_fields);
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(matches!(&events[0], ReadEvent::Paper { line: 2, .. }));
        match &events[1] {
            ReadEvent::Warning(p) => {
                assert_eq!((p.path.as_str(), p.line), ("in.json", 3));
                assert!(p.message.contains("`abstract` appears"), "{}", p.message);
            }
            other => panic!("expected a warning, got {other:?}"),
        }
        match &events[2] {
            ReadEvent::Paper { paper, line: 3 } => assert_eq!(paper.abstract_text, "y"),
            other => panic!("expected the paper, got {other:?}"),
        }
    }

    #[test]
    fn reads_arrays_and_objects_spread_over_lines() {
        let array = "\u{feff}[\n  {\"title\": \"One\"},\n  {\n    \"title\": \"Two\"\n  },\n  3,\n  {\"abstract\": \"x\"}\n]\n";
        let got = titles_and_lines(array);
        assert_eq!(got[0], (2, "One".to_string()));
        assert_eq!(got[1], (3, "Two".to_string()));
        assert!(
            got[2].0 == 6 && got[2].1.contains("not a JSON object"),
            "{got:?}"
        );
        assert!(
            got[3].0 == 7 && got[3].1.contains("missing title"),
            "{got:?}"
        );
        assert!(is_json_document(array));

        let pretty = "{\n  \"title\": \"One\"\n}\n{\n  \"title\": \"Two\"\n}\n";
        assert!(is_json_document(pretty));
        assert_eq!(
            titles_and_lines(pretty),
            [(1, "One".to_string()), (4, "Two".to_string())]
        );
        assert!(!is_json_document("{\"title\": \"One\"}\n"));
    }

    #[test]
    fn reads_the_papers_an_api_answer_wraps() {
        let answer = "{\"total\": 2, \"offset\": 0, \"data\": [\n  {\"title\": \"One\"},\n  {\"title\": \"Two\"}\n], \"groups\": []}\n";
        assert!(is_json_document(answer));
        assert_eq!(
            titles_and_lines(answer),
            [(2, "One".to_string()), (3, "Two".to_string())]
        );
        let results = "{\n \"meta\": {\"count\": 1},\n \"results\": [{\"title\": \"Three\"}]\n}\n";
        assert_eq!(titles_and_lines(results), [(3, "Three".to_string())]);
        // Not a wrapper: an object with a title, or with two lists of
        // objects, is one record.
        let paper = "{\n \"title\": \"Four\", \"refs\": [{\"title\": \"x\"}]\n}\n";
        assert_eq!(titles_and_lines(paper), [(1, "Four".to_string())]);
        let two = "{\n \"a\": [{\"title\": \"x\"}], \"b\": [{\"title\": \"y\"}]\n}\n";
        assert!(titles_and_lines(two)[0].1.contains("missing title"));
        // A record that lost its title keeps its list of authors to itself.
        let untitled = "{\n \"id\": \"x\", \"authors\": [{\"name\": \"A\"}]\n}\n";
        let got = titles_and_lines(untitled);
        assert_eq!(got.len(), 1);
        assert!(got[0].1.contains("missing title"), "{got:?}");
        // Crossref: the works two levels down, titles as lists; and its
        // answer for one work.
        let crossref = "{\n \"status\": \"ok\", \"message\": {\"facets\": {}, \"items\": [\n  \
                        {\"DOI\": \"10.1/a\", \"title\": [\"Five\"]},\n  {\"title\": [\"Six\"]}\n]}}\n";
        assert_eq!(
            titles_and_lines(crossref),
            [(3, "Five".to_string()), (4, "Six".to_string())]
        );
        let one_work = "{\n \"status\": \"ok\", \"message\": {\"title\": [\"Seven\"]}\n}\n";
        assert_eq!(titles_and_lines(one_work), [(2, "Seven".to_string())]);
        // A first line cut off by the sniffing limit says nothing; a
        // broken line of JSON lines is not a document either.
        assert!(!is_json_document(
            "{\"title\": \"One\", \"abstract\": \"cut"
        ));
        assert!(!is_json_document(
            "{\"title\": oops}\n{\"title\": \"Two\"}\n"
        ));
        assert!(!is_json_document(
            "{\"title\": \"One\", \"abs\n{\"title\": \"Two\"}\n"
        ));
    }

    #[test]
    fn a_syntax_error_stops_with_its_line_after_the_papers_before_it() {
        let got = titles_and_lines("{\n \"title\": \"One\"\n}\n{\n \"title\": oops\n}\n");
        assert_eq!(got[0], (1, "One".to_string()));
        assert!(got[1].0 == 5 && got[1].1.contains("not valid"), "{got:?}");
        assert_eq!(got.len(), 2);
    }
}
