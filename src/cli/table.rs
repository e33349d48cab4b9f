//! Plain-text result tables that fit the terminal: rank, score, id, title
//! (and topic, when known; the BM25 rank, for hybrid results), with the
//! title cut to the width that is left.

use std::io::{self, IsTerminal};

use relate::query::{Answer, ResultRow};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

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

/// How many terminal columns `text` takes (a CJK character takes two, a
/// combining mark none).
pub fn columns(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Cuts `text` to at most `max` terminal columns, ending in `…` when cut.
pub fn fit(text: &str, max: usize) -> String {
    if columns(text) <= max {
        return text.to_string();
    }
    let room = max.saturating_sub(1);
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > room {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `text` followed by spaces up to `width` terminal columns (`format!`'s
/// padding counts characters, which misaligns wide characters).
fn pad(text: &str, width: usize) -> String {
    let mut out = text.to_string();
    out.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(columns(text)),
    ));
    out
}

/// Width of the column of BM25 ranks (`#12`, or `-` when the words did
/// not match) in a table of hybrid results.
const WORDS_WIDTH: usize = 5;

/// Widest topic column in a result table.
const MAX_TOPIC_WIDTH: usize = 24;

/// A column shown right of the title: a header and one cell per row.
pub struct SideColumn<'a> {
    pub header: &'a str,
    pub cells: Vec<String>,
    /// Widest the column may get.
    pub max_width: usize,
}

/// Renders an answer's results as a table, with a topic column when the
/// results carry topics.
pub fn render(answer: &Answer, width: usize) -> String {
    let rows: Vec<&ResultRow> = answer.results.iter().collect();
    let side = answer
        .results
        .iter()
        .any(|r| r.topic.is_some())
        .then(|| SideColumn {
            header: "topic",
            cells: answer
                .results
                .iter()
                .map(|r| r.topic.as_ref().map_or(String::new(), |t| t.label.clone()))
                .collect(),
            max_width: MAX_TOPIC_WIDTH,
        });
    render_rows(&rows, side, width)
}

/// Renders result rows as a table of rank, score, id and title, with an
/// optional column after the title that takes at most two fifths of the
/// room the title and it share.
pub fn render_rows(rows: &[&ResultRow], side: Option<SideColumn>, width: usize) -> String {
    let id_width = rows
        .iter()
        .map(|r| columns(&r.id))
        .max()
        .unwrap_or(2)
        .clamp(2, 24);
    // Hybrid results are ordered by a fusion of the cosine's rank with the
    // BM25 rank over titles and abstracts: both are shown, so that the
    // order can be read (a cosine alone looks out of order).
    let hybrid = rows.iter().any(|r| r.fused.is_some());
    let words_width = if hybrid { WORDS_WIDTH + 1 } else { 0 };
    // Room left after rank, score (and words) and id.
    let rest = width.saturating_sub(4 + 1 + 6 + 1 + words_width + id_width + 1);
    let side_width = side.as_ref().map(|side| {
        side.cells
            .iter()
            .map(|c| columns(c))
            .max()
            .unwrap_or(0)
            .clamp(5, side.max_width.max(5))
            .min((rest * 2 / 5).max(5))
    });
    let title_width = match side_width {
        Some(sw) => rest.saturating_sub(sw + 2).max(10),
        None => rest.max(20),
    };
    let mut out = format!(
        "{:>4} {:>6} ",
        "rank",
        if hybrid { "cosine" } else { "score" }
    );
    if hybrid {
        out.push_str(&format!("{:>WORDS_WIDTH$} ", "words"));
    }
    out.push_str(&format!("{:<id_width$} ", "id"));
    match &side {
        Some(side) => out.push_str(&format!("{:<title_width$}  {}\n", "title", side.header)),
        None => out.push_str("title\n"),
    }
    for (i, row) in rows.iter().enumerate() {
        out.push_str(&format!("{:>4} {:>6.3} ", row.rank, row.score));
        if hybrid {
            let words = row.lexical_rank.map_or("-".into(), |r| format!("#{r}"));
            out.push_str(&format!("{words:>WORDS_WIDTH$} "));
        }
        out.push_str(&pad(&fit(&row.id, id_width), id_width));
        out.push(' ');
        match (&side, side_width) {
            (Some(side), Some(sw)) => {
                let cell = side.cells.get(i).map_or("", String::as_str);
                out.push_str(
                    format!(
                        "{}  {}",
                        pad(&fit(&row.title, title_width), title_width),
                        fit(cell, sw)
                    )
                    .trim_end(),
                );
            }
            _ => out.push_str(&fit(&row.title, title_width)),
        }
        out.push('\n');
        if !row.copies.is_empty() {
            // The paper's other ids, under its id.
            let indent = 4 + 1 + 6 + 1 + words_width;
            let also = format!("also {}", row.copies.join(", "));
            out.push_str(&format!(
                "{:indent$}{}\n",
                "",
                fit(&also, width.saturating_sub(indent).max(20))
            ));
        }
    }
    out
}

/// One line listing a paper: score, id and title, indented by `indent`,
/// the title cut to what is left of `width`.
pub fn paper_line(
    indent: usize,
    score: f32,
    id: &str,
    id_width: usize,
    title: &str,
    width: usize,
) -> String {
    let title_width = width.saturating_sub(indent + 6 + 1 + id_width + 1).max(20);
    format!(
        "{:indent$}{:>6.3} {} {}",
        "",
        score,
        pad(&fit(id, id_width), id_width),
        fit(title, title_width)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_long_text_with_ellipsis() {
        assert_eq!(fit("abcdef", 10), "abcdef");
        assert_eq!(fit("abcdefghijkl", 5), "abcd…");
        assert_eq!(fit("ééééé", 3), "éé…");
        // Wide characters take two columns each.
        assert_eq!(fit("深度学习模型", 7), "深度学…");
        assert_eq!(columns(&fit("深度学习模型", 6)), 5);
        assert_eq!(pad("深度", 6), "深度  ");
    }

    fn answer(topic: Option<&str>) -> Answer {
        use relate::library_topics::TopicTag;
        use relate::query::QueryInfo;
        Answer {
            query: QueryInfo {
                kind: "search",
                input: "q".into(),
                id: None,
                title: None,
                matched_by: None,
                method: "exact",
                rank: "dense",
                k: 1,
            },
            results: vec![ResultRow {
                rank: 1,
                id: "2401.00001".into(),
                title: "A rather long title about differentially private federated optimisation"
                    .into(),
                score: 0.5,
                lexical_rank: None,
                fused: None,
                authors: Vec::new(),
                date: None,
                url: None,
                topic: topic.map(|label| TopicTag {
                    id: Some(0),
                    label: label.into(),
                    subtopic: None,
                    sublabel: None,
                }),
                copies: Vec::new(),
            }],
        }
    }

    #[test]
    fn hybrid_results_show_the_cosine_and_the_words_rank_they_were_fused_from() {
        let mut hybrid = answer(None);
        let mut second = hybrid.results[0].clone();
        hybrid.results[0].fused = Some(0.032);
        hybrid.results[0].lexical_rank = Some(1);
        second.rank = 2;
        second.id = "2401.00002".into();
        second.score = 0.61;
        second.fused = Some(0.016);
        hybrid.results.push(second);
        let table = render(&hybrid, 80);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("rank cosine words id"), "{table}");
        assert!(lines[1].contains("0.500    #1 2401.00001"), "{table}");
        assert!(lines[2].contains("0.610     - 2401.00002"), "{table}");
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{table}");
        assert!(!render(&answer(None), 80).contains("words"));
    }

    #[test]
    fn copies_of_a_paper_are_named_under_its_row() {
        let mut answer = answer(None);
        let mut second = answer.results[0].clone();
        second.rank = 2;
        second.id = "2401.00002".into();
        answer.results[0].copies = vec!["title:0123456789abcdef".into(), "10.1/x".into()];
        answer.results.push(second);
        let table = render(&answer, 80);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[1].contains("2401.00001"), "{table}");
        assert_eq!(
            lines[2], "            also title:0123456789abcdef, 10.1/x",
            "{table}"
        );
        assert!(lines[3].contains("2401.00002"), "{table}");
    }

    #[test]
    fn topic_column_appears_only_with_topics_and_fits_the_width() {
        let plain = render(&answer(None), 80);
        assert!(!plain.contains("topic"), "{plain}");
        let with = render(&answer(Some("privacy, federated, clients, budget")), 80);
        let lines: Vec<&str> = with.lines().collect();
        assert!(lines[0].ends_with("topic"), "{with}");
        assert!(lines[1].contains("privacy"), "{with}");
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{with}");
    }
}
