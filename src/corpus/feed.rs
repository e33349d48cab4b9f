//! Reads web feeds of papers: RSS 2.0 (arXiv's daily listings from
//! rss.arxiv.org, journals' and preprint servers' feeds), RSS 1.0 (RDF)
//! and Atom (the arXiv API's answers). Each `<item>` or `<entry>` is a
//! paper, reported at the line it starts on:
//!
//! | paper field  | Atom | RSS |
//! |--------------|------|-----|
//! | `title`      | `title` | `title` |
//! | `abstract`   | `summary`, else `content` | `description`, else `content:encoded`, `dc:description` |
//! | `authors`    | each `author`'s `name` | `dc:creator` (one element per author, or a list in one), else `author` |
//! | `date`       | `published`, else `updated` | `dc:date`, `prism:publicationDate`, else `pubDate` |
//! | `categories` | each `category`'s `term` | each `category`, `dc:subject` |
//! | `url`        | the `link` to the page (`rel="alternate"`, or no `rel`) | `link` |
//!
//! The id is an arXiv id found in the entry's `id`, `guid` or link (arXiv's
//! `oai:arXiv.org:…` guids included), else a DOI (`prism:doi`,
//! `arxiv:doi`, `dc:identifier`, or a DOI address), else the entry's own
//! `id` or `guid`, else one made from the title. HTML in titles and
//! abstracts is removed, and the `arXiv:… Announce Type: new Abstract:`
//! head of arXiv's RSS descriptions dropped. A syntax error stops the
//! reading there, with its line, after the papers before it.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use serde_json::{Map, Value};

use super::event::{Problem, ReadEvent};
use super::paper_id::source_id;
use super::record::{paper_from_fields, split_authors};

/// Root elements of feeds (local names).
const ROOTS: &[&str] = &["rss", "feed", "RDF"];
/// Elements that hold one paper.
const ITEMS: &[&str] = &["item", "entry"];

/// Whether the start of a text is an RSS or Atom feed: its first element
/// (after the XML declaration, comments and a document type) is `<rss>`,
/// `<feed>` or `<rdf:RDF>`.
pub(crate) fn looks_like_feed(head: &str) -> bool {
    root_element(head).is_some_and(|name| ROOTS.contains(&local(&name)))
}

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
fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// What one item said, field by field, as read.
#[derive(Default)]
struct Item {
    line: usize,
    /// (path of local names below the item, e.g. `author/name`, text).
    texts: Vec<(String, String)>,
    /// (rel, href) of each `<link>` with an `href`.
    links: Vec<(String, String)>,
    /// `term`s of Atom's `<category>`s.
    terms: Vec<String>,
}

impl Item {
    /// The texts at `path`, trimmed, non-empty, in order.
    fn all(&self, path: &str) -> Vec<&str> {
        self.texts
            .iter()
            .filter(|(p, t)| p == path && !t.trim().is_empty())
            .map(|(_, t)| t.trim())
            .collect()
    }

    /// The first text at the first of `paths` that has one.
    fn first(&self, paths: &[&str]) -> Option<&str> {
        paths.iter().find_map(|p| self.all(p).first().copied())
    }

    /// The text of the first of `elements` that has any, its nested
    /// elements' included (Atom's `type="xhtml"` wraps the text in a
    /// `<div>`); each element's first occurrence only.
    fn whole(&self, elements: &[&str]) -> Option<String> {
        elements.iter().find_map(|name| {
            let nested = format!("{name}/");
            let start = self.texts.iter().position(|(p, _)| p == name)?;
            let text: String = self.texts[start..]
                .iter()
                .enumerate()
                .take_while(|(i, (p, _))| *i == 0 || p.starts_with(&nested) || p == name)
                .map(|(_, (_, t))| t.as_str())
                .collect();
            (!text.trim().is_empty()).then_some(text)
        })
    }
}

