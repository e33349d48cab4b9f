//! The [`Paper`] record and how a paper becomes the one text that is embedded.

use serde::{Deserialize, Serialize};

/// One research paper as `relate` knows it. Only `id` and `title` are
/// required; everything a source carries beyond the known fields is kept in
/// `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Paper {
    /// Stable identifier: the source's own (arXiv id, DOI, BibTeX key, `id`
    /// field) when there is one, else one derived from the normalised title.
    pub id: String,
    pub title: String,
    /// The abstract; empty for title-only papers.
    #[serde(rename = "abstract", default)]
    pub abstract_text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// Publication or update date as the source gives it (often `YYYY` or `YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Fields of the source record that `relate` does not interpret.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Paper {
    /// The text that is embedded for this paper; see [`compose_text`].
    pub fn embedding_text(&self) -> String {
        compose_text(&self.title, &self.abstract_text)
    }
}

/// Composes the text embedded for a paper from its title and abstract.
///
/// Both parts are trimmed. When both are present they are joined as
/// `"{title}. {abstract}"`, except that no period is added when the title
/// already ends in `.`, `?` or `!` (then `"{title} {abstract}"`). When one
/// part is empty the other is used alone.
pub fn compose_text(title: &str, abstract_text: &str) -> String {
    let title = title.trim();
    let abstract_text = abstract_text.trim();
    match (title.is_empty(), abstract_text.is_empty()) {
        (true, _) => abstract_text.to_string(),
        (false, true) => title.to_string(),
        (false, false) => {
            if title.ends_with(['.', '?', '!']) {
                format!("{title} {abstract_text}")
            } else {
                format!("{title}. {abstract_text}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_title_and_abstract_with_one_period() {
        assert_eq!(compose_text("A title", "Body."), "A title. Body.");
        assert_eq!(compose_text("Why? ", " Body."), "Why? Body.");
        assert_eq!(compose_text("", "Only body"), "Only body");
        assert_eq!(compose_text("Only title", "  "), "Only title");
        assert_eq!(compose_text(" ", ""), "");
    }
}
