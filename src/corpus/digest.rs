//! Reads a daily-papers digest page saved as text: paragraphs separated by
//! blank lines, first some page chrome ("Subscribe", a date, …), then each
//! paper as a title paragraph followed by its abstract paragraph.
//!
//! Where the papers begin is found from the shape of the paragraphs, not
//! from a fixed amount of chrome: an abstract is a long paragraph (at least
//! [`ABSTRACT_MIN_CHARS`] characters, or a sentence of at least
//! [`SHORT_ABSTRACT_MIN_WORDS`] words ending in a period) and a title is a
//! short one. The first title is the short paragraph just before the first
//! abstract; everything before it is chrome and skipped. From there on:
//!
//! - a short paragraph followed by an abstract is a paper;
//! - a short paragraph followed by another short one that is itself followed
//!   by an abstract is a title-only paper (the second one is the next title);
//! - otherwise two short paragraphs in a row are a title and a short abstract;
//! - a long paragraph with no title before it is rejected;
//! - a date heading ("Mar 13", "March 13, 2024") is chrome and skipped;
//! - short paragraphs after the last abstract are not taken as papers (they
//!   cannot be told from a page footer) and each is reported as rejected.
//!
//! A page with no long paragraph at all is read as plain title/abstract
//! pairs from its first paragraph, with a warning. Paragraph text is only
//! whitespace-normalised, so abstracts stay as the page has them.

use super::event::{Problem, ReadEvent};
use super::normalize::{month_number, normalize_text};
use super::paper_id::title_id;
use super::Paper;

/// A paragraph at least this long (in characters) is an abstract.
pub const ABSTRACT_MIN_CHARS: usize = 300;
/// A shorter paragraph is an abstract when it has at least this many words
/// and ends with a period.
pub const SHORT_ABSTRACT_MIN_WORDS: usize = 20;

/// One paragraph: its normalised text and the 1-based line it starts on.
struct Paragraph {
    text: String,
    line: usize,
    long: bool,
}

/// Reads a whole digest page (already checked to be UTF-8, BOM removed).
pub(crate) fn read_digest(text: &str, path: &str) -> Vec<ReadEvent> {
    let paragraphs: Vec<Paragraph> = split_paragraphs(text)
        .into_iter()
        .filter(|p| !is_date_heading(&p.text))
        .collect();
    let mut events = Vec::new();
    let Some(first) = paragraphs.first() else {
        return events;
    };
    let (start, end) = match (
        paragraphs.iter().position(|p| p.long),
        paragraphs.iter().rposition(|p| p.long),
    ) {
        (Some(first_long), Some(last_long)) => (first_long.saturating_sub(1), last_long + 1),
        _ => {
            events.push(ReadEvent::Warning(Problem::new(
                path,
                first.line,
                "no paragraph is long enough to be an abstract, so the page was read as \
                 title/abstract pairs from its first paragraph; check that no page text was \
                 taken as a paper",
            )));
            (0, paragraphs.len())
        }
    };
    let mut i = start;
    while i < end {
        let title = &paragraphs[i];
        if title.long {
            events.push(ReadEvent::Rejected(Problem::new(
                path,
                title.line,
                "this paragraph looks like an abstract but no title comes before it; skipped",
            )));
            i += 1;
            continue;
        }
        let next = paragraphs.get(i + 1).filter(|_| i + 1 < end);
        let next_is_title = match next {
            None => true,
            Some(next) => {
                !next.long
                    && paragraphs
                        .get(i + 2)
                        .is_some_and(|after| after.long && i + 2 < end)
            }
        };
        let abstract_text = if next_is_title {
            i += 1;
            String::new()
        } else {
            i += 2;
            next.map_or_else(String::new, |p| p.text.clone())
        };
        events.push(ReadEvent::Paper {
            paper: Paper {
                id: title_id(&title.text),
                title: title.text.clone(),
                abstract_text,
                ..Paper::default()
            },
            line: title.line,
        });
    }
    for trailing in &paragraphs[end..] {
        events.push(ReadEvent::Rejected(Problem::new(
            path,
            trailing.line,
            format!(
                "\"{}\" comes after the last abstract and was taken for page text, not a paper",
                trailing.text
            ),
        )));
    }
    events
}

