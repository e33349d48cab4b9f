//! Plain-text result tables that fit the terminal: rank, score, id, title,
//! with the title cut to the width that is left.

use std::io::{self, IsTerminal};

use relate::query::Answer;

/// Width to lay tables out for: the terminal's, else `COLUMNS`, else 100.
pub fn width() -> usize {
    if io::stdout().is_terminal() {
        if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size() {
            return w as usize;
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&w: &usize| w >= 40)
        .unwrap_or(100)
}

/// Cuts `text` to at most `max` characters, ending in `…` when cut.
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Renders an answer's results as a table.
pub fn render(answer: &Answer, width: usize) -> String {
    let id_width = answer
        .results
        .iter()
        .map(|r| r.id.chars().count())
        .max()
        .unwrap_or(2)
        .clamp(2, 24);
    let title_width = width.saturating_sub(4 + 1 + 6 + 1 + id_width + 1).max(20);
    let mut out = format!(
        "{:>4} {:>6} {:<id_width$} {}\n",
        "rank", "score", "id", "title"
    );
    for row in &answer.results {
        out.push_str(&format!(
            "{:>4} {:>6.3} {:<id_width$} {}\n",
            row.rank,
            row.score,
            fit(&row.id, id_width),
            fit(&row.title, title_width)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_long_text_with_ellipsis() {
        assert_eq!(fit("abcdef", 10), "abcdef");
        assert_eq!(fit("abcdefghijkl", 5), "abcd…");
        assert_eq!(fit("ééééé", 3), "éé…");
    }
}
