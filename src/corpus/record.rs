//! Turns a record of named fields (a JSON object, or a CSV row keyed by its
//! header) into a [`Paper`]: which field names mean what, how author and
//! category lists written as text are split, and which id the paper gets.
//!
//! Field names are matched case-insensitively, first alias first:
//!
//! | Paper field  | record fields            |
//! |--------------|--------------------------|
//! | `id`         | `id`, `paperId` (Semantic Scholar), else the `doi` |
//! | `title`      | `title` (required; a list of texts, as Crossref's, gives its first) |
//! | `abstract`   | `abstract`, `summary`, `abstract note` (Zotero), else OpenAlex's `abstract_inverted_index` rebuilt |
//! | `authors`    | `authors`, `author`, `authorships` (OpenAlex) |
//! | `date`       | `date`, `publication_date`, `publicationDate`, `year`, `publication_year`, else CSL JSON's `issued` |
//! | `categories` | `categories`, `category` |
//! | `url`        | `url`, `link`            |
//!
//! Every other field, and an alias not used because an earlier one was
//! present, is kept in [`Paper::extra`]. Null values count as absent.

use serde_json::{Map, Value};

use super::normalize::normalize_text;
use super::paper_id::{normalize_doi, title_id};
use super::Paper;

const ID: &[&str] = &["id", "paperid"];
const TITLE: &[&str] = &["title"];
const ABSTRACT: &[&str] = &["abstract", "summary", "abstract note", "abstractnote"];
/// OpenAlex's abstract: each word with the positions it takes.
const INVERTED_ABSTRACT: &[&str] = &["abstract_inverted_index"];
const AUTHORS: &[&str] = &["authors", "author", "authorships"];
const DATE: &[&str] = &[
    "date",
    "publication_date",
    "publicationdate",
    "year",
    "publication_year",
];
const CATEGORIES: &[&str] = &["categories", "category"];
const URL: &[&str] = &["url", "link"];

/// Builds a paper from a record's fields; the error says which field is
/// wrong and how.
pub(crate) fn paper_from_fields(mut fields: Map<String, Value>) -> Result<Paper, String> {
    fields.retain(|_, v| !v.is_null());
    let title = match take(&mut fields, TITLE) {
        Some((name, value)) => normalize_text(&strip_markup(&text(&name, value)?)),
        None => String::new(),
    };
    if title.is_empty() {
        return Err("missing title; every paper needs a non-empty `title` field".to_string());
    }
    let abstract_text = match take(&mut fields, ABSTRACT) {
        Some((name, value)) => {
            let raw = text(&name, value)?;
            without_copyright(&normalize_text(&strip_markup(without_heading(&raw))))
        }
        None => match take(&mut fields, INVERTED_ABSTRACT) {
            Some((name, value)) => normalize_text(&strip_markup(&inverted_text(&name, value)?)),
            None => String::new(),
        },
    };
    let authors = match take(&mut fields, AUTHORS) {
        Some((name, value)) => list(&name, value, split_authors)?,
        None => Vec::new(),
    };
    let categories = match take(&mut fields, CATEGORIES) {
        Some((name, value)) => list(&name, value, split_categories)?,
        None => Vec::new(),
    };
    let date = match optional_text(&mut fields, DATE)? {
        Some(date) => Some(date),
        None => csl_issued(&fields),
    };
    let url = optional_text(&mut fields, URL)?;
    // A fractional number has lost what JSON does not keep (arXiv's
    // 1501.10 arrives as 1501.1): an id must be exact.
    if let Some((name, Value::Number(n))) = fields
        .iter()
        .find(|(k, _)| ID.iter().any(|a| k.trim().eq_ignore_ascii_case(a)))
    {
        if !(n.is_u64() || n.is_i64()) {
            return Err(format!(
                "field `{name}` is the number {n}, which may have lost digits (1501.10 reads as \
                 1501.1): write the id as text, in quotes"
            ));
        }
    }
    let id = match optional_text(&mut fields, ID)? {
        Some(id) => id,
        None => fields
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("doi"))
            .and_then(|(_, v)| v.as_str())
            .and_then(normalize_doi)
            .unwrap_or_else(|| title_id(&title)),
    };
    Ok(Paper {
        id,
        title,
        abstract_text,
        authors,
        date,
        categories,
        url,
        extra: fields,
    })
}

