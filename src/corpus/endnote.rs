//! Reads EndNote's XML export (`<xml><records><record>…`): each `<record>`
//! is a paper. EndNote wraps every text in `<style>` runs (several when a
//! title has italics), which are read whole:
//!
//! | paper field  | EndNote element |
//! |--------------|-----------------|
//! | `title`      | `titles/title` |
//! | `abstract`   | `abstract` |
//! | `authors`    | each `contributors/authors/author` |
//! | `date`       | `dates/pub-dates/date`, else `dates/year` |
//! | `doi`        | `electronic-resource-num` (a DOI in any spelling) |
//! | `url`        | the first `urls/related-urls/url` |
//! | `categories` | each `keywords/keyword` |
//!
//! The id is the DOI, else an arXiv address's arXiv id, else one made from
//! the title. `titles/secondary-title` (the journal) is kept as `journal`.

use serde_json::{Map, Value};

use super::event::ReadEvent;
use super::paper_id::source_id;
use super::xml_records::{read_xml_records, root_element, XmlKind, XmlRecord};

/// EndNote exports as [`read_xml_records`] reads them.
const ENDNOTE: XmlKind = XmlKind {
    name: "an EndNote XML export",
    roots: &["xml"],
    roots_shown: "<xml> and its <records>",
    records: &["record"],
    to_fields: fields_of,
};

/// Whether the start of a text is an EndNote XML export: its first element
/// is `<xml>` and a `<records>` element follows.
pub(crate) fn looks_like_endnote(head: &str) -> bool {
    root_element(head).is_some_and(|root| root == "xml") && head.contains("<records>")
}

/// Reads a whole EndNote XML export (already checked to be UTF-8, BOM
/// removed).
pub(crate) fn read_endnote(text: &str, path: &str) -> Vec<ReadEvent> {
    read_xml_records(text, path, &ENDNOTE)
}

/// A record's fields under the names JSON records use.
fn fields_of(record: &XmlRecord) -> Map<String, Value> {
    let mut fields = Map::new();
    let text = |s: String| Value::String(s);
    let list = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
    if let Some(title) = record.all("titles/title").into_iter().next() {
        fields.insert("title".into(), text(title));
    }
    if let Some(summary) = record.all("abstract").into_iter().next() {
        fields.insert("abstract".into(), text(summary));
    }
    let authors = record.all("contributors/authors/author");
    if !authors.is_empty() {
        fields.insert("authors".into(), list(authors));
    }
    let date = record
        .all("dates/pub-dates/date")
        .into_iter()
        .chain(record.all("dates/year"))
        .next();
    if let Some(date) = date {
        fields.insert("date".into(), text(date));
    }
    let keywords = record.all("keywords/keyword");
    if !keywords.is_empty() {
        fields.insert("categories".into(), list(keywords));
    }
    let url = record.all("urls/related-urls/url").into_iter().next();
    let doi = record
        .all("electronic-resource-num")
        .into_iter()
        .filter_map(|v| source_id(&v))
        .find(|id| id.starts_with("10."));
    let arxiv = url
        .as_deref()
        .filter(|u| u.contains("arxiv.org/"))
        .and_then(source_id);
    match (doi, arxiv) {
        (Some(doi), _) => {
            fields.insert("doi".into(), text(doi));
        }
        (None, Some(arxiv)) => {
            fields.insert("id".into(), text(arxiv));
        }
        (None, None) => {}
    }
    if let Some(url) = url {
        fields.insert("url".into(), text(url));
    }
    if let Some(journal) = record.all("titles/secondary-title").into_iter().next() {
        fields.insert("journal".into(), text(journal));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::xml_records::{sort_events, Sorted};

    fn read(text: &str) -> Sorted {
        sort_events(read_endnote(text, "library.xml"))
    }

    #[test]
    fn endnote_records_are_papers() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8" ?><xml><records>
<record><database name="My Library.enl">My Library.enl</database><ref-type name="Journal Article">17</ref-type>
<contributors><authors><author><style face="normal" font="default" size="100%">Vaswani, Ashish</style></author>
<author><style face="normal" font="default" size="100%">Shazeer, Noam</style></author></authors></contributors>
<titles><title><style face="normal" font="default" size="100%">Attention is all </style><style face="italic" font="default" size="100%">you</style><style face="normal" font="default" size="100%"> need</style></title>
<secondary-title><style face="normal" font="default" size="100%">Advances in NeurIPS</style></secondary-title></titles>
<keywords><keyword><style>attention</style></keyword><keyword><style>transformers</style></keyword></keywords>
<dates><year><style face="normal" font="default" size="100%">2017</style></year></dates>
<urls><related-urls><url><style face="normal" font="default" size="100%">https://arxiv.org/abs/1706.03762</style></url></related-urls></urls>
<electronic-resource-num><style face="normal" font="default" size="100%">https://doi.org/10.5555/3295222.3295349</style></electronic-resource-num>
<abstract><style face="normal" font="default" size="100%">The dominant sequence transduction models &amp; more.</style></abstract></record>
<record><titles><title>Plain text title</title></titles><urls><related-urls><url>https://arxiv.org/abs/2303.01234v2</url></related-urls></urls></record>
<record><abstract>No title.</abstract></record>
</records></xml>
"#;
        assert!(looks_like_endnote(xml));
        let (papers, problems) = read(xml);
        let (first, line) = &papers[0];
        assert_eq!(*line, 2);
        assert_eq!(first.title, "Attention is all you need");
        assert_eq!(first.authors, ["Vaswani, Ashish", "Shazeer, Noam"]);
        assert_eq!(
            first.abstract_text,
            "The dominant sequence transduction models & more."
        );
        assert_eq!(first.date.as_deref(), Some("2017"));
        assert_eq!(first.id, "10.5555/3295222.3295349");
        assert_eq!(first.categories, ["attention", "transformers"]);
        assert_eq!(first.extra["journal"], "Advances in NeurIPS");
        let (second, line) = &papers[1];
        assert_eq!((second.id.as_str(), *line), ("2303.01234", 12));
        assert_eq!(second.title, "Plain text title");
        assert_eq!(papers.len(), 2);
        assert_eq!(problems, [(13, "this <record> has no title".to_string())]);
        assert!(!looks_like_endnote("<rss><channel></channel></rss>"));
    }
}
