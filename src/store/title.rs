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

/// Picks among papers found by word search, given the query's words.
///
/// Papers whose titles contain every query word come first: one such paper
/// is the closest match; among several, the best is chosen only if its word
/// overlap with the query is high and strictly ahead of the next. Otherwise
/// the best partial match is chosen if it is clearly ahead, and the
/// remaining reasonable candidates are returned as ambiguous.
pub(crate) fn choose(query: &BTreeSet<String>, candidates: Vec<Paper>) -> TitleMatch {
    let mut scored: Vec<(bool, f64, Paper)> = candidates
        .into_iter()
        .map(|p| {
            let title_words = words(&p.title);
            (
                query.is_subset(&title_words),
                overlap(query, &title_words),
                p,
            )
        })
        .collect();
    // Containing first, then by overlap; the sort is stable, so search rank
    // breaks ties.
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)));

    let containing = scored.iter().take_while(|s| s.0).count();
    let pick = |threshold: f64, pool: &[(bool, f64, Paper)]| match pool {
        [only] => Some(only.2.clone()),
        [best, next, ..] if best.1 >= threshold && best.1 > next.1 => Some(best.2.clone()),
        _ => None,
    };
    let list = |pool: Vec<(bool, f64, Paper)>| {
        pool.into_iter()
            .take(MAX_CANDIDATES)
            .map(|s| s.2)
            .collect::<Vec<_>>()
    };
    if containing > 0 {
        if let Some(p) = pick(CONTAINING_CHOICE, &scored[..containing]) {
            return TitleMatch::Closest(p);
        }
        scored.truncate(containing);
        return TitleMatch::Ambiguous(list(scored));
    }
    scored.retain(|s| s.1 >= PARTIAL_LISTING);
    if scored.is_empty() {
        return TitleMatch::NotFound;
    }
    let ahead = scored.len() == 1 || scored[0].1 > scored[1].1;
    if ahead && scored[0].1 >= PARTIAL_CHOICE {
        return TitleMatch::Closest(scored.swap_remove(0).2);
    }
    TitleMatch::Ambiguous(list(scored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(title: &str) -> Paper {
        Paper {
            id: title.to_string(),
            title: title.to_string(),
            ..Paper::default()
        }
    }

    fn titles(m: &TitleMatch) -> Vec<&str> {
        match m {
            TitleMatch::Exact(p) | TitleMatch::Closest(p) => vec![p.title.as_str()],
            TitleMatch::Ambiguous(ps) => ps.iter().map(|p| p.title.as_str()).collect(),
            TitleMatch::NotFound => vec![],
        }
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
        let q = words("attention all you need");
        let m = choose(
            &q,
            vec![
                paper("Attention is not all you need"),
                paper("Attention Is All You Need"),
            ],
        );
        assert!(matches!(m, TitleMatch::Closest(_)), "{m:?}");
        assert_eq!(titles(&m), ["Attention Is All You Need"]);
    }

    #[test]
    fn several_equally_good_titles_are_ambiguous() {
        let q = words("graph networks");
        let m = choose(
            &q,
            vec![
                paper("Graph neural networks for chemistry"),
                paper("Graph attention networks in vision"),
                paper("Unrelated words entirely"),
            ],
        );
        assert!(matches!(m, TitleMatch::Ambiguous(_)), "{m:?}");
        assert_eq!(titles(&m).len(), 2);
    }

    #[test]
    fn typo_falls_back_to_the_best_overlap_and_noise_is_not_found() {
        let q = words("atention is all you need");
        let m = choose(
            &q,
            vec![
                paper("Attention is all you need"),
                paper("All of statistics"),
            ],
        );
        assert_eq!(titles(&m), ["Attention is all you need"]);
        assert!(matches!(m, TitleMatch::Closest(_)));

        let q = words("quantum chromodynamics of the proton");
        let m = choose(
            &q,
            vec![paper("The art of the deal"), paper("A theory of the firm")],
        );
        assert_eq!(m, TitleMatch::NotFound);
    }
}