/// Splits text into paragraphs at blank lines.
fn split_paragraphs(text: &str) -> Vec<Paragraph> {
    let mut paragraphs = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            if let Some((start, raw)) = current.take() {
                paragraphs.push(paragraph(start, &raw));
            }
            continue;
        }
        match &mut current {
            Some((_, raw)) => {
                raw.push('\n');
                raw.push_str(line);
            }
            None => current = Some((index + 1, line.to_string())),
        }
    }
    if let Some((start, raw)) = current {
        paragraphs.push(paragraph(start, &raw));
    }
    paragraphs
}

fn paragraph(line: usize, raw: &str) -> Paragraph {
    let text = normalize_text(raw);
    let long = text.chars().count() >= ABSTRACT_MIN_CHARS
        || (text.ends_with('.') && text.split(' ').count() >= SHORT_ABSTRACT_MIN_WORDS);
    Paragraph { text, line, long }
}

/// "Mar 14", "March 14", "Mar 14, 2024": a date heading of the page.
fn is_date_heading(text: &str) -> bool {
    let words: Vec<&str> = text.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let [month, numbers @ ..] = words.as_slice() else {
        return false;
    };
    month_number(month).is_some()
        && (1..=2).contains(&numbers.len())
        && numbers
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long(n: usize) -> String {
        format!("{}.", vec!["word"; n].join(" "))
    }

    fn papers(events: &[ReadEvent]) -> Vec<(String, String, usize)> {
        events
            .iter()
            .filter_map(|e| match e {
                ReadEvent::Paper { paper, line } => {
                    Some((paper.title.clone(), paper.abstract_text.clone(), *line))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn skips_any_amount_of_chrome_before_the_first_title() {
        let text = format!(
            "Menu\n\nLog in\n\nSubscribe\n\nFirst\n\n{}\n\nSecond\ntitle\n\n{}\n",
            long(80),
            long(30)
        );
        let events = read_digest(&text, "d.txt");
        assert_eq!(
            papers(&events),
            [
                ("First".to_string(), long(80), 7),
                ("Second title".to_string(), long(30), 11)
            ]
        );
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn title_only_papers_and_date_headings_do_not_misalign() {
        let text = format!(
            "Mar 14\n\nA\n\n{a}\n\nB\n\nMarch 13, 2024\n\nC\n\n{a}\n\nD\n\nShort abstract of D.\n\nE\n\n{a}\n",
            a = long(60)
        );
        let got: Vec<(String, String)> = papers(&read_digest(&text, "d.txt"))
            .into_iter()
            .map(|(t, a, _)| (t, a))
            .collect();
        let want = [
            ("A", long(60)),
            ("B", String::new()),
            ("C", long(60)),
            ("D", "Short abstract of D.".to_string()),
            ("E", long(60)),
        ];
        let want: Vec<(String, String)> =
            want.into_iter().map(|(t, a)| (t.to_string(), a)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn reports_orphan_abstracts_and_trailing_text() {
        let text = format!("{a}\n\nT\n\n{a}\n\nAbout\n\nPrivacy\n", a = long(60));
        let events = read_digest(&text, "d.txt");
        let rejected: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                ReadEvent::Rejected(p) => Some(p.line),
                _ => None,
            })
            .collect();
        assert_eq!(rejected, [1, 7, 9]);
        assert_eq!(papers(&events).len(), 1);
    }

    #[test]
    fn pages_without_long_paragraphs_are_read_as_pairs_with_a_warning() {
        let events = read_digest("T1\n\nA1\n\nT2\n\nA2\n", "d.txt");
        assert!(matches!(&events[0], ReadEvent::Warning(p) if p.line == 1));
        let got = papers(&events);
        assert_eq!(got.len(), 2);
        assert_eq!((got[1].0.as_str(), got[1].1.as_str()), ("T2", "A2"));
    }

    #[test]
    fn recognises_date_headings_only() {
        assert!(is_date_heading("Mar 14"));
        assert!(is_date_heading("September 3, 2024"));
        assert!(!is_date_heading("May the Force Be With You"));
        assert!(!is_date_heading("Marching 14"));
        assert!(!is_date_heading("Subscribe"));
    }
}
