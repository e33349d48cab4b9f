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
//! whitespace-normalised (and a leading `Title:` or `Abstract:` label
//! removed), so abstracts stay as the page has them.
//!
//! Lines that say something about a paper instead of being one (an arXiv
//! id, `Authors: …`, a date, `Upvote 23`; see [`super::digest_detail`])
//! are set aside, whether they are paragraphs of their own or the lines of
//! a paragraph made only of such lines (an arXiv listing's `Title:`,
//! `Authors:`, `Comments:` block). One between a title and its abstract
//! belongs to that paper; one between a paper and the next belongs to the
//! next paper when that kind of line also comes before the first title,
//! otherwise to the paper before it. Ids, authors and dates are kept;
//! counters and credits are dropped.

use super::digest_detail::{detail, without_abstract_label, without_title_label, Detail};
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
    let mut paragraphs: Vec<Paragraph> = Vec::new();
    // Each detail line with the number of paragraphs before it.
    let mut details: Vec<(usize, Detail)> = Vec::new();
    for piece in split_paragraphs(text) {
        match piece {
            Piece::Text(p) if is_date_heading(&p.text) => {}
            Piece::Text(p) => paragraphs.push(p),
            Piece::Detail(d) => details.push((paragraphs.len(), d)),
        }
    }
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
    let mut placed = Vec::new();
    let mut i = start;
    while i < end {
        let title_index = i;
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
        placed.push(Placed {
            event: events.len(),
            title: title_index,
            end: i,
        });
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
    attach_details(&mut events, &placed, details, start);
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

/// Where a paper read from the page sits among its paragraphs.
struct Placed {
    /// Index of its event.
    event: usize,
    /// Index of its title paragraph.
    title: usize,
    /// Index just past its last paragraph.
    end: usize,
}

/// Gives each paper the ids, authors and dates of the detail lines that
/// belong to it (see the module's notes); `start` is the first title's
/// index. A paper keeps the first of each.
fn attach_details(
    events: &mut [ReadEvent],
    placed: &[Placed],
    details: Vec<(usize, Detail)>,
    start: usize,
) {
    let kind = |d: &Detail| std::mem::discriminant(d);
    let leading: Vec<_> = details
        .iter()
        .filter(|(at, d)| *at <= start && *d != Detail::Noise)
        .map(|(_, d)| kind(d))
        .collect();
    for (at, found) in details {
        if found == Detail::Noise {
            continue;
        }
        // Papers are in page order: the one whose title is the last before
        // `at`, and the one whose title is at `at`.
        let after = placed.partition_point(|p| p.title < at);
        let before = after.checked_sub(1).map(|i| &placed[i]);
        let owner = match before {
            Some(p) if at < p.end => Some(p),
            _ if leading.contains(&kind(&found)) => placed.get(after).filter(|p| p.title == at),
            _ => before.filter(|p| p.end == at),
        };
        let Some(ReadEvent::Paper { paper, .. }) = owner.map(|p| &mut events[p.event]) else {
            continue;
        };
        match found {
            Detail::Id { id, url } if paper.id.starts_with(super::TITLE_ID_PREFIX) => {
                paper.id = id;
                if paper.url.is_none() {
                    paper.url = url;
                }
            }
            Detail::Authors(authors) if paper.authors.is_empty() => paper.authors = authors,
            Detail::Categories(codes) if paper.categories.is_empty() => paper.categories = codes,
            Detail::Date(date) if paper.date.is_none() => paper.date = Some(date),
            _ => {}
        }
    }
}

/// A paragraph of the page, or a line that says something about a paper.
enum Piece {
    Text(Paragraph),
    Detail(Detail),
}

/// Splits text into paragraphs at blank lines. A paragraph that is a
/// detail line gives that detail; one with detail lines among its lines
/// gives them and, between them, the runs of other lines as paragraphs (a
/// title wrapped over two lines above `Authors: …`).
fn split_paragraphs(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut current: Vec<(usize, &str)> = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            pieces_of(&std::mem::take(&mut current), &mut pieces);
        } else {
            current.push((index + 1, line));
        }
    }
    pieces_of(&current, &mut pieces);
    pieces
}

