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
//! head of arXiv's RSS descriptions dropped. The XML itself is walked by
//! [`super::xml_records`].

use serde_json::{Map, Value};

use super::event::ReadEvent;
use super::paper_id::source_id;
use super::record::split_authors;
use super::xml_records::{local, read_xml_records, root_element, XmlKind, XmlRecord};

/// Root elements of feeds (local names).
const ROOTS: &[&str] = &["rss", "feed", "RDF"];
/// Elements that hold one paper.
const ITEMS: &[&str] = &["item", "entry"];

/// Feeds as [`read_xml_records`] reads them.
const FEED: XmlKind = XmlKind {
    name: "an RSS or Atom feed",
    roots: ROOTS,
    roots_shown: "<rss>, <feed> or <rdf:RDF>",
    records: ITEMS,
    to_fields: fields_of,
};

/// Reads a whole feed (already checked to be UTF-8, BOM removed).
pub(crate) fn read_feed(text: &str, path: &str) -> Vec<ReadEvent> {
    read_xml_records(text, path, &FEED)
}

/// Whether the start of a text is an RSS or Atom feed: its first element
/// (after the XML declaration, comments and a document type) is `<rss>`,
/// `<feed>` or `<rdf:RDF>`.
pub(crate) fn looks_like_feed(head: &str) -> bool {
    root_element(head).is_some_and(|name| ROOTS.contains(&local(&name)))
}

/// An item's fields under the names JSON records use.
fn fields_of(item: &XmlRecord) -> Map<String, Value> {
    let mut fields = Map::new();
    let list = |v: Vec<String>| Value::Array(v.into_iter().map(Value::String).collect());
    if let Some(title) = item.first(&["title"]) {
        fields.insert("title".into(), Value::String(strip_tags(&title)));
    }
    let summary = item.first(&["summary", "description", "encoded", "content", "abstract"]);
    if let Some(summary) = summary {
        let summary = arxiv_abstract(&strip_tags(&summary));
        fields.insert("abstract".into(), Value::String(summary));
    }
    let mut authors = item.all("author/name");
    if authors.is_empty() {
        let creators = item.all("creator");
        authors = match creators.as_slice() {
            [one] => split_authors(one),
            _ => creators,
        };
    }
    if authors.is_empty() {
        // RSS 2.0's `author`: an address, and the name in parentheses.
        authors = item
            .all("author")
            .into_iter()
            .map(|a| match a.split_once('(') {
                Some((_, name)) => name.trim_end_matches(')').trim().to_string(),
                None => a,
            })
            .collect();
    }
    if !authors.is_empty() {
        fields.insert("authors".into(), list(authors));
    }
    let date = item.first(&["published", "date", "publicationDate", "updated", "pubDate"]);
    if let Some(date) = date {
        fields.insert("date".into(), Value::String(date));
    }
    let mut categories: Vec<String> = item.terms.clone();
    if categories.is_empty() {
        categories = item.all("category");
        categories.extend(item.all("subject"));
    }
    if !categories.is_empty() {
        fields.insert("categories".into(), list(categories));
    }
    let page = item
        .links
        .iter()
        .find(|(rel, _)| rel.is_empty() || rel == "alternate")
        .map(|(_, href)| href.clone())
        .or_else(|| item.first(&["link"]));
    if let Some(id) = item_id(item, page.as_deref()) {
        fields.insert("id".into(), Value::String(id));
    }
    if let Some(url) = page {
        fields.insert("url".into(), Value::String(url));
    }
    fields
}

/// The item's id (see the module's notes); `None` leaves it to the title.
fn item_id(item: &XmlRecord, page: Option<&str>) -> Option<String> {
    let own: Vec<String> = ["id", "guid"]
        .iter()
        .flat_map(|p| item.all(p))
        .map(|id| {
            id.strip_prefix("oai:arXiv.org:")
                .map(str::to_string)
                .unwrap_or(id)
        })
        .collect();
    let arxiv = own
        .iter()
        .map(String::as_str)
        .chain(page)
        .filter_map(source_id)
        .find(|id| !id.starts_with("10."));
    let declared: Vec<String> = ["doi", "identifier"]
        .iter()
        .flat_map(|p| item.all(p))
        .collect();
    let doi = declared
        .iter()
        .chain(own.iter())
        .map(String::as_str)
        .chain(page)
        .filter_map(source_id)
        .find(|id| id.starts_with("10."));
    arxiv.or(doi).or_else(|| own.into_iter().next())
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
    use crate::corpus::xml_records::{sort_events, Sorted};

    fn read(text: &str) -> Sorted {
        sort_events(read_feed(text, "feed.xml"))
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
        assert_eq!(problems, [(23, "this <entry> has no title".to_string())]);
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