/// An abstract without the heading Crossref's JATS puts before it
/// (`<jats:title>Abstract</jats:title>`); only a marked-up heading is
/// removed, so an abstract that starts "Abstract interpretation is…"
/// keeps its first word.
fn without_heading(text: &str) -> &str {
    let trimmed = text.trim_start();
    for open in ["<jats:title>", "<title>"] {
        let Some(rest) = trimmed.strip_prefix(open) else {
            continue;
        };
        let close = open.replacen('<', "</", 1);
        if let Some((heading, after)) = rest.split_once(close.as_str()) {
            let heading = heading.trim().trim_end_matches([':', '.']);
            if ["abstract", "summary"].contains(&heading.to_ascii_lowercase().as_str()) {
                return after;
            }
        }
    }
    text
}

/// An abstract without the publisher's copyright line at its end
/// (`… networks. © 2021 Elsevier B.V. All rights reserved.`), as Scopus and
/// Crossref give abstracts: the text from a `©` (or `Copyright`, `(c)`
/// followed by a year) that starts the last 200 characters' final
/// sentences is dropped when a sentence ends before it. `Copyright` counts
/// only before `©`, `(c)` or a year, so a last sentence about copyright law
/// stays.
fn without_copyright(text: &str) -> String {
    let mut tail_start = text.len().saturating_sub(200);
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    let tail = &text[tail_start..];
    if !tail.contains(['©', '(', 'C']) {
        return text.to_string();
    }
    let marks = [
        "©",
        "Copyright ©",
        "Copyright (c)",
        "Copyright (C)",
        "Copyright 1",
        "Copyright 2",
        "(c) 1",
        "(c) 2",
        "(C) 1",
        "(C) 2",
    ];
    let mut starts: Vec<usize> = marks
        .iter()
        .flat_map(|mark| tail.match_indices(mark).map(|(at, _)| tail_start + at))
        .filter(|&at| at > 0)
        .collect();
    starts.sort_unstable();
    match starts
        .into_iter()
        .find(|&at| text[..at].trim_end().ends_with(['.', '!', '?']))
    {
        Some(at) => text[..at].trim_end().to_string(),
        None => text.to_string(),
    }
}

/// Markup tags that titles and abstracts from web sources carry (HTML's
/// inline tags, Crossref's JATS, MathML's wrapper), removed with any
/// namespace prefix (`jats:p`); the block ones leave a space.
const INLINE_TAGS: [&str; 12] = [
    "i", "b", "em", "strong", "sup", "sub", "tt", "span", "u", "sc", "italic", "bold",
];
const BLOCK_TAGS: [&str; 8] = [
    "p",
    "br",
    "div",
    "title",
    "sec",
    "abstract",
    "math",
    "inline-formula",
];