/// The pieces of one paragraph, given as its numbered lines.
fn pieces_of(lines: &[(usize, &str)], out: &mut Vec<Piece>) {
    let Some(&(first, _)) = lines.first() else {
        return;
    };
    let joined = |lines: &[(usize, &str)]| {
        normalize_text(&lines.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("\n"))
    };
    let each: Vec<Option<Detail>> = if lines.len() > 1 {
        lines
            .iter()
            .map(|(_, l)| detail(&normalize_text(l)))
            .collect()
    } else {
        Vec::new()
    };
    if each.iter().all(Option::is_none) {
        let whole = joined(lines);
        out.push(match detail(&whole) {
            Some(d) => Piece::Detail(d),
            None => Piece::Text(paragraph(first, &whole)),
        });
        return;
    }
    let mut run_start = 0;
    for (at, found) in each.into_iter().enumerate() {
        let Some(d) = found else { continue };
        if run_start < at {
            let run = &lines[run_start..at];
            out.push(Piece::Text(paragraph(run[0].0, &joined(run))));
        }
        out.push(Piece::Detail(d));
        run_start = at + 1;
    }
    if run_start < lines.len() {
        let run = &lines[run_start..];
        out.push(Piece::Text(paragraph(run[0].0, &joined(run))));
    }
}

fn paragraph(line: usize, text: &str) -> Paragraph {
    let text = without_abstract_label(without_title_label(text)).to_string();
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

    type Details = (String, String, Vec<String>, Option<String>);

    fn paper_details(events: &[ReadEvent]) -> Vec<Details> {
        events
            .iter()
            .filter_map(|e| match e {
                ReadEvent::Paper { paper, .. } => Some((
                    paper.id.clone(),
                    paper.title.clone(),
                    paper.authors.clone(),
                    paper.date.clone(),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn detail_lines_after_an_abstract_belong_to_the_paper_before() {
        let text = format!(
            "Daily Papers\n\nSubmitted by someone\n\nFirst\n\nAuthors: Ann Lee, Bo Chan\n\n\
             Upvote 12\n\n{a}\n\narXiv: 2303.00001\n\nSecond\n\n· 3 authors\n\n{a}\n\n\
             https://arxiv.org/abs/2303.00002v2\n\n2024-03-14\n\nAbout\n",
            a = long(60)
        );
        let events = read_digest(&text, "d.txt");
        let got = paper_details(&events);
        assert_eq!(
            got,
            [
                (
                    "2303.00001".to_string(),
                    "First".to_string(),
                    vec!["Ann Lee".to_string(), "Bo Chan".to_string()],
                    None
                ),
                (
                    "2303.00002".to_string(),
                    "Second".to_string(),
                    vec![],
                    Some("2024-03-14".to_string())
                ),
            ]
        );
        assert_eq!(papers(&events)[0].1, long(60), "the abstract is whole");
        let rejected = events
            .iter()
            .filter(|e| matches!(e, ReadEvent::Rejected(_)))
            .count();
        assert_eq!(rejected, 1, "only the footer: {events:?}");
    }

    #[test]
    fn detail_lines_before_the_first_title_lead_each_paper() {
        let text = format!(
            "Menu\n\narXiv:2303.00001\n\nFirst\n\n{a}\n\narXiv:2303.00002\n\nSecond\n\n{a}\n",
            a = long(60)
        );
        let ids: Vec<String> = paper_details(&read_digest(&text, "d.txt"))
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(ids, ["2303.00001", "2303.00002"]);
    }

    #[test]
    fn a_block_of_labelled_lines_is_a_title_and_its_details() {
        // An arXiv listing copied as text, and a title wrapped over two
        // lines above its authors.
        let text = format!(
            "[1] arXiv:2303.00001 [pdf, other]\nTitle: Listed Paper\nAuthors: Ann Lee and Bo Chan\n\
             Comments: 12 pages, 3 figures\nSubjects: Machine Learning (cs.LG)\n\n\
             Abstract: {a}\n\nA Title Wrapped\nover Two Lines\nAuthors: Cy Dee\n\n{a}\n",
            a = long(60)
        );
        let events = read_digest(&text, "d.txt");
        let got = paper_details(&events);
        assert_eq!(got[0].1, "Listed Paper");
        assert_eq!(got[0].2, ["Ann Lee", "Bo Chan"]);
        let ReadEvent::Paper { paper, .. } = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(paper.categories, ["cs.LG"]);
        assert_eq!(paper.id, "2303.00001");
        assert_eq!(papers(&events)[0].1, long(60), "label removed");
        assert_eq!(got[1].1, "A Title Wrapped over Two Lines");
        assert_eq!(got[1].2, ["Cy Dee"]);
        assert_eq!(got.len(), 2, "{events:?}");
    }
}
