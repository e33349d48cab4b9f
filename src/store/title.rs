//! Title matching: how a typed title is normalised, split into words and
//! compared with stored titles, and which candidate (if any) counts as the
//! closest unique match.

use std::collections::BTreeSet;

use crate::corpus::Paper;

/// How a title typed by the user resolved against the library.
#[derive(Debug, Clone, PartialEq)]
pub enum TitleMatch {
    /// One paper has exactly this title, ignoring case and spacing.
    Exact(Paper),
    /// No exact match, but one paper is clearly the closest.
    Closest(Paper),
    /// Several papers fit about equally well; best first.
    Ambiguous(Vec<Paper>),
    /// No stored title resembles the query.
    NotFound,
}

/// How many candidates an ambiguous answer lists.
pub(crate) const MAX_CANDIDATES: usize = 10;
/// Word overlap a best candidate needs to be chosen over others that also
/// contain every query word.
const CONTAINING_CHOICE: f64 = 0.75;
/// Word overlap the best partial candidate needs to be chosen alone.
const PARTIAL_CHOICE: f64 = 0.6;
/// Word overlap below which a partial candidate is not worth listing.
const PARTIAL_LISTING: f64 = 0.3;

/// The form titles are compared in for exact matches: lowercase, with runs
/// of whitespace collapsed to one space and the ends trimmed.
pub(crate) fn title_key(title: &str) -> String {
    title
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The distinct lowercase words of a title (runs of letters and digits).
pub(crate) fn words(title: &str) -> BTreeSet<String> {
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// An FTS5 query for titles containing every word (`all`) or any word.
pub(crate) fn fts_query(words: &BTreeSet<String>, all: bool) -> String {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    quoted.join(if all { " AND " } else { " OR " })
}

/// Jaccard overlap of two word sets.
fn overlap(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let shared = a.intersection(b).count();
    let union = a.len() + b.len() - shared;
    if union == 0 {
        0.0
    } else {
        shared as f64 / union as f64
    }
}

/// The outcome of [`choose`], in terms of the candidates' slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    Closest(u32),
    Ambiguous(Vec<u32>),
    NotFound,
}

/// Picks among titles found by word search (`(slot, title)`, best search
/// rank first), given the query's words.
///
/// Titles that contain every query word come first: one such title is the
/// closest match; among several, the best is chosen only if its word
/// overlap with the query is high and strictly ahead of the next. Otherwise
/// the best partial match is chosen if it is clearly ahead, and the
/// remaining reasonable candidates are returned as ambiguous.
pub(crate) fn choose(query: &BTreeSet<String>, candidates: &[(u32, String)]) -> Choice {
    let mut scored: Vec<(bool, f64, u32)> = candidates
        .iter()
        .map(|(slot, title)| {
            let title_words = words(title);
            (
                query.is_subset(&title_words),
                overlap(query, &title_words),
                *slot,
            )
        })
        .collect();
    // Containing first, then by overlap; the sort is stable, so search rank
    // breaks ties.
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)));

    let containing = scored.iter().take_while(|s| s.0).count();
    let list = |pool: &[(bool, f64, u32)]| {
        Choice::Ambiguous(pool.iter().take(MAX_CANDIDATES).map(|s| s.2).collect())
    };
    if containing > 0 {
        let pool = &scored[..containing];
        return match pool {
            [only] => Choice::Closest(only.2),
            [best, next, ..] if best.1 >= CONTAINING_CHOICE && best.1 > next.1 => {
                Choice::Closest(best.2)
            }
            _ => list(pool),
        };
    }
    scored.retain(|s| s.1 >= PARTIAL_LISTING);
    match scored.as_slice() {
        [] => Choice::NotFound,
        [best, rest @ ..]
            if best.1 >= PARTIAL_CHOICE && rest.first().is_none_or(|next| best.1 > next.1) =>
        {
            Choice::Closest(best.2)
        }
        pool => list(pool),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(query: &str, titles: &[&str]) -> Choice {
        let candidates: Vec<(u32, String)> = titles
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u32, t.to_string()))
            .collect();
        choose(&words(query), &candidates)
    }

    #[test]
    fn keys_and_words_ignore_case_spacing_and_punctuation() {
        assert_eq!(
            title_key("  Attention  Is\tAll You Need "),
            "attention is all you need"
        );
        let w = words("BERT: Pre-training of Deep... BERT");
        assert_eq!(
            w.into_iter().collect::<Vec<_>>(),
            ["bert", "deep", "of", "pre", "training"]
        );
        let q = words("a \"b\" c");
        assert_eq!(fts_query(&q, true), "\"a\" AND \"b\" AND \"c\"");
        assert_eq!(fts_query(&q, false), "\"a\" OR \"b\" OR \"c\"");
    }

    #[test]
    fn clear_best_among_containing_titles_is_chosen() {
        let m = pick(
            "attention all you need",
            &["Attention is not all you need", "Attention Is All You Need"],
        );
        assert_eq!(m, Choice::Closest(1));
    }

    #[test]
    fn several_equally_good_titles_are_ambiguous() {
        let m = pick(
            "graph networks",
            &[
                "Graph neural networks for chemistry",
                "Graph attention networks in vision",
                "Unrelated words entirely",
            ],
        );
        assert_eq!(m, Choice::Ambiguous(vec![0, 1]));
    }

    #[test]
    fn typo_falls_back_to_the_best_overlap_and_noise_is_not_found() {
        let m = pick(
            "atention is all you need",
            &["All of statistics", "Attention is all you need"],
        );
        assert_eq!(m, Choice::Closest(1));
        let m = pick(
            "quantum chromodynamics of the proton",
            &["The art of the deal", "A theory of the firm"],
        );
        assert_eq!(m, Choice::NotFound);
    }
}