/// Reads a whole feed (already checked to be UTF-8, BOM removed).
pub(crate) fn read_feed(text: &str, path: &str) -> Vec<ReadEvent> {
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
    let mut item: Option<Item> = None;
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
                    format!(
                        "the feed's XML is not valid here ({e}); nothing after this point was read"
                    ),
                )));
                break;
            }
        };
        match event {
            Event::Start(start) => {
                let name = local_name(&start);
                if !root_checked {
                    root_checked = true;
                    if !ROOTS.contains(&name.as_str()) {
                        events.push(ReadEvent::Rejected(Problem::new(
                            path,
                            line_of(position),
                            format!(
                                "this XML is not an RSS or Atom feed (its first element is \
                                 <{name}>, where a feed starts with <rss>, <feed> or <rdf:RDF>); \
                                 nothing was read"
                            ),
                        )));
                        break;
                    }
                }
                match &mut item {
                    None if ITEMS.contains(&name.as_str()) => {
                        items_seen += 1;
                        item = Some(Item {
                            line: line_of(position),
                            ..Item::default()
                        });
                        below_item.clear();
                    }
                    None => {}
                    Some(current) => {
                        below_item.push(name.clone());
                        note_attributes(current, &name, &start);
                        current.texts.push((below_item.join("/"), String::new()));
                    }
                }
            }
            Event::End(_) => match &mut item {
                Some(_) if below_item.is_empty() => {
                    if let Some(done) = item.take() {
                        events.push(item_event(done, path));
                    }
                }
                Some(current) => {
                    below_item.pop();
                    // Text after a child closes belongs to the parent again.
                    if !below_item.is_empty() {
                        current.texts.push((below_item.join("/"), String::new()));
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
            "this item is not closed before the feed ends (the file is cut short?)",
        )));
    }
    if root_checked && items_seen == 0 && events.is_empty() {
        events.push(ReadEvent::Warning(Problem::new(
            path,
            1,
            "the feed has no <item> or <entry>: no papers in it",
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
fn note_attributes(item: &mut Item, name: &str, start: &BytesStart<'_>) {
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
fn append(item: &mut Option<Item>, below_item: &[String], text: &str) {
    let Some(item) = item else {
        return;
    };
    if below_item.is_empty() {
        return;
    }
    if let Some((_, buffer)) = item.texts.last_mut() {
        buffer.push_str(text);
    }
}

/// The paper of a finished item, or why it has none.
fn item_event(item: Item, path: &str) -> ReadEvent {
    let line = item.line;
    match paper_from_fields(fields_of(&item)) {
        Ok(paper) => ReadEvent::Paper { paper, line },
        Err(problem) => ReadEvent::Rejected(Problem::new(
            path,
            line,
            if problem.contains("missing title") {
                "this item has no <title>".to_string()
            } else {
                problem
            },
        )),
    }
}

/// An item's fields under the names JSON records use.
fn fields_of(item: &Item) -> Map<String, Value> {
    let mut fields = Map::new();
    let text = |s: &str| Value::String(s.to_string());
    if let Some(title) = item.whole(&["title"]) {
        fields.insert("title".into(), text(&strip_tags(&title)));
    }
    if let Some(summary) = item.first(&["summary", "description", "encoded", "content", "abstract"])
    {
        fields.insert(
            "abstract".into(),
            text(&arxiv_abstract(&strip_tags(summary))),
        );
    }
    let mut authors: Vec<String> = item
        .all("author/name")
        .iter()
        .map(|s| s.to_string())
        .collect();
    if authors.is_empty() {
        let creators = item.all("creator");
        authors = match creators.as_slice() {
            [one] => split_authors(one),
            many => many.iter().map(|s| s.to_string()).collect(),
        };
    }
    if authors.is_empty() {
        // RSS 2.0's `author`: an address, and the name in parentheses.
        authors = item
            .all("author")
            .iter()
            .map(|a| match a.split_once('(') {
                Some((_, name)) => name.trim_end_matches(')').trim().to_string(),
                None => a.to_string(),
            })
            .collect();
    }
    if !authors.is_empty() {
        fields.insert(
            "authors".into(),
            Value::Array(authors.into_iter().map(Value::String).collect()),
        );
    }
    if let Some(date) = item.first(&["published", "date", "publicationDate", "updated", "pubDate"])
    {
        fields.insert("date".into(), text(date));
    }
    let mut categories: Vec<String> = item.terms.clone();
    if categories.is_empty() {
        categories = item
            .all("category")
            .into_iter()
            .chain(item.all("subject"))
            .map(str::to_string)
            .collect();
    }
    if !categories.is_empty() {
        fields.insert(
            "categories".into(),
            Value::Array(categories.into_iter().map(Value::String).collect()),
        );
    }
    let page = item
        .links
        .iter()
        .find(|(rel, _)| rel.is_empty() || rel == "alternate")
        .map(|(_, href)| href.as_str())
        .or_else(|| item.first(&["link"]));
    if let Some(url) = page {
        fields.insert("url".into(), text(url));
    }
    if let Some(id) = item_id(item, page) {
        fields.insert("id".into(), text(&id));
    }
    fields
}

/// The item's id (see the module's notes); `None` leaves it to the title.
fn item_id(item: &Item, page: Option<&str>) -> Option<String> {
    let own: Vec<&str> = ["id", "guid"]
        .iter()
        .flat_map(|p| item.all(p))
        .map(|id| id.strip_prefix("oai:arXiv.org:").unwrap_or(id))
        .collect();
    let arxiv = own
        .iter()
        .copied()
        .chain(page)
        .filter_map(source_id)
        .find(|id| !id.starts_with("10."));
    let doi = ["doi", "identifier"]
        .iter()
        .flat_map(|p| item.all(p))
        .chain(own.iter().copied())
        .chain(page)
        .filter_map(source_id)
        .find(|id| id.starts_with("10."));
    arxiv
        .or(doi)
        .or_else(|| own.first().map(|id| id.to_string()))
}

/// Tags within a line of text, removed without a space (`H<sub>2</sub>O`).
const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "b", "big", "cite", "code", "em", "font", "i", "small", "span", "strong", "sub",
    "sup", "tt", "u",
];

/// `text` without HTML tags (`<p>`, `<a href=…>`, `<br/>`); block tags
/// leave a space, inline ones nothing; a `<` not followed by a tag name
/// (`x < y`) is kept.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let is_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match after.find('>').filter(|_| is_tag) {
            Some(end) => {
                let name: String = after[..end]
                    .trim_start_matches('/')
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect::<String>()
                    .to_ascii_lowercase();
                if !INLINE_TAGS.contains(&name.as_str()) {
                    out.push(' ');
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// An abstract without the head arXiv's RSS puts before it
/// (`arXiv:2303.01234v1 Announce Type: new Abstract: We …`).
fn arxiv_abstract(text: &str) -> String {
    let trimmed = text.trim_start();
    if trimmed.starts_with("arXiv:") {
        if let Some(at) = trimmed.find("Abstract:").filter(|&at| at < 200) {
            return trimmed[at + "Abstract:".len()..].trim().to_string();
        }
    }
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Paper;

    /// Papers with their lines, and problems (line, message).
    type Read = (Vec<(Paper, usize)>, Vec<(usize, String)>);

    fn read(text: &str) -> Read {
        let (mut papers, mut problems) = (Vec::new(), Vec::new());
        for event in read_feed(text, "feed.xml") {
            match event {
                ReadEvent::Paper { paper, line } => papers.push((paper, line)),
                ReadEvent::Rejected(p) | ReadEvent::Warning(p) => {
                    problems.push((p.line, p.message))
                }
            }
        }
        (papers, problems)
    }

    #[test]
    fn arxiv_rss_items_are_papers() {
        let feed = r#"<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
  <channel>
    <title>cs.LG updates on arXiv.org</title>
    <item>
      <title>Sparse Attention &amp; Long Documents</title>
      <link>https://arxiv.org/abs/2303.01234</link>
      <description>arXiv:2303.01234v1 Announce Type: new 
Abstract: We propose a &lt;i&gt;sparse&lt;/i&gt; attention pattern.</description>
      <guid isPermaLink="false">oai:arXiv.org:2303.01234v1</guid>
      <category>cs.LG</category>
      <category>cs.CL</category>
      <pubDate>Mon, 13 Mar 2023 00:00:00 -0400</pubDate>
      <dc:creator>Maja Lindqvist, Chidi Okafor</dc:creator>
    </item>
    <item>
      <title><![CDATA[Graph networks for molecules]]></title>
      <link>https://arxiv.org/abs/2303.05678</link>
      <description>arXiv:2303.05678v2 Announce Type: replace 
Abstract: Message passing on atoms.</description>
      <dc:creator>Rami Haddad</dc:creator>
    </item>
  </channel>
</rss>
"#;
        assert!(looks_like_feed(feed));
        let (papers, problems) = read(feed);
        assert!(problems.is_empty(), "{problems:?}");
        let (first, line) = &papers[0];
        assert_eq!(*line, 5);
        assert_eq!(first.id, "2303.01234");
        assert_eq!(first.title, "Sparse Attention & Long Documents");
        assert_eq!(
            first.abstract_text,
            "We propose a sparse attention pattern."
        );
        assert_eq!(first.authors, ["Maja Lindqvist", "Chidi Okafor"]);
        assert_eq!(first.categories, ["cs.LG", "cs.CL"]);
        assert_eq!(
            first.url.as_deref(),
            Some("https://arxiv.org/abs/2303.01234")
        );
        assert_eq!(
            first.date.as_deref(),
            Some("Mon, 13 Mar 2023 00:00:00 -0400")
        );
        let (second, line) = &papers[1];
        assert_eq!((second.id.as_str(), *line), ("2303.05678", 16));
        assert_eq!(second.title, "Graph networks for molecules");
        assert_eq!(second.abstract_text, "Message passing on atoms.");
    }

    #[test]
    fn atom_entries_of_the_arxiv_api_are_papers() {
        let feed = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title>ArXiv Query</title>
  <entry>
    <id>http://arxiv.org/abs/1706.03762v7</id>
    <updated>2023-08-02T00:41:18Z</updated>
    <published>2017-06-12T17:57:34Z</published>
    <title>Attention Is All You
  Need</title>
    <summary>  The dominant sequence transduction models are based on complex
recurrent networks.</summary>
    <author><name>Ashish Vaswani</name></author>
    <author><name>Noam Shazeer</name><arxiv:affiliation>Google</arxiv:affiliation></author>
    <arxiv:doi>10.5555/3295222.3295349</arxiv:doi>
    <link href="http://arxiv.org/abs/1706.03762v7" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/1706.03762v7" rel="related" type="application/pdf"/>
    <arxiv:primary_category term="cs.CL"/>
    <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
  <entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">A <em>journal</em> article</div></title>
    <id>tag:example.org,2024:1</id><link href="https://doi.org/10.1000/XYZ"/></entry>
  <entry><summary>No title here.</summary></entry>
</feed>
"#;
        let (papers, problems) = read(feed);
        let (first, line) = &papers[0];
        assert_eq!(*line, 4);
        assert_eq!(first.id, "1706.03762");
        assert_eq!(first.title, "Attention Is All You Need");
        assert_eq!(
            first.abstract_text,
            "The dominant sequence transduction models are based on complex recurrent networks."
        );
        assert_eq!(first.authors, ["Ashish Vaswani", "Noam Shazeer"]);
        assert_eq!(first.date.as_deref(), Some("2017-06-12T17:57:34Z"));
        assert_eq!(first.categories, ["cs.CL", "cs.LG"]);
        assert_eq!(
            first.url.as_deref(),
            Some("http://arxiv.org/abs/1706.03762v7")
        );
        assert_eq!(papers[1].0.id, "10.1000/xyz", "a DOI address");
        assert_eq!(papers[1].0.title, "A journal article", "XHTML title");
        assert_eq!(problems, [(23, "this item has no <title>".to_string())]);
    }

    #[test]
    fn broken_and_foreign_xml_is_reported_with_its_line() {
        let cut = "<rss><channel>\n<item><title>Kept</title></item>\n<item><title>Cut";
        let (papers, problems) = read(cut);
        assert_eq!(papers.len(), 1);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, 3);
        let bad = "<rss><channel>\n<item><title>Kept</title></item>\n<item><title>x</wrong></item>";
        let (papers, problems) = read(bad);
        assert_eq!(papers.len(), 1);
        assert!(problems[0].1.contains("not valid"), "{problems:?}");
        let (papers, problems) = read("<?xml version=\"1.0\"?>\n<html><body/></html>");
        assert!(papers.is_empty());
        assert!(
            problems[0].1.contains("not an RSS or Atom feed"),
            "{problems:?}"
        );
        assert!(!looks_like_feed("<html><body/></html>"));
        assert!(looks_like_feed(
            "\u{feff}<?xml version=\"1.0\"?><!-- c --><rdf:RDF>"
        ));
        assert_eq!(strip_tags("a <b>bold</b> x < y"), "a bold x < y");
        assert_eq!(strip_tags("H<sub>2</sub>O<p>next</p>"), "H2O next ");
    }
}
