//! Reads one JSON value that should be a paper's object, keeping note of
//! the fields it names more than once. JSON readers keep the last of
//! repeated names without a word; a record with two `title`s or two
//! `abstract`s is more likely a mistake in whatever wrote it, so the
//! readers warn, naming the field, and keep the last value as others do.
//! [`paper_events`] turns one such value into the events of its paper, for
//! the JSON-lines and JSON-document readers alike.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::event::{Problem, ReadEvent};
use super::jsonl::ObjectToPaper;

/// A JSON value read where a paper's object was expected.
pub(crate) enum JsonRecord {
    /// An object, and the names it repeats (each once, in order of first
    /// repetition).
    Object {
        fields: Map<String, Value>,
        repeated: Vec<String>,
    },
    /// Something else: "a list", "text", "a number" or "a single value".
    Other(&'static str),
}

impl JsonRecord {
    /// Parses `text`, which holds one JSON value.
    pub(crate) fn parse(text: &str) -> serde_json::Result<JsonRecord> {
        serde_json::from_str(text)
    }
}

/// The events of one paper's JSON text at `line` of `path`: see
/// [`object_events`]; text that is not an object is rejected.
pub(crate) fn paper_events(
    text: &str,
    to_paper: ObjectToPaper,
    path: &str,
    line: usize,
) -> Vec<ReadEvent> {
    match JsonRecord::parse(text) {
        Ok(JsonRecord::Object { fields, repeated }) => {
            object_events(fields, &repeated, to_paper, path, line)
        }
        _ => vec![ReadEvent::Rejected(Problem::new(
            path,
            line,
            "not a JSON object; each paper must be an object with at least a `title`",
        ))],
    }
}

/// The paper of one object at `line` of `path`, after a warning when the
/// object repeats the field names `repeated`, or why it has no paper.
pub(crate) fn object_events(
    fields: Map<String, Value>,
    repeated: &[String],
    to_paper: ObjectToPaper,
    path: &str,
    line: usize,
) -> Vec<ReadEvent> {
    match to_paper(fields) {
        Ok(paper) => repeated_fields_warning(repeated)
            .map(|warning| ReadEvent::Warning(Problem::new(path, line, warning)))
            .into_iter()
            .chain([ReadEvent::Paper { paper, line }])
            .collect(),
        Err(message) => vec![ReadEvent::Rejected(Problem::new(path, line, message))],
    }
}

/// The warning for an object that names `repeated` more than once, if it
/// does.
fn repeated_fields_warning(repeated: &[String]) -> Option<String> {
    let names: Vec<String> = repeated.iter().map(|n| format!("`{n}`")).collect();
    match names.as_slice() {
        [] => None,
        [one] => Some(format!(
            "field {one} appears more than once; the last value was kept"
        )),
        [..] => Some(format!(
            "fields {} appear more than once; the last value of each was kept",
            names.join(", ")
        )),
    }
}

impl<'de> Deserialize<'de> for JsonRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = JsonRecord;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonRecord, A::Error> {
        let mut fields = Map::new();
        let mut repeated = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let value: Value = map.next_value()?;
            if fields.insert(name.clone(), value).is_some() && !repeated.contains(&name) {
                repeated.push(name);
            }
        }
        Ok(JsonRecord::Object { fields, repeated })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonRecord, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonRecord::Other("a list"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<JsonRecord, E> {
        Ok(JsonRecord::Other("text"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<JsonRecord, E> {
        Ok(JsonRecord::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<JsonRecord, E> {
        Ok(JsonRecord::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<JsonRecord, E> {
        Ok(JsonRecord::Other("a number"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<JsonRecord, E> {
        Ok(JsonRecord::Other("a single value"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsonRecord, E> {
        Ok(JsonRecord::Other("a single value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_are_noted_once_and_the_last_value_kept() {
        let text =
            r#"{"title": "A", "abstract": "x", "title": "B", "title": "C", "abstract": "y"}"#;
        let Ok(JsonRecord::Object { fields, repeated }) = JsonRecord::parse(text) else {
            panic!("not read as an object");
        };
        assert_eq!(fields["title"], "C");
        assert_eq!(fields["abstract"], "y");
        assert_eq!(repeated, ["title", "abstract"]);
        assert_eq!(
            repeated_fields_warning(&repeated).unwrap(),
            "fields `title`, `abstract` appear more than once; the last value of each was kept"
        );
        // Names repeated inside a nested object are that object's business.
        let Ok(JsonRecord::Object { repeated, .. }) =
            JsonRecord::parse(r#"{"title": "A", "x": {"k": 1, "k": 2}}"#)
        else {
            panic!("not read as an object");
        };
        assert!(repeated.is_empty());
        assert_eq!(repeated_fields_warning(&repeated), None);
    }

    #[test]
    fn other_values_are_named_and_bad_json_is_an_error() {
        let kind = |text: &str| match JsonRecord::parse(text) {
            Ok(JsonRecord::Other(kind)) => kind,
            Ok(JsonRecord::Object { .. }) => "an object",
            Err(_) => "an error",
        };
        assert_eq!(kind("[1, {\"a\": 2}]"), "a list");
        assert_eq!(kind("\"text\""), "text");
        assert_eq!(kind("-3.5"), "a number");
        assert_eq!(kind("true"), "a single value");
        assert_eq!(kind("null"), "a single value");
        assert_eq!(kind("{\"title\": oops}"), "an error");
        assert_eq!(kind("{} {}"), "an error");
    }
}