/// A title or abstract without the markup tags above, and with HTML's
/// character references decoded (`&amp;`, `&#233;`, `&#x2013;`, …);
/// anything else that looks like a tag (`x < y > z`) is kept.
fn strip_markup(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['<', '&']) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['<', '&']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (replacement, used) = if rest.starts_with('<') {
            markup_tag(rest)
        } else {
            character_reference(rest)
        };
        match replacement {
            Some(r) => {
                out.push_str(&r);
                rest = &rest[used..];
            }
            None => {
                out.push_str(&rest[..1]);
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// For text starting with `<`: what a known tag there becomes and its
/// length.
fn markup_tag(text: &str) -> (Option<String>, usize) {
    let Some(end) = text.get(..text.len().min(200)).and_then(|t| t.find('>')) else {
        return (None, 0);
    };
    let inside = text[1..end].trim_start_matches('/').trim_end_matches('/');
    let name = inside
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = name.rsplit(':').next().unwrap_or("");
    if INLINE_TAGS.contains(&name) {
        (Some(String::new()), end + 1)
    } else if BLOCK_TAGS.contains(&name) {
        (Some(" ".to_string()), end + 1)
    } else {
        (None, 0)
    }
}

/// For text starting with `&`: the character a reference there stands for
/// and the reference's length.
fn character_reference(text: &str) -> (Option<String>, usize) {
    // The longest name, `CounterClockwiseContourIntegral`, has 31 letters.
    let window = text.floor_char_boundary(text.len().min(40));
    let Some(end) = text[..window].find(';') else {
        return (None, 0);
    };
    let name = &text[1..end];
    let decoded = match name {
        "nbsp" => Some(" ".to_string()),
        _ if name.starts_with('#') => name
            .strip_prefix("#x")
            .or_else(|| name.strip_prefix("#X"))
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
            .and_then(char::from_u32)
            .map(String::from),
        // Every name of HTML5's table (`&eacute;`, `&alpha;`, `&le;`, …).
        _ => html_escape::NAMED_ENTITIES
            .binary_search_by(|(n, _)| n.cmp(&name.as_bytes()))
            .ok()
            .map(|at| html_escape::NAMED_ENTITIES[at].1.to_string()),
    };
    (decoded, end + 1)
}

/// Removes and returns the first field whose name matches one of `aliases`.
fn take(fields: &mut Map<String, Value>, aliases: &[&str]) -> Option<(String, Value)> {
    for alias in aliases {
        let key = fields
            .keys()
            .find(|k| k.trim().eq_ignore_ascii_case(alias))
            .cloned();
        if let Some(key) = key {
            let value = fields.remove(&key)?;
            return Some((key, value));
        }
    }
    None
}

/// A text field; numbers are accepted and written as text (a whole number
/// written with a fraction, as spreadsheets write years, without it:
/// `2020.0` is `2020`).
fn text(name: &str, value: Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        // Crossref gives titles as lists (`"title": ["…"]`): the first that
        // is not empty.
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .find(|s| !s.trim().is_empty())
            .unwrap_or_default()),
        Value::Number(n) => Ok(match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) && f.fract() == 0.0 && f.abs() < 1e15 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        }),
        other => Err(format!(
            "field `{name}`: expected text, found {}",
            kind(&other)
        )),
    }
}

/// An optional text field, normalised; empty text counts as absent.
fn optional_text(
    fields: &mut Map<String, Value>,
    aliases: &[&str],
) -> Result<Option<String>, String> {
    match take(fields, aliases) {
        Some((name, value)) => {
            let value = normalize_text(&text(&name, value)?);
            Ok((!value.is_empty()).then_some(value))
        }
        None => Ok(None),
    }
}

/// The date of a CSL JSON record (Zotero's export): `"issued":
/// {"date-parts": [[2017, 6, 12]]}` as `2017-06-12` (year and month alone
/// as `2017` and `2017-06`). The field stays among the extra fields.
fn csl_issued(fields: &Map<String, Value>) -> Option<String> {
    let issued = fields
        .iter()
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("issued"))?
        .1;
    let parts = issued.get("date-parts")?.get(0)?.as_array()?;
    let numbers: Vec<u64> = parts
        .iter()
        .map(|p| p.as_u64().or_else(|| p.as_str()?.trim().parse().ok()))
        .collect::<Option<_>>()?;
    match numbers.as_slice() {
        [year] => Some(format!("{year}")),
        [year, month] => Some(format!("{year}-{month:02}")),
        [year, month, day, ..] => Some(format!("{year}-{month:02}-{day:02}")),
        [] => None,
    }
}

/// The text of an inverted index (OpenAlex's `abstract_inverted_index`:
/// `{"word": [positions], ...}`), its words in the order of their
/// positions.
fn inverted_text(name: &str, value: Value) -> Result<String, String> {
    let wrong = || {
        format!(
            "field `{name}`: expected an object mapping each word to a list of its positions \
             (0, 1, ...)"
        )
    };
    let Value::Object(words) = value else {
        return Err(wrong());
    };
    let mut placed: Vec<(u64, String)> = Vec::new();
    for (word, positions) in words {
        let Value::Array(positions) = positions else {
            return Err(wrong());
        };
        for position in positions {
            placed.push((position.as_u64().ok_or_else(wrong)?, word.clone()));
        }
    }
    placed.sort();
    let words: Vec<&str> = placed.iter().map(|(_, w)| w.as_str()).collect();
    Ok(words.join(" "))
}

