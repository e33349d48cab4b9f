//! Lexical ranking and its fusion with the dense one (`--rank hybrid`).
//! This module owns how a text becomes a safe FTS5 query (its words, each
//! quoted, stop words dropped, joined with OR, so no user text is read as
//! FTS5 syntax), which terms stand for a reading list, and the reciprocal
//! rank fusion of a dense ranking with the BM25 ranking of the library's
//! full-text index of titles and abstracts (kept by [`crate::store`]).
//!
//! Fusion: each paper in the dense top [`FUSION_DEPTH`] or the BM25 top
//! [`FUSION_DEPTH`] scores `1/(RRF_K + dense rank) + w/(RRF_K + BM25 rank)`
//! (a missing rank adds nothing), where the words' weight `w` is
//! [`TEXT_QUERY_WEIGHT`] for typed text and [`PAPER_QUERY_WEIGHT`] for a
//! paper; results keep their dense cosine as their score. Reciprocal rank
//! fusion needs no calibration between cosines and BM25 scores, whose
//! scales differ from query to query.
//!
//! Measured by `benches/labelled_ranking.py` on labelled papers (2,500
//! arXiv papers of ten categories, the 61 sample papers' hand grouping) and
//! `cargo run --example hybrid_eval`: with these weights hybrid finds a
//! paper by a word of its abstract far more often than dense ranking (0.98
//! against 0.37 in the top 10 on the arXiv set), ranks `similar` and
//! `recommend` within the fine groups better and within broad categories
//! within a point of dense, so [`choose`] prefers it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::store::{Library, TextIndexState};

/// The constant of reciprocal rank fusion (the usual 60: a paper's rank
/// matters less the further down it is, but slowly).
pub const RRF_K: f32 = 60.0;
/// How deep each ranking is read for fusion.
pub const FUSION_DEPTH: usize = 100;
/// Most terms in a lexical query built from a reading list.
pub const MAX_QUERY_TERMS: usize = 32;

/// Weight of the BM25 ranking in the fusion (the dense one's is 1) when
/// the query is text a user typed (`search`, `recommend --like-text`):
/// exact terms (a method's or a data set's name) are what such a query
/// often hinges on. On the 2,500 papers of `data/arxiv-categories.jsonl`,
/// searching for a word found in one abstract only (not its title) put
/// that paper in the top 10 for 0.973 of 300 words at this weight, 0.537
/// at 0.25 and 0.390 dense.
pub const TEXT_QUERY_WEIGHT: f32 = 1.0;

/// Weight of the BM25 ranking (of the paper's title terms, or the liked
/// papers' key terms) when the query is a paper (`similar`, `recommend
/// --like`): its vector already holds its title and abstract, so the
/// words add less, and at full weight they pull in papers that only share
/// a word. Measured by `benches/labelled_ranking.py` (README, `similar`
/// section): on the 2,500 arXiv papers of ten categories, `similar`'s top
/// 10 kept 0.791 to the paper's category dense, 0.783 at this weight and
/// 0.746 at full weight; on the 61 sample papers' finer hand grouping 0.641
/// dense, 0.689 here, 0.669 at full weight.
pub const PAPER_QUERY_WEIGHT: f32 = 0.25;

/// How results are ranked. `Rank::default()` (dense) is what library
/// callers get without asking; the CLI and the server ask [`choose`],
/// which prefers hybrid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rank {
    /// By the dense (embedding) score alone.
    #[default]
    Dense,
    /// Reciprocal rank fusion of the dense ranking and BM25 over titles and
    /// abstracts.
    Hybrid,
}

impl Rank {
    pub fn name(self) -> &'static str {
        match self {
            Rank::Dense => "dense",
            Rank::Hybrid => "hybrid",
        }
    }
}

impl FromStr for Rank {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dense" => Ok(Rank::Dense),
            "hybrid" => Ok(Rank::Hybrid),
            other => Err(format!("unknown ranking {other:?}: use dense or hybrid")),
        }
    }
}

