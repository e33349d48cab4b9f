//! The short lines of a digest page that say something about a paper
//! instead of being one: its arXiv id or DOI (`arXiv: 2303.01234`, an
//! abs/pdf or paper-page address, `doi:10.…`), its authors (`Authors: A,
//! B and C`), its categories (`Subjects: Machine Learning (cs.LG)`), a date (`2024-03-14`, `Published on Mar 14`) and counters
//! and credits that carry nothing to keep (`Upvote 23`, `12 comments`,
//! `Submitted by name`, `· 5 authors`). Pages saved from paper feeds put
//! such lines between a title and its abstract, or after the abstract;
//! taken for paragraphs of their own they would become titles. Also strips
//! a leading `Title:` or `Abstract:` label from the paragraphs it labels.

use super::normalize::month_number;
use super::paper_id::source_id;
use super::record::split_authors;

/// What a detail line says about its paper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Detail {
    /// The paper's arXiv id or DOI (canonical spelling), with the address
    /// it was given as, if any.
    Id {
        id: String,
        url: Option<String>,
    },
    Authors(Vec<String>),
    /// Category codes: `cs.LG` from `Subjects: Machine Learning (cs.LG)`.
    Categories(Vec<String>),
    Date(String),
    /// A counter or credit: nothing to keep.
    Noise,
}

/// Words that label the authors of a paper (followed by `:`).
const AUTHOR_LABELS: &[&str] = &["authors", "author", "by", "written by"];
/// Words that label an id (followed by `:` or a space).
const ID_LABELS: &[&str] = &["arxiv id", "arxiv", "doi", "paper", "pdf", "link", "url"];
/// Labels of notes that carry nothing to keep (arXiv listings' lines),
/// followed by `:`.
const NOTE_LABELS: &[&str] = &[
    "comments",
    "journal-ref",
    "journal ref",
    "report-no",
    "msc-class",
    "acm-class",
    "code",
    "project page",
];
/// Words of counters (`Upvote 23`, `12 comments`).
const COUNTED: &[&str] = &[
    "upvote",
    "upvotes",
    "like",
    "likes",
    "comment",
    "comments",
    "star",
    "stars",
    "citation",
    "citations",
    "view",
    "views",
    "download",
    "downloads",
    "author",
    "authors",
    "collection",
    "collections",
];
/// Longest detail line, in words: a title is not taken for one even when
/// it starts like one.
const MAX_CREDIT_WORDS: usize = 8;

/// What the whitespace-normalised line `text` says about its paper, or
/// `None` when it is not a detail line (a title, an abstract, page text).
pub(crate) fn detail(text: &str) -> Option<Detail> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if !text.chars().any(char::is_alphanumeric) {
        // "·", "|", "—": separators.
        return Some(Detail::Noise);
    }
    if let Some(names) = after_label(text, AUTHOR_LABELS, false) {
        let authors = split_authors(names);
        return (!authors.is_empty()).then_some(Detail::Authors(authors));
    }
    if let Some(subjects) = after_label(text, &["subjects", "subject"], false) {
        return Some(Detail::Categories(category_codes(subjects)));
    }
    if after_label(text, NOTE_LABELS, false).is_some() {
        return Some(Detail::Noise);
    }
    if let Some(found) = id_detail(text) {
        return Some(found);
    }
    if let Some(date) = date_detail(text) {
        return Some(Detail::Date(date));
    }
    is_counter_or_credit(text).then_some(Detail::Noise)
}

/// `text` without a leading `label` (any case) and the `:` after it, when
/// it has one of `labels`; with `or_space`, a space may stand for the
/// colon.
fn after_label<'t>(text: &'t str, labels: &[&str], or_space: bool) -> Option<&'t str> {
    labels.iter().find_map(|label| {
        let head = text.get(..label.len())?;
        if !head.eq_ignore_ascii_case(label) {
            return None;
        }
        let rest = &text[label.len()..];
        let rest = match rest.trim_start().strip_prefix(':') {
            Some(after) => after,
            None if or_space && rest.starts_with(' ') => rest,
            None => return None,
        };
        let rest = rest.trim();
        (!rest.is_empty()).then_some(rest)
    })
}

/// The codes in parentheses of an arXiv listing's subjects
/// (`Machine Learning (cs.LG); Optimization (math.OC)`).
fn category_codes(subjects: &str) -> Vec<String> {
    subjects
        .split('(')
        .skip(1)
        .filter_map(|part| part.split_once(')'))
        .map(|(code, _)| code.trim().to_string())
        .filter(|code| !code.is_empty() && !code.contains(' '))
        .collect()
}

/// An id line: an arXiv id or DOI alone, labelled or written as an address
/// (arXiv's, doi.org's, or a paper page's that ends in an arXiv id).
fn id_detail(text: &str) -> Option<Detail> {
    let text = listing_entry(text);
    let value = after_label(text, ID_LABELS, true).unwrap_or(text);
    if value.contains(' ') {
        return None;
    }
    let url = value.contains("://").then(|| value.to_string());
    let id = source_id(value).or_else(|| {
        // A paper page's address: https://huggingface.co/papers/2303.01234.
        let last = value.trim_end_matches('/').rsplit('/').next()?;
        url.as_ref()?;
        source_id(last).filter(|id| !id.starts_with("10."))
    })?;
    Some(Detail::Id { id, url })
}