/// A list field: a JSON list of texts (or of objects with a `name`), or one
/// text split by `split`.
fn list(name: &str, value: Value, split: fn(&str) -> Vec<String>) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(split(&s)),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let item = match item {
                    Value::String(s) => s,
                    Value::Object(o) => match name_of_object(&o) {
                        Some(s) => s,
                        None => {
                            return Err(format!(
                                "field `{name}`: a list item is an object without a text `name` \
                                 (nor `given`/`family`, `first`/`last` or `firstName`/`lastName`)"
                            ))
                        }
                    },
                    // arXiv's `authors_parsed`: [last, first, suffix].
                    Value::Array(parts) if parts.iter().all(|p| p.is_string()) => {
                        let parts: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
                        match parts.as_slice() {
                            [last, first, rest @ ..] => {
                                let mut words = vec![*first, *last];
                                words.extend(rest);
                                join_words(&words)
                            }
                            [only] => only.to_string(),
                            [] => continue,
                        }
                    }
                    Value::Null => continue,
                    other => {
                        return Err(format!(
                            "field `{name}`: expected a list of texts, found {} in it",
                            kind(&other)
                        ))
                    }
                };
                let item = normalize_text(&item);
                if !item.is_empty() {
                    out.push(item);
                }
            }
            Ok(out)
        }
        other => Err(format!(
            "field `{name}`: expected text or a list of texts, found {}",
            kind(&other)
        )),
    }
}