impl fmt::Display for Rank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Most papers for which hybrid ranking is chosen without being asked for.
/// The BM25 side is an FTS5 query that scores every paper holding any of
/// its terms, so its cost grows with the library while the dense side's
/// (an HNSW search from 20,000 papers) hardly does: on the synthetic
/// libraries of `examples/synthetic_library` (a 20-word vocabulary, every
/// term in a quarter of the papers: the worst case), `relate similar` took
/// 30–40 ms hybrid against 10–30 ms dense at 20,000 papers, and 130–160 ms
/// against 30 ms at 100,000. Above this size `--rank hybrid` still works.
pub const HYBRID_DEFAULT_MAX_PAPERS: usize = 20_000;

/// The ranking to use: the one asked for, else hybrid (it ranks better on
/// every measurement in the README) when the library's full-text index is
/// in step with its papers and the library has at most
/// [`HYBRID_DEFAULT_MAX_PAPERS`] papers, else dense (so that a library made
/// before the index keeps answering until its next write builds it, and a
/// large library answers at the speed of its vector index).
pub fn choose(asked: Option<Rank>, library: &Library) -> crate::Result<Rank> {
    Ok(match asked {
        Some(rank) => rank,
        None if library.len() <= HYBRID_DEFAULT_MAX_PAPERS
            && library.text_index_state()? == TextIndexState::Current =>
        {
            Rank::Hybrid
        }
        None => Rank::Dense,
    })
}

/// The searchable terms of `text`, lowercase, in order, repeats kept: its
/// words (runs of letters and digits) without stop words and one-letter
/// words; a word joined by hyphens, dots or the like (`GPT-3`,
/// `Berlekamp-Massey`) stays one term, a phrase of its parts.
pub fn terms(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter_map(|token| {
            let parts: Vec<String> = token
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect();
            match parts.as_slice() {
                [] => None,
                [word] => (word.chars().count() > 1 && !crate::topics::is_stop_word(word))
                    .then(|| word.clone()),
                _ => Some(parts.join(" ")),
            }
        })
        .collect()
}

/// An FTS5 query matching any of `terms`, each quoted (so `NEAR`, `*`, `-`
/// or a quote inside a term is a plain word, and a term of several words a
/// phrase); `None` when there is none.
pub fn fts_query(terms: &[String]) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    let quoted: Vec<String> = terms
        .iter()
        .filter(|t| !t.is_empty() && seen.insert(t.as_str()))
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect();
    (!quoted.is_empty()).then(|| quoted.join(" OR "))
}

/// The terms that stand for several weighted texts (a reading list's
/// titles): those in the most texts (by weight), at most `max`, ties to
/// the term seen first.
pub fn key_terms(texts: &[(&str, f32)], max: usize) -> Vec<String> {
    let mut weight: HashMap<String, (f32, usize)> = HashMap::new();
    let mut order = 0;
    for (text, w) in texts {
        let mut seen = std::collections::HashSet::new();
        for t in terms(text) {
            if !seen.insert(t.clone()) {
                continue;
            }
            let entry = weight.entry(t).or_insert_with(|| {
                order += 1;
                (0.0, order)
            });
            entry.0 += w;
        }
    }
    let mut ranked: Vec<(String, (f32, usize))> = weight.into_iter().collect();
    ranked.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    ranked.into_iter().take(max).map(|(t, _)| t).collect()
}

/// A paper's place in the fused ranking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fused {
    pub slot: u32,
    /// 1-based rank in the dense ranking, if it was read that far.
    pub dense_rank: Option<usize>,
    /// 1-based rank by BM25, if the paper matched.
    pub lexical_rank: Option<usize>,
    /// The reciprocal rank fusion score; higher is better.
    pub score: f32,
}

