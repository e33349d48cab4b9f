//! Maps records of the arXiv metadata snapshot (JSON lines with `id`,
//! `title`, `abstract`, `authors`, `authors_parsed`, `categories`,
//! `update_date`, `versions`, `doi`, …) to papers. The arXiv id becomes the
//! paper id and gives the abstract page as url; `update_date` becomes the
//! date; the space-separated `categories` become a list; authors come from
//! `authors_parsed` ("Last, First, Suffix" triples, which survive commas in
//! affiliations) when it is there, else from splitting `authors`. Every other
//! field (`submitter`, `comments`, `journal-ref`, `doi`, `versions`, …) is
//! kept in [`Paper::extra`]; `authors_parsed` is not, as it repeats the
//! authors. Titles, abstracts and authors are LaTeX in part: accents and
//! escaped specials become plain letters, math stays as written.

use serde_json::{Map, Value};

use super::latex::latex_to_text_keeping_tildes;
use super::paper_id::TITLE_ID_PREFIX;
use super::record::paper_from_fields;
use super::Paper;

/// Builds a paper from one arXiv snapshot record.
pub(crate) fn paper_from_arxiv(mut fields: Map<String, Value>) -> Result<Paper, String> {
    if let Some(Value::String(categories)) = fields.get("categories") {
        let list = categories
            .split_whitespace()
            .map(|c| Value::String(c.to_string()))
            .collect();
        fields.insert("categories".to_string(), Value::Array(list));
    }
    if let Some(parsed) = fields.remove("authors_parsed") {
        if let Some(names) = names_from_parsed(&parsed).filter(|n| !n.is_empty()) {
            fields.insert("authors".to_string(), Value::Array(names));
        }
    }
    if !fields.contains_key("date") {
        if let Some(date) = fields.remove("update_date") {
            fields.insert("date".to_string(), date);
        }
    }
    for name in ["title", "abstract", "authors"] {
        if let Some(value) = fields.get_mut(name) {
            decode_latex(value);
        }
    }
    let mut paper = paper_from_fields(fields)?;
    if paper.url.is_none() && !paper.id.starts_with(TITLE_ID_PREFIX) && !paper.id.starts_with("10.")
    {
        paper.url = Some(format!("https://arxiv.org/abs/{}", paper.id));
    }
    Ok(paper)
}

/// Accents, escaped specials and text formatting written in LaTeX
/// (`Schr\"odinger`, `Erd\H{o}s`, `\&`, `\emph{…}`) as plain text, in a
/// text or a list of texts; math stays as written.
fn decode_latex(value: &mut Value) {
    match value {
        Value::String(text) => *text = latex_to_text_keeping_tildes(text),
        Value::Array(items) => items.iter_mut().for_each(decode_latex),
        _ => {}
    }
}

/// `[["Last", "First", "Suffix"], …]` → `["First Last Suffix", …]`; `None`
/// when the value does not have that shape.
fn names_from_parsed(parsed: &Value) -> Option<Vec<Value>> {
    let mut names = Vec::new();
    for author in parsed.as_array()? {
        let parts: Vec<&str> = author
            .as_array()?
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()?;
        let (last, rest) = parts.split_first()?;
        let mut words: Vec<&str> = Vec::new();
        if let Some(&first) = rest.first() {
            words.push(first);
        }
        words.push(*last);
        words.extend(rest.iter().skip(1));
        let name = words
            .iter()
            .map(|w| w.trim())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !name.is_empty() {
            names.push(Value::String(name));
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_a_snapshot_record() {
        let record = json!({
            "id": "0704.0001", "submitter": "Pavel Nadolsky",
            "authors": "C. Bal\u{e1}zs, E. L. Berger (ANL), P. M. Nadolsky",
            "title": "Calculation of prompt diphoton production\n  cross sections",
            "abstract": "  A fully differential calculation.\n", "categories": "hep-ph math.CO",
            "doi": "10.1103/PhysRevD.76.013009", "update_date": "2008-11-13",
            "versions": [{"version": "v1"}],
            "authors_parsed": [["Bal\u{e1}zs", "C.", ""], ["Berger", "E. L.", ""], ["Nadolsky", "P. M.", "Jr"]]
        });
        let Value::Object(record) = record else {
            unreachable!()
        };
        let paper = paper_from_arxiv(record).unwrap();
        assert_eq!(paper.id, "0704.0001");
        assert_eq!(
            paper.title,
            "Calculation of prompt diphoton production cross sections"
        );
        assert_eq!(paper.abstract_text, "A fully differential calculation.");
        assert_eq!(
            paper.authors,
            ["C. Bal\u{e1}zs", "E. L. Berger", "P. M. Nadolsky Jr"]
        );
        assert_eq!(paper.categories, ["hep-ph", "math.CO"]);
        assert_eq!(paper.date.as_deref(), Some("2008-11-13"));
        assert_eq!(
            paper.url.as_deref(),
            Some("https://arxiv.org/abs/0704.0001")
        );
        assert!(paper.extra.contains_key("doi") && paper.extra.contains_key("versions"));
        assert!(!paper.extra.contains_key("authors_parsed"));
    }

    #[test]
    fn latex_accents_become_letters_and_math_stays() {
        let Value::Object(record) = json!({"id": "2101.00001",
            "title": "On the Schr\\\"odinger equation at ~1 K",
            "abstract": "We extend Erd\\H{o}s--R\\'enyi graphs to $\\mathcal{O}(n)$ \\emph{edges}.",
            "authors_parsed": [["Erd\\H{o}s", "P.", ""], ["G{\\\"o}del", "K.", ""]]})
        else {
            unreachable!()
        };
        let paper = paper_from_arxiv(record).unwrap();
        assert_eq!(paper.title, "On the Schrödinger equation at ~1 K");
        assert_eq!(
            paper.abstract_text,
            "We extend Erdős–Rényi graphs to $\\mathcal{O}(n)$ edges."
        );
        assert_eq!(paper.authors, ["P. Erdős", "K. Gödel"]);
    }

    #[test]
    fn falls_back_to_the_authors_text() {
        let Value::Object(record) = json!({"id": "1", "title": "T", "authors": "A, B and C",
            "authors_parsed": "not a list"})
        else {
            unreachable!()
        };
        assert_eq!(paper_from_arxiv(record).unwrap().authors, ["A", "B", "C"]);
    }
}