/// The name a list item given as an object holds: `name` (or `literal`),
/// else given and family names in the spellings of CSL-JSON (`given`,
/// `family`), Zotero (`firstName`, `lastName`) and others (`first`,
/// `last`), matched case-insensitively.
fn name_of_object(object: &Map<String, Value>) -> Option<String> {
    let field = |names: &[&str]| {
        object
            .iter()
            .find(|(k, _)| names.iter().any(|n| k.trim().eq_ignore_ascii_case(n)))
            .and_then(|(_, v)| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if let Some(name) = field(&["name", "literal", "full_name", "fullname", "display_name"]) {
        return Some(name.to_string());
    }
    // OpenAlex's authorships: `{"author": {"display_name": ...}, ...}`.
    if let Some(Value::Object(author)) = object
        .iter()
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("author"))
        .map(|(_, v)| v)
    {
        return name_of_object(author);
    }
    let given = field(&["given", "first", "firstname", "first_name", "forename"]);
    let family = field(&["family", "last", "lastname", "last_name", "surname"]);
    match (given, family) {
        (None, None) => None,
        (given, family) => Some(join_words(&[given.unwrap_or(""), family.unwrap_or("")])),
    }
}

/// Words joined by single spaces, empty ones left out.
fn join_words(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Splits an author list written as text.
///
/// With a `;` anywhere the list is split on `;` and on ` and ` / ` & `
/// ("Doe, Jane; Roe, Rick and Poe, Edgar").
/// Otherwise it is split on `,`, ` and ` and ` & ` ("A, B and C",
/// "A, B, and C"), so names written "Last, First" need `;` or a JSON list.
pub fn split_authors(text: &str) -> Vec<String> {
    let text = normalize_text(text);
    if is_one_inverted_name(&text) {
        return vec![text];
    }
    let and_parts = split_on_words(&text);
    let parts: Vec<String> = if text.contains(';') {
        text.split(';').flat_map(split_on_words).collect()
    } else if and_parts.len() > 1 && and_parts.iter().all(|p| p.matches(',').count() == 1) {
        // BibTeX's "Last, First and Last, First": each comma is inside a
        // name, as with semicolons.
        and_parts
    } else {
        text.split(',')
            .flat_map(|piece| {
                let piece = piece.trim();
                let piece = strip_prefix_ignore_case(piece, "and ").unwrap_or(piece);
                split_on_words(piece)
            })
            .collect()
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether `text` is one name written last name first (`Doe, Jane`,
/// `Doe, J. R.`), as Web of Science and reference managers write a single
/// author: one comma, one word of two or more letters before it, and one
/// to three given names or initials after it.
fn is_one_inverted_name(text: &str) -> bool {
    let Some((last, given)) = text.split_once(',') else {
        return false;
    };
    let given: Vec<&str> = given.split_whitespace().collect();
    let capitalised = |w: &str| w.chars().next().is_some_and(char::is_uppercase);
    !given.contains(&"and")
        && !text.contains([';', '&'])
        && last.split_whitespace().count() == 1
        && last.trim().chars().filter(|c| c.is_alphabetic()).count() >= 2
        && (1..=3).contains(&given.len())
        && given.iter().all(|w| capitalised(w))
}

/// Splits on the words ` and ` (any case) and ` & `.
fn split_on_words(piece: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for word in piece.split(' ') {
        if word.eq_ignore_ascii_case("and") || word == "&" {
            out.push(current.join(" "));
            current.clear();
        } else {
            current.push(word);
        }
    }
    out.push(current.join(" "));
    out
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Splits a category list written as text.
///
/// With a `;` it is split on `;`, else with a `,` on `,`. Text with neither
/// is split on spaces only when it reads like arXiv categories ("cs.LG
/// stat.ML", "hep-th gr-qc": lowercase archive names, optionally with a
/// `.Subject`); otherwise it is one category ("Machine Learning").
pub fn split_categories(text: &str) -> Vec<String> {
    let text = normalize_text(text);
    let parts: Vec<&str> = if text.contains(';') {
        text.split(';').collect()
    } else if text.contains(',') {
        text.split(',').collect()
    } else if looks_like_arxiv_categories(&text) {
        text.split(' ').collect()
    } else {
        vec![text.as_str()]
    };
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// "cs.LG stat.ML" or "hep-th gr-qc": several tokens, each an archive name
/// (lowercase letters and `-`) with an optional `.Subject`, at least one
/// with a `.` or `-`.
fn looks_like_arxiv_categories(text: &str) -> bool {
    let tokens: Vec<&str> = text.split(' ').collect();
    let is_category = |t: &str| {
        let (archive, subject) = t.split_once('.').unwrap_or((t, ""));
        !archive.is_empty()
            && archive.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            && subject.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
    };
    tokens.len() > 1
        && tokens.iter().all(|t| is_category(t))
        && tokens.iter().any(|t| t.contains(['.', '-']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn maps_known_fields_and_keeps_the_rest() {
        let paper = paper_from_fields(fields(json!({
            "ID": 42, "Title": "  A  title ", "summary": "Body\ntext.",
            "authors": ["A. One", {"name": "B. Two"}, null], "year": 2021,
            "categories": "cs.LG cs.AI", "link": "https://x", "venue": "NeurIPS",
            "doi": "10.1/x", "extra_null": null
        })))
        .unwrap();
        assert_eq!(paper.id, "42");
        assert_eq!(paper.title, "A title");
        assert_eq!(paper.abstract_text, "Body text.");
        assert_eq!(paper.authors, ["A. One", "B. Two"]);
        assert_eq!(paper.date.as_deref(), Some("2021"));
        assert_eq!(paper.categories, ["cs.LG", "cs.AI"]);
        assert_eq!(paper.url.as_deref(), Some("https://x"));
        assert_eq!(paper.extra.len(), 2);
        assert_eq!(paper.extra["venue"], "NeurIPS");
        assert_eq!(paper.extra["doi"], "10.1/x");
    }

    #[test]
    fn id_falls_back_to_doi_then_title() {
        let with_doi = paper_from_fields(fields(
            json!({"title": "T", "DOI": "https://doi.org/10.1/AB"}),
        ));
        assert_eq!(with_doi.unwrap().id, "10.1/ab");
        let bare = paper_from_fields(fields(json!({"title": "T", "id": " "}))).unwrap();
        assert_eq!(bare.id, title_id("T"));
        // Whole numbers are exact ids; fractions may have lost digits.
        let whole = paper_from_fields(fields(json!({"title": "T", "id": 42}))).unwrap();
        assert_eq!(whole.id, "42");
        let err = paper_from_fields(fields(json!({"title": "T", "id": 1501.10}))).unwrap_err();
        assert!(err.contains("1501.1") && err.contains("in quotes"), "{err}");
    }

    #[test]
    fn date_wins_over_year_which_is_kept() {
        let paper = paper_from_fields(fields(
            json!({"title": "T", "year": 2020, "date": "2020-05-01"}),
        ))
        .unwrap();
        assert_eq!(paper.date.as_deref(), Some("2020-05-01"));
        assert_eq!(paper.extra["year"], 2020);
        let float_year = paper_from_fields(fields(json!({"title": "T", "year": 2020.0}))).unwrap();
        assert_eq!(float_year.date.as_deref(), Some("2020"));
    }

    #[test]
    fn rejects_missing_title_and_wrong_types() {
        let missing = paper_from_fields(fields(json!({"abstract": "x"}))).unwrap_err();
        assert!(missing.contains("missing title"), "{missing}");
        let blank = paper_from_fields(fields(json!({"title": " \n"}))).unwrap_err();
        assert!(blank.contains("missing title"), "{blank}");
        let wrong = paper_from_fields(fields(json!({"title": "T", "authors": 3}))).unwrap_err();
        assert!(
            wrong.contains("`authors`") && wrong.contains("a number"),
            "{wrong}"
        );
        // Crossref's titles are lists of text: the first is the title.
        let listed = paper_from_fields(fields(json!({"title": ["", "T", "U"]}))).unwrap();
        assert_eq!(listed.title, "T");
        let wrong = paper_from_fields(fields(json!({"title": [1, 2]}))).unwrap_err();
        assert!(
            wrong.contains("`title`") && wrong.contains("a list"),
            "{wrong}"
        );
    }

    #[test]
    fn splits_author_lists() {
        assert_eq!(
            split_authors("A One, B Two and C Three"),
            ["A One", "B Two", "C Three"]
        );
        assert_eq!(split_authors("A, B, and C"), ["A", "B", "C"]);
        assert_eq!(
            split_authors("Doe, Jane; Roe, Rick"),
            ["Doe, Jane", "Roe, Rick"]
        );
        assert_eq!(split_authors("A & B"), ["A", "B"]);
        assert_eq!(
            split_authors("Smith, J. and Doe, A."),
            ["Smith, J.", "Doe, A."]
        );
        assert_eq!(
            split_authors("Smith, J.; Lee, A. and Wong, B."),
            ["Smith, J.", "Lee, A.", "Wong, B."]
        );
        assert_eq!(split_authors("Alexander Anderson"), ["Alexander Anderson"]);
        // One author, last name first.
        assert_eq!(split_authors("Doe, Jane"), ["Doe, Jane"]);
        assert_eq!(split_authors("Doe, J. R."), ["Doe, J. R."]);
        assert_eq!(split_authors("A, B"), ["A", "B"]);
        assert_eq!(
            split_authors("Ada Lovelace, Alan Turing"),
            ["Ada Lovelace", "Alan Turing"]
        );
        assert!(split_authors("  ").is_empty());
    }

    #[test]
    fn markup_and_character_references_are_removed_from_titles_and_abstracts() {
        let paper = paper_from_fields(fields(json!({
            "title": "<i>Deep</i> learning &amp; the <sup>13</sup>C &#8211; x &lt; y",
            "abstract": "<jats:title>Abstract</jats:title><jats:p>We show x < y > z &#x00e9;t&eacute;.</jats:p>"
        })))
        .unwrap();
        assert_eq!(paper.title, "Deep learning & the 13C – x < y");
        assert_eq!(paper.abstract_text, "We show x < y > z été.");
        // Publishers' copyright lines go; a heading word that is the text's
        // own stays.
        let paper = paper_from_fields(fields(json!({
            "title": "T",
            "abstract": "Abstract interpretation is sound. © 2021 Elsevier B.V. All rights reserved."
        })))
        .unwrap();
        assert_eq!(paper.abstract_text, "Abstract interpretation is sound.");
        assert_eq!(
            without_copyright("We cite © marks in the middle of a sentence"),
            "We cite © marks in the middle of a sentence"
        );
        assert_eq!(
            without_copyright("Results hold. Copyright (C) 2020 IEEE."),
            "Results hold."
        );
        assert_eq!(
            without_copyright("We study fair use. Copyright law is complex."),
            "We study fair use. Copyright law is complex."
        );
        assert_eq!(
            without_copyright("Results hold. Copyright © 2020 IEEE."),
            "Results hold."
        );
        assert_eq!(strip_markup("a <b>b</b> & c"), "a b & c");
        // Every named reference of HTML5; unknown names and a lone `&` stay.
        assert_eq!(
            strip_markup(
                "&alpha;&le;&beta; &Aacute;ngstr&ouml;m &CounterClockwiseContourIntegral;"
            ),
            "α≤β Ángström ∳"
        );
        assert_eq!(
            strip_markup("AT&T; R&D &notaname; &amp no semicolon; caf&eacute"),
            "AT&T; R&D &notaname; &amp no semicolon; caf&eacute"
        );
        assert_eq!(strip_markup("ü&uuml;&#xFC;&#252;"), "üüüü");
    }

    #[test]
    fn reads_author_objects_and_parsed_names() {
        let paper = paper_from_fields(fields(json!({
            "title": "T",
            "author": [
                {"family": "Doe", "given": "Jane"},
                {"firstName": "Rick", "lastName": "Roe"},
                {"last": "Poe"},
                {"literal": "The Consortium"}
            ]
        })))
        .unwrap();
        assert_eq!(
            paper.authors,
            ["Jane Doe", "Rick Roe", "Poe", "The Consortium"]
        );
        let parsed = paper_from_fields(fields(json!({
            "title": "T",
            "authors": [["Smith", "John", ""], ["Lee", "A.", "Jr."], ["Solo"]]
        })))
        .unwrap();
        assert_eq!(parsed.authors, ["John Smith", "A. Lee Jr.", "Solo"]);
        let zotero = paper_from_fields(fields(
            json!({"Title": "T", "Abstract Note": "Body.", "abstractNote": "other"}),
        ))
        .unwrap();
        assert_eq!(zotero.abstract_text, "Body.");
        let unknown =
            paper_from_fields(fields(json!({"title": "T", "authors": [{"id": 3}]}))).unwrap_err();
        assert!(unknown.contains("`given`/`family`"), "{unknown}");
    }

    #[test]
    fn reads_the_records_of_scholarly_apis() {
        // OpenAlex: the abstract as an inverted index, authors under
        // authorships, the date as publication_date.
        let openalex = paper_from_fields(fields(json!({
            "id": "https://openalex.org/W1", "title": "The state of OA",
            "abstract_inverted_index": {"access": [3], "Despite": [0], "open": [2, 4], "growing": [1]},
            "authorships": [{"author_position": "first", "author": {"display_name": "H. Piwowar"}}],
            "publication_year": 2018, "publication_date": "2018-02-13"
        })))
        .unwrap();
        assert_eq!(openalex.abstract_text, "Despite growing open access open");
        assert_eq!(openalex.authors, ["H. Piwowar"]);
        assert_eq!(openalex.date.as_deref(), Some("2018-02-13"));
        assert!(!openalex.extra.contains_key("abstract_inverted_index"));
        let bad = paper_from_fields(fields(
            json!({"title": "T", "abstract_inverted_index": {"word": ["first"]}}),
        ))
        .unwrap_err();
        assert!(bad.contains("abstract_inverted_index"), "{bad}");
        // An abstract given as text wins; the index stays an extra field.
        let both = paper_from_fields(fields(
            json!({"title": "T", "abstract": "Text.", "abstract_inverted_index": {"x": [0]}}),
        ))
        .unwrap();
        assert_eq!(both.abstract_text, "Text.");

        // Semantic Scholar: paperId, authors with names, publicationDate.
        let s2 = paper_from_fields(fields(json!({
            "paperId": "649def34f8be52c8b66281af98ae884c09aef38b", "title": "T",
            "authors": [{"authorId": "1", "name": "A. One"}], "year": 2020,
            "publicationDate": "2020-05-01"
        })))
        .unwrap();
        assert_eq!(s2.id, "649def34f8be52c8b66281af98ae884c09aef38b");
        assert_eq!(s2.date.as_deref(), Some("2020-05-01"));

        // CSL JSON (Zotero): the date from issued's date-parts.
        let issued = |parts: Value| {
            paper_from_fields(fields(
                json!({"title": "T", "issued": {"date-parts": parts}}),
            ))
            .unwrap()
            .date
        };
        assert_eq!(issued(json!([[2017, 6, 2]])).as_deref(), Some("2017-06-02"));
        assert_eq!(issued(json!([["2017", "6"]])).as_deref(), Some("2017-06"));
        assert_eq!(issued(json!([[2017]])).as_deref(), Some("2017"));
        assert_eq!(issued(json!([])), None);
        assert_eq!(issued(json!("2017")), None);
    }

    #[test]
    fn splits_category_lists() {
        assert_eq!(split_categories("cs.LG stat.ML"), ["cs.LG", "stat.ML"]);
        assert_eq!(split_categories("hep-th gr-qc"), ["hep-th", "gr-qc"]);
        assert_eq!(split_categories("Machine Learning"), ["Machine Learning"]);
        assert_eq!(split_categories("deep learning"), ["deep learning"]);
        assert_eq!(
            split_categories("ML, Vision; Robots"),
            ["ML, Vision", "Robots"]
        );
        assert_eq!(split_categories("ML, Vision"), ["ML", "Vision"]);
    }
}