/// Fuses a dense ranking and a lexical one (slots, best first; each slot
/// at most once per list) by reciprocal rank fusion, the lexical ranks
/// counting `lexical_weight` (see [`TEXT_QUERY_WEIGHT`] and
/// [`PAPER_QUERY_WEIGHT`]). Best first; ties go to the better dense rank,
/// then the lower slot.
pub fn fuse(dense: &[u32], lexical: &[u32], lexical_weight: f32) -> Vec<Fused> {
    let mut by_slot: HashMap<u32, Fused> = HashMap::new();
    let mut add = |slot: u32, rank: usize, lexical: bool| {
        let entry = by_slot.entry(slot).or_insert(Fused {
            slot,
            dense_rank: None,
            lexical_rank: None,
            score: 0.0,
        });
        let place = if lexical {
            &mut entry.lexical_rank
        } else {
            &mut entry.dense_rank
        };
        if place.is_none() {
            *place = Some(rank);
            let weight = if lexical { lexical_weight } else { 1.0 };
            entry.score += weight / (RRF_K + rank as f32);
        }
    };
    for (i, &slot) in dense.iter().enumerate() {
        add(slot, i + 1, false);
    }
    for (i, &slot) in lexical.iter().enumerate() {
        add(slot, i + 1, true);
    }
    let mut out: Vec<Fused> = by_slot.into_values().collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(
                a.dense_rank
                    .unwrap_or(usize::MAX)
                    .cmp(&b.dense_rank.unwrap_or(usize::MAX)),
            )
            .then(a.slot.cmp(&b.slot))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_becomes_quoted_words_without_fts_syntax() {
        let t = terms("C++ \"quoted\" NEAR(a b) -minus star* and the LoRA GPT-3");
        assert_eq!(t, ["quoted", "near a", "minus", "star", "lora", "gpt 3"]);
        let q = fts_query(&t[3..]).unwrap();
        assert_eq!(q, "\"star\" OR \"lora\" OR \"gpt 3\"");
        assert_eq!(fts_query(&terms("+ - * \" ( )")), None);
        assert_eq!(
            fts_query(&["a\"b".to_string()]).as_deref(),
            Some("\"a\"\"b\"")
        );
    }

    #[test]
    fn key_terms_prefer_terms_shared_by_more_and_heavier_texts() {
        let texts = [
            ("Private learning of bandits", 1.0),
            ("Bandits with private feedback", 1.0),
            ("Theorem proving", 3.0),
        ];
        let k = key_terms(&texts, 3);
        assert_eq!(k[0], "theorem");
        assert_eq!(k[1], "proving");
        assert!(k[2] == "private" || k[2] == "bandits", "{k:?}");
        assert_eq!(key_terms(&texts, 10).len(), 6);
    }

    #[test]
    fn fusion_rewards_papers_high_in_both_lists() {
        let fused = fuse(&[1, 2, 3, 4], &[9, 3, 1], 1.0);
        let order: Vec<u32> = fused.iter().map(|f| f.slot).collect();
        // 1: 1/61 + 1/63; 3: 1/63 + 1/62; 9: 1/61; 2: 1/62; 4: 1/64.
        assert_eq!(order, [1, 3, 9, 2, 4]);
        assert_eq!(fused[1].dense_rank, Some(3));
        assert_eq!(fused[1].lexical_rank, Some(2));
        assert_eq!(fused[2].dense_rank, None);
        assert!((fused[0].score - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-6);
        assert!(fuse(&[], &[], 1.0).is_empty());
    }

    #[test]
    fn a_lighter_lexical_ranking_only_reorders_what_both_lists_hold() {
        let fused = fuse(&[1, 2, 3, 4], &[9, 3, 1], 0.25);
        let order: Vec<u32> = fused.iter().map(|f| f.slot).collect();
        // 1: 1/61 + 0.25/63; 3: 1/63 + 0.25/62 (above 2's 1/62); a paper
        // found by its words alone (9: 0.25/61) comes after the dense list.
        assert_eq!(order, [1, 3, 2, 4, 9]);
        assert!((fused[0].score - (1.0 / 61.0 + 0.25 / 63.0)).abs() < 1e-6);
    }
}