/// An arXiv listing's entry line without its number and links:
/// `[1] arXiv:2303.01234 [pdf, other]` gives `arXiv:2303.01234`.
fn listing_entry(text: &str) -> &str {
    let mut rest = text.trim();
    if let Some(after) = rest.strip_prefix('[') {
        if let Some((number, tail)) = after.split_once(']') {
            if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
                rest = tail.trim_start();
            }
        }
    }
    while let Some(head) = rest
        .strip_suffix(']')
        .and_then(|r| r.rfind('[').map(|at| r[..at].trim_end()))
        .or_else(|| {
            rest.strip_suffix(')')
                .and_then(|r| r.rfind('(').map(|at| r[..at].trim_end()))
        })
    {
        if head.is_empty() {
            break;
        }
        rest = head;
    }
    rest
}

/// A date line: `2024-03-14` alone, or `Published on` / `Submitted on`
/// and a date; the date as written.
fn date_detail(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let date = ["published on ", "submitted on ", "published ", "posted on "]
        .iter()
        .find_map(|label| lower.starts_with(label).then(|| &text[label.len()..]))
        .unwrap_or(text)
        .trim();
    let iso = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let words: Vec<&str> = date.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let spelled = (2..=3).contains(&words.len())
        && words.iter().any(|w| month_number(w).is_some())
        && words
            .iter()
            .all(|w| month_number(w).is_some() || w.bytes().all(|b| b.is_ascii_digit()));
    let labelled = date.len() != text.len();
    (iso || (labelled && spelled)).then(|| date.to_string())
}

/// `Upvote 23`, `23 upvotes`, `1.2k`, `· 5 authors`, `Submitted by name`.
fn is_counter_or_credit(text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == ':' || c == '·' || c == '|')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() || words.len() > MAX_CREDIT_WORDS {
        return false;
    }
    let number = |w: &str| {
        let w = w.trim_end_matches(['k', 'm']);
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_digit() || b == b',' || b == b'.')
    };
    match words.as_slice() {
        [n] => number(n),
        [a, b] => {
            (COUNTED.contains(&a.as_str()) && number(b))
                || (number(a) && COUNTED.contains(&b.as_str()))
        }
        [first, by, _, ..] => {
            ["submitted", "posted", "shared", "recommended"].contains(&first.as_str()) && by == "by"
        }
        _ => false,
    }
}

/// `text` without a leading `Title:` label (any case).
pub(crate) fn without_title_label(text: &str) -> &str {
    after_label(text, &["title"], false).unwrap_or(text)
}

/// `text` without a leading `Abstract:` label (any case).
pub(crate) fn without_abstract_label(text: &str) -> &str {
    after_label(text, &["abstract"], false).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(id: &str, url: Option<&str>) -> Option<Detail> {
        Some(Detail::Id {
            id: id.into(),
            url: url.map(Into::into),
        })
    }

    #[test]
    fn ids_in_their_usual_spellings() {
        assert_eq!(detail("arXiv: 2303.01234"), id("2303.01234", None));
        assert_eq!(detail("arXiv:2303.01234v2"), id("2303.01234", None));
        assert_eq!(detail("2303.01234"), id("2303.01234", None));
        assert_eq!(
            detail("[12] arXiv:2303.01234 [pdf, html, other]"),
            id("2303.01234", None)
        );
        assert_eq!(
            detail("arXiv:2303.01234 (replaced)"),
            id("2303.01234", None)
        );
        let abs = "https://arxiv.org/abs/2303.01234v1";
        assert_eq!(detail(abs), id("2303.01234", Some(abs)));
        let page = "https://huggingface.co/papers/2303.01234";
        assert_eq!(detail(page), id("2303.01234", Some(page)));
        assert_eq!(
            detail("DOI: 10.1145/3292500.3330701"),
            id("10.1145/3292500.3330701", None)
        );
        assert_eq!(detail("https://example.org/about"), None);
        assert_eq!(detail("arXiv in the Wild"), None);
    }

    #[test]
    fn authors_dates_and_counters() {
        assert_eq!(
            detail("Authors: Jane Doe, John Smith and Ann Lee"),
            Some(Detail::Authors(vec![
                "Jane Doe".into(),
                "John Smith".into(),
                "Ann Lee".into()
            ]))
        );
        assert_eq!(
            detail("2024-03-14"),
            Some(Detail::Date("2024-03-14".into()))
        );
        assert_eq!(
            detail("Published on Mar 14, 2024"),
            Some(Detail::Date("Mar 14, 2024".into()))
        );
        for noise in [
            "Upvote 23",
            "23 upvotes",
            "1.2k",
            "· 5 authors",
            "Submitted by akhaliq",
            "·",
            "Comments: 12 pages, 5 figures",
        ] {
            assert_eq!(detail(noise), Some(Detail::Noise), "{noise}");
        }
    }

    #[test]
    fn titles_are_not_details() {
        for title in [
            "Authors and Their Papers: A Survey",
            "Published Results Are Often Wrong",
            "Submitted by Reviewers: Peer Review at Scale in Machine Learning Conferences Today",
            "BERT",
            "Stars in the Milky Way",
            "2 Views of Attention",
            "Paper: A Tool for Paper Recommendation",
        ] {
            assert_eq!(detail(title), None, "{title}");
        }
        assert_eq!(without_title_label("Title: Attention"), "Attention");
        assert_eq!(
            without_abstract_label("Abstract: We study x."),
            "We study x."
        );
        assert_eq!(without_abstract_label("Abstracts of x"), "Abstracts of x");
    }
}
