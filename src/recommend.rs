//! Recommendations from a reading list: papers the user likes (and a few
//! they do not), given as library papers, free texts or papers read from a
//! file, rank the library or a list of new papers, each result with the
//! reasons it is there. This module owns the profile of weighted positive
//! and negative examples, the two scorers, the date / category / id filters
//! and the reasons; it reads no flags and prints nothing.
//!
//! Candidates are scored in one pass over their vectors (the library's
//! memory-mapped vector file, or the vectors of the given papers); records
//! are fetched only for the best ones, in score order, until `k` pass the
//! filters, so filtering first and ranking after gives the same list.
//! Measured on a 100,000-paper synthetic library (`examples/synthetic_library`)
//! with 5 positives and 2 negatives, a whole `relate recommend` process took
//! 20–50 ms (centroid) and 50–70 ms (multi-interest, whose scan is split
//! across threads) on a busy 2-core machine. A date or category filter that
//! few papers pass reads many records: 1.2 s when none of 100,000 pass.
//! The multi-interest scan is one blocked matrix product per 1,024
//! candidates against all examples (the encoder's SIMD kernels) and a SIMD
//! soft maximum per row; `cargo bench --bench recommend` times the scan of
//! 100,000 vectors at 72–85 ms with 5 + 2 examples and 326–463 ms with 200
//! positives (centroid: 24 ms and 31–38 ms) on the same shared 2-core AMD
//! EPYC (Zen 3, AVX2+FMA), so upper bounds.
//!
//! Ranking ([`Request::rank`]): with [`Rank::Hybrid`] the scorer's order is
//! fused with BM25 over titles and abstracts for the positives' key title
//! terms (see [`crate::lexical`]; the words count a quarter when only
//! papers are liked, fully when a text is); `cargo run --example
//! hybrid_eval` gives recall@10 0.745 (dense) / 0.780 (hybrid) for 2 liked
//! papers of one hand grouped group, and finds the one paper whose abstract
//! names a rare term liked as a text in the top 10 for 0.609 / 1.000 of 87
//! such terms.
//!
//! Scorers (weights act as repetition: an example of weight 2 counts as if
//! given twice):
//!
//! - [`Scorer::Centroid`] (Rocchio): the profile is the normalised weighted
//!   mean of the positives minus [`CENTROID_BETA`] × the weighted mean of
//!   the negatives; a candidate's score is its cosine with that direction.
//! - [`Scorer::Multi`] (multi-interest): a candidate's score is a soft
//!   maximum of its similarities to the positives (temperature
//!   [`MULTI_TEMPERATURE`], weighted) minus [`MULTI_GAMMA`] × the same soft
//!   maximum over the negatives, so a reading list on two subjects finds
//!   papers of each instead of papers halfway between them. Ranking
//!   candidates ([`ProfileVectors::rank_scores`]), it also groups the
//!   positives into interests ([`INTEREST_COSINE`]) and shifts each
//!   interest's soft maximum so that the first `k` results are shared
//!   among them by weight (`benches/interests_eval.py`: with two
//!   liked papers from each of two arXiv categories, one category went
//!   without any of the top 10 in 20.5% of draws before, 3% after).
//!
//! Measured by `cargo run --example recommend_eval` (2,000 random draws
//! per case, seed 7; recall@10 of the hidden members of the positives'
//! groups, out of at most 10), on the 61 sample papers with their hand
//! grouping (`data/sample-topics.tsv`), centroid / multi:
//!
//! | case | centroid | multi |
//! | --- | --- | --- |
//! | 2 positives from one group | 0.706 | 0.680 |
//! | 2 positives from each of two groups | 0.531 | 0.540 |
//! | 3 from one group + 1 from another: the major group | 0.779 | 0.720 |
//! | 3 from one group + 1 from another: the minor group | 0.239 | 0.312 |
//! | 2 positives + 2 negatives of another group: recall | 0.754 | 0.729 |
//!
//! and on planted synthetic groups (20 × 25 vectors, 64 dimensions) the
//! same cases give 0.995 / 0.990, 0.928 / 0.997, 0.973 / 0.824 and
//! 0.014 / 0.173. The centroid is the default: on real embeddings it is
//! best for a reading list on one subject (the common case); the
//! multi-interest scorer covers a reading list on several subjects, at a
//! cost of a point or two of precision (README). Negatives (2 of another
//! group) cut that group's share of the top 10 from 0.055 to 0.023
//! (centroid) and 0.020 (multi). The multi scorer's temperature 0.1 was
//! chosen the same way (0.02 and 0.05 lose more on one subject, 0.2 gains
//! nothing on two).
//!
//! Reasons: each result lists the positives it is closest to (top
//! [`REASON_POSITIVES`]) and the terms it shares with them, taken with the
//! stop words and plural folding of the topic labels; on request
//! ([`Request::explain`]) also the sentence of its abstract that scores best
//! for the profile.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;

use rayon::prelude::*;
use serde::Serialize;

use crate::corpus::{canonical_id, read_papers, Paper, Problem, ReadEvent};
use crate::embed::kernels::soft_max_rows;
use crate::embed::matmul::{product, Dest, PackedB, RowsView};
use crate::embed::Embedder;
use crate::lexical::{self, Rank, FUSION_DEPTH, MAX_QUERY_TERMS};
use crate::library_topics;
pub use crate::paper_filter::PartialDate;
use crate::paper_filter::RecordFilter;
use crate::query::{find_by_id, resolve_paper, ResultRow};
use crate::same_paper::{DistinctRows, NamesCopies, PaperKey, Shown};
use crate::simd::dot;
use crate::store::{Library, VectorView, SCAN_BLOCK_ROWS};
use crate::{Error, Result};

/// Share of the negatives' mean taken off the positives' in the centroid
/// scorer.
pub const CENTROID_BETA: f32 = 0.5;
/// Weight of the negative penalty in the multi-interest scorer.
pub const MULTI_GAMMA: f32 = 0.5;
/// Temperature of the multi-interest scorer's soft maximum: near 0 it is
/// the best similarity, large it is the weighted mean.
pub const MULTI_TEMPERATURE: f32 = 0.1;
/// Least cosine between two positives for the multi-interest scorer to
/// count them as one interest (joined in chains: single linkage). Papers
/// of one arXiv category sit at a median cosine of 0.28 from each other,
/// of two categories at 0.07.
pub const INTEREST_COSINE: f32 = 0.25;
/// Most interests the multi-interest scorer balances; a profile of more
/// (a long, scattered reading list) is scored by the plain soft maximum.
pub const MAX_INTERESTS: usize = 8;
/// Positives named in a result's reasons.
pub const REASON_POSITIVES: usize = 3;
/// Shared terms named in a result's reasons.
pub const REASON_TERMS: usize = 5;
/// Extra weight of a two-word term in the reasons.
const BIGRAM_BONUS: f64 = 1.3;
/// Below this many multiply-adds (candidates × dimensions × examples) one
/// thread runs the multi-interest scan; above it the scan is split across
/// threads.
const PARALLEL_MIN_VALUES: usize = 1 << 22;
/// Vectors per piece of a split scan (with 200 examples, 800 KiB of
/// similarities).
const PARALLEL_CHUNK: usize = 1024;
/// Records fetched at a time while walking candidates in score order.
const FETCH_CHUNK: usize = 256;
/// Candidates ranked beyond `k`, so that leaving out copies of a paper
/// rarely needs a second pass.
const COPIES_MARGIN: usize = 8;

/// How candidates are scored against the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scorer {
    /// Cosine with the weighted mean of the positives minus a share of the
    /// negatives' (Rocchio).
    #[default]
    Centroid,
    /// Soft maximum over the positives minus a penalty for the closest
    /// negatives.
    Multi,
}

impl Scorer {
    pub fn name(self) -> &'static str {
        match self {
            Scorer::Centroid => "centroid",
            Scorer::Multi => "multi",
        }
    }
}

impl FromStr for Scorer {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "centroid" => Ok(Scorer::Centroid),
            "multi" => Ok(Scorer::Multi),
            other => Err(format!("unknown scorer {other:?}: use centroid or multi")),
        }
    }
}

impl fmt::Display for Scorer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The positive and negative example vectors with their weights: what the
/// scorers work from. Vectors are normalised when added.
#[derive(Debug, Clone)]
pub struct ProfileVectors {
    dim: usize,
    positives: Vec<f32>,
    positive_weights: Vec<f32>,
    negatives: Vec<f32>,
    negative_weights: Vec<f32>,
    /// The positives grouped into interests ([`Self::interests`]), once
    /// asked for; cleared when a positive is added.
    interests: OnceLock<Vec<Vec<usize>>>,
}

impl ProfileVectors {
    /// An empty profile for vectors of `dim` values.
    pub fn new(dim: usize) -> ProfileVectors {
        ProfileVectors {
            dim,
            positives: Vec::new(),
            positive_weights: Vec::new(),
            negatives: Vec::new(),
            negative_weights: Vec::new(),
            interests: OnceLock::new(),
        }
    }

    /// Adds a positive example.
    pub fn add_positive(&mut self, vector: &[f32], weight: f32) -> Result<()> {
        let unit = self.checked(vector, weight)?;
        self.positives.extend(unit);
        self.positive_weights.push(weight);
        self.interests = OnceLock::new();
        Ok(())
    }

    /// Adds a negative example.
    pub fn add_negative(&mut self, vector: &[f32], weight: f32) -> Result<()> {
        let unit = self.checked(vector, weight)?;
        self.negatives.extend(unit);
        self.negative_weights.push(weight);
        Ok(())
    }

    fn checked(&self, vector: &[f32], weight: f32) -> Result<Vec<f32>> {
        if vector.len() != self.dim {
            return Err(Error::WrongDimension {
                expected: self.dim,
                received: vector.len(),
            });
        }
        check_weight(weight).map_err(|problem| Error::InvalidArgument {
            name: "weight".into(),
            problem,
        })?;
        let norm = dot(vector, vector).sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            return Err(Error::InvalidVectors {
                problem: "an example's vector is zero or not finite".into(),
                fix: "Check the example's text and the model".into(),
            });
        }
        Ok(vector.iter().map(|x| x / norm).collect())
    }

    /// Number of positive examples.
    pub fn positive_count(&self) -> usize {
        self.positive_weights.len()
    }

    /// Cosine similarity of `vector` (a unit vector) to each positive, in
    /// the order they were added.
    pub fn positive_similarities(&self, vector: &[f32]) -> Vec<f32> {
        self.positives
            .chunks_exact(self.dim)
            .map(|p| dot(p, vector))
            .collect()
    }

    /// Scores every vector of `vectors` (`dim` values each, unit length),
    /// higher is better. A vector with NaN scores NaN.
    pub fn score_all(&self, scorer: Scorer, vectors: &[f32]) -> Result<Vec<f32>> {
        self.check_scorable(vectors)?;
        Ok(match scorer {
            Scorer::Centroid => {
                let direction = self.centroid();
                rows_of(vectors, self.dim)
                    .map(|v| dot(v, &direction))
                    .collect()
            }
            Scorer::Multi => self.multi_scores(vectors),
        })
    }

    /// Scores the candidates of a ranking: as [`Self::score_all`], except
    /// that the multi-interest scorer shares the first `page` results (the
    /// number asked for) out among the interests (see
    /// [`Self::balanced_scores`]), counting only the rows `allowed` marks
    /// (all when `None`; a row not allowed is scored but should not be
    /// listed).
    pub fn rank_scores(
        &self,
        scorer: Scorer,
        vectors: &[f32],
        allowed: Option<&[bool]>,
        page: usize,
    ) -> Result<Vec<f32>> {
        self.check_scorable(vectors)?;
        match self.balanced_interests(scorer) {
            Some(interests) => Ok(self.balanced_scores(vectors, &interests, allowed, page)),
            None => self.score_all(scorer, vectors),
        }
    }

    /// [`Self::rank_scores`] over every vector of `view`, read in blocks
    /// of [`SCAN_BLOCK_ROWS`] so that a mapped vector file is not held
    /// resident whole (see [`VectorView::for_each_block`]).
    pub fn rank_view(
        &self,
        scorer: Scorer,
        view: &VectorView,
        allowed: Option<&[bool]>,
        page: usize,
    ) -> Result<Vec<f32>> {
        let interests = self.balanced_interests(scorer);
        let columns = interests.as_ref().map_or(1, Vec::len);
        let mut scores = Vec::with_capacity(view.len() * columns);
        view.for_each_block(SCAN_BLOCK_ROWS, |_, block| {
            self.check_scorable(block)?;
            match &interests {
                Some(interests) => scores.extend(self.interest_scores(block, interests)),
                None => scores.extend(self.score_all(scorer, block)?),
            }
            Ok(())
        })?;
        Ok(match &interests {
            Some(interests) => self.balance(&scores, interests, allowed, page),
            None => scores,
        })
    }

    /// Refuses a profile without positives and vectors that are not whole
    /// rows of its dimension.
    fn check_scorable(&self, vectors: &[f32]) -> Result<()> {
        if self.positive_weights.is_empty() {
            return Err(no_positive());
        }
        if self.dim == 0 || !vectors.len().is_multiple_of(self.dim) {
            return Err(Error::VectorShape {
                values: vectors.len(),
                dim: self.dim,
            });
        }
        Ok(())
    }

    /// The interests the scorer shares its first results among: with the
    /// multi-interest scorer, when there are 2 to [`MAX_INTERESTS`] of them
    /// (see [`Self::rank_scores`]); `None` otherwise.
    pub fn balanced_interests(&self, scorer: Scorer) -> Option<Vec<Vec<usize>>> {
        if scorer != Scorer::Multi {
            return None;
        }
        Some(self.interests().to_vec()).filter(|i| (2..=MAX_INTERESTS).contains(&i.len()))
    }

    /// The summed weight of each interest's positives.
    pub fn interest_weights(&self, interests: &[Vec<usize>]) -> Vec<f32> {
        interests
            .iter()
            .map(|i| i.iter().map(|&p| self.positive_weights[p]).sum())
            .collect()
    }

    /// The positives grouped into interests: two positives at cosine
    /// [`INTEREST_COSINE`] or more share one, and so do chains of them.
    /// Each interest lists its positives' indices in order. Worked out
    /// once per profile.
    fn interests(&self) -> &[Vec<usize>] {
        self.interests.get_or_init(|| self.group_interests())
    }

    fn group_interests(&self) -> Vec<Vec<usize>> {
        let count = self.positive_weights.len();
        let mut parent: Vec<usize> = (0..count).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        let rows: Vec<&[f32]> = rows_of(&self.positives, self.dim).collect();
        for a in 0..count {
            for b in a + 1..count {
                if dot(rows[a], rows[b]) >= INTEREST_COSINE {
                    let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of_root = vec![usize::MAX; count];
        for i in 0..count {
            let r = root(&mut parent, i);
            if group_of_root[r] == usize::MAX {
                group_of_root[r] = groups.len();
                groups.push(Vec::new());
            }
            groups[group_of_root[r]].push(i);
        }
        groups
    }

    /// Multi-interest scores that share the first results out among the
    /// interests: each interest's score ([`Self::interest_scores`]) is
    /// shifted so that its share of the first `page` allowed candidates
    /// (in proportion to its weight, at least one) scores above
    /// the same mark, and the shifted scores' maximum is taken, raised by
    /// the marks' weighted mean. Without the shift an interest with closer
    /// neighbours (a dense field, more positives) took every place: on
    /// 2,500 arXiv papers, with two liked papers from each of two
    /// categories, one category had none of the top 10 in 20.5% of draws.
    fn balanced_scores(
        &self,
        vectors: &[f32],
        interests: &[Vec<usize>],
        allowed: Option<&[bool]>,
        page: usize,
    ) -> Vec<f32> {
        let by_interest = self.interest_scores(vectors, interests);
        self.balance(&by_interest, interests, allowed, page)
    }

    /// [`Self::balanced_scores`] from every row's scores per interest
    /// (`interests.len()` a row, as [`Self::interest_scores`] gives them).
    fn balance(
        &self,
        by_interest: &[f32],
        interests: &[Vec<usize>],
        allowed: Option<&[bool]>,
        page: usize,
    ) -> Vec<f32> {
        let groups = interests.len();
        let weights = self.interest_weights(interests);
        let total: f32 = weights.iter().sum();
        let shares = page_shares(&weights, page);
        let marks: Vec<f32> = (0..groups)
            .map(|g| {
                let column: Vec<f32> = by_interest
                    .iter()
                    .skip(g)
                    .step_by(groups)
                    .copied()
                    .collect();
                nth_highest(&column, allowed, shares[g])
            })
            .collect();
        // Back on the scale of a similarity: the marks' weighted mean.
        let level = marks.iter().zip(&weights).map(|(m, w)| m * w).sum::<f32>() / total;
        by_interest
            .chunks_exact(groups)
            .map(|row| {
                if row.iter().any(|s| s.is_nan()) {
                    return f32::NAN;
                }
                row.iter()
                    .zip(&marks)
                    .map(|(s, m)| s - m)
                    .fold(f32::NEG_INFINITY, f32::max)
                    + level
            })
            .collect()
    }

    /// The multi-interest scores of `vectors` (see [`Self::interest_scores`]
    /// with all positives as one interest).
    fn multi_scores(&self, vectors: &[f32]) -> Vec<f32> {
        let all: Vec<usize> = (0..self.positive_weights.len()).collect();
        self.interest_scores(vectors, &[all])
    }

    /// Each vector's score within each interest (row-major: a row per
    /// vector, a column per interest): the soft maximum of its similarities
    /// to the interest's positives minus [`MULTI_GAMMA`] × the soft maximum
    /// over the negatives. The similarities to the positives and to the
    /// negatives are blocks of two matrix products (the encoder's SIMD
    /// kernels), the soft maxima row by row (a SIMD kernel too), block by
    /// block across threads.
    fn interest_scores(&self, vectors: &[f32], interests: &[Vec<usize>]) -> Vec<f32> {
        let dim = self.dim;
        let groups = interests.len();
        // The positives in interest order, so that each interest's
        // similarities are adjacent columns.
        let order: Vec<usize> = interests.iter().flatten().copied().collect();
        let rows_in_order: Vec<f32> = order
            .iter()
            .flat_map(|&i| self.positives[i * dim..(i + 1) * dim].iter().copied())
            .collect();
        let weights: Vec<f32> = order.iter().map(|&i| self.positive_weights[i]).collect();
        let mut bounds = Vec::with_capacity(groups);
        let mut start = 0;
        for interest in interests {
            bounds.push(start..start + interest.len());
            start += interest.len();
        }
        // B = examplesᵀ (dim × examples), so that rows · B are similarities.
        let positives = PackedB::from_weight(&rows_in_order, order.len(), dim);
        let negatives = PackedB::from_weight(&self.negatives, self.negative_weights.len(), dim);
        let mut scores = vec![0f32; vectors.len() / dim * groups];
        let fill = |vectors: &[f32], out: &mut [f32]| {
            let rows = out.len() / groups.max(1);
            let similarities = |packed: &PackedB| {
                let mut sims = vec![0f32; rows * packed.cols()];
                product(
                    Dest::new(&mut sims, packed.cols()),
                    RowsView {
                        data: vectors,
                        row_step: dim,
                    },
                    rows,
                    packed,
                    false,
                    false,
                );
                sims
            };
            let mut penalty = vec![0f32; rows];
            if !self.negative_weights.is_empty() {
                soft_max_rows(
                    &similarities(&negatives),
                    &self.negative_weights,
                    MULTI_TEMPERATURE,
                    &mut penalty,
                );
            }
            let sims = similarities(&positives);
            let mut own = vec![0f32; rows];
            let mut columns = Vec::new();
            for (g, range) in bounds.iter().enumerate() {
                let group_sims: &[f32] = if groups == 1 {
                    &sims
                } else {
                    columns.clear();
                    for row in sims.chunks_exact(order.len()) {
                        columns.extend_from_slice(&row[range.clone()]);
                    }
                    &columns
                };
                soft_max_rows(
                    group_sims,
                    &weights[range.clone()],
                    MULTI_TEMPERATURE,
                    &mut own,
                );
                for (r, (score, p)) in own.iter().zip(&penalty).enumerate() {
                    out[r * groups + g] = score - MULTI_GAMMA * p;
                }
            }
        };
        let examples = self.positive_weights.len() + self.negative_weights.len();
        if vectors.len() * examples < PARALLEL_MIN_VALUES || groups == 0 {
            fill(vectors, &mut scores);
        } else {
            scores
                .par_chunks_mut(PARALLEL_CHUNK * groups)
                .zip(vectors.par_chunks(PARALLEL_CHUNK * dim))
                .for_each(|(out, vectors)| fill(vectors, out));
        }
        scores
    }

    /// The multi-interest score of `v` one dot product at a time: what
    /// the blocked scan is checked against.
    /// `sims` and `neg_sims` are scratch space for the similarities.
    #[cfg(test)]
    fn multi_score(&self, v: &[f32], sims: &mut [f32], neg_sims: &mut [f32]) -> f32 {
        for (s, p) in sims.iter_mut().zip(rows_of(&self.positives, self.dim)) {
            *s = dot(p, v);
        }
        let mut score = soft_max(sims, &self.positive_weights);
        if !neg_sims.is_empty() {
            for (s, n) in neg_sims.iter_mut().zip(rows_of(&self.negatives, self.dim)) {
                *s = dot(n, v);
            }
            score -= MULTI_GAMMA * soft_max(neg_sims, &self.negative_weights);
        }
        score
    }

    /// The centroid scorer's unit direction: normalised weighted mean of
    /// the positives minus beta times the weighted mean of the negatives
    /// (the positives' mean alone if that leaves nothing).
    fn centroid(&self) -> Vec<f32> {
        let mut positive = weighted_mean(&self.positives, &self.positive_weights, self.dim);
        normalise(&mut positive);
        let mut direction = positive.clone();
        if !self.negative_weights.is_empty() {
            let negative = weighted_mean(&self.negatives, &self.negative_weights, self.dim);
            for (d, n) in direction.iter_mut().zip(&negative) {
                *d -= CENTROID_BETA * n;
            }
        }
        if normalise(&mut direction) {
            direction
        } else {
            positive
        }
    }
}

/// `page` places shared in proportion to `weights` (largest remainders
/// first, a heavier share first on a tie), each share at least one.
fn page_shares(weights: &[f32], page: usize) -> Vec<usize> {
    let total: f32 = weights.iter().sum();
    let exact: Vec<f32> = weights.iter().map(|w| page as f32 * w / total).collect();
    let mut shares: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(weights[b].total_cmp(&weights[a]))
    });
    let given: usize = shares.iter().sum();
    for &i in order.iter().take(page.saturating_sub(given)) {
        shares[i] += 1;
    }
    shares.iter_mut().for_each(|s| *s = (*s).max(1));
    shares
}

/// The `n`-th highest of the `values` that `allowed` marks (all when
/// `None`; 1 is the highest; NaN left out), or the lowest when there are
/// fewer; 0 when there are none.
fn nth_highest(values: &[f32], allowed: Option<&[bool]>, n: usize) -> f32 {
    let mut finite: Vec<f32> = values
        .iter()
        .enumerate()
        .filter(|&(i, v)| !v.is_nan() && allowed.is_none_or(|a| a.get(i) == Some(&true)))
        .map(|(_, &v)| v)
        .collect();
    if finite.is_empty() {
        return 0.0;
    }
    let at = n.clamp(1, finite.len()) - 1;
    *finite.select_nth_unstable_by(at, |a, b| b.total_cmp(a)).1
}

fn rows_of(vectors: &[f32], dim: usize) -> std::slice::ChunksExact<'_, f32> {
    vectors.chunks_exact(dim)
}

fn weighted_mean(vectors: &[f32], weights: &[f32], dim: usize) -> Vec<f32> {
    let mut mean = vec![0f32; dim];
    let total: f32 = weights.iter().sum();
    for (v, w) in vectors.chunks_exact(dim).zip(weights) {
        for (m, x) in mean.iter_mut().zip(v) {
            *m += w / total * x;
        }
    }
    mean
}

/// Scales `v` to length 1; false (and `v` unchanged) when it has none.
fn normalise(v: &mut [f32]) -> bool {
    let norm = dot(v, v).sqrt();
    if !(norm.is_finite() && norm > 1e-12) {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

/// `τ · ln(Σ wᵢ exp(sᵢ / τ) / Σ wᵢ)`: the weighted soft maximum of `sims`,
/// between their weighted mean and their maximum, one value at a time (the
/// reference for the scan's SIMD kernel).
#[cfg(test)]
fn soft_max(sims: &[f32], weights: &[f32]) -> f32 {
    let best = sims.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !best.is_finite() {
        return best;
    }
    let (mut sum, mut total) = (0f32, 0f32);
    for (s, w) in sims.iter().zip(weights) {
        sum += w * ((s - best) / MULTI_TEMPERATURE).exp();
        total += w;
    }
    best + MULTI_TEMPERATURE * (sum / total).ln()
}

fn no_positive() -> Error {
    Error::InvalidArgument {
        name: "profile".into(),
        problem: "has no positive example; like at least one paper, text or file of papers".into(),
    }
}

/// Where an example comes from.
#[derive(Debug, Clone)]
pub enum ExampleSource {
    /// A library paper, by id or title (resolved as `similar` does).
    Paper(String),
    /// A free text, embedded with the model.
    Text(String),
    /// A paper read from a file (`origin` is `file:line`): its stored
    /// vector when the library holds it with the same title and abstract,
    /// else embedded on the fly. It is never stored.
    External { paper: Box<Paper>, origin: String },
}

/// One weighted example.
#[derive(Debug, Clone)]
pub struct Example {
    pub source: ExampleSource,
    /// How much it counts, as if given this many times; within
    /// [`WEIGHTS`].
    pub weight: f32,
}

/// The weights an example may have: a millionfold between the lightest
/// and the heaviest is more than any reading list needs, and keeps the
/// weighted sums and soft maxima of the scorers far from f32's limits.
pub const WEIGHTS: std::ops::RangeInclusive<f32> = 0.001..=1000.0;

/// Checks an example's weight against [`WEIGHTS`]: the problem, in words,
/// when it is outside (or not a number).
pub fn check_weight(weight: f32) -> std::result::Result<(), String> {
    if WEIGHTS.contains(&weight) {
        return Ok(());
    }
    Err(format!(
        "weight {weight} is outside {}..={}: write X@2 or X@0.5 (to leave a paper out, drop it or use --unlike)",
        WEIGHTS.start(),
        WEIGHTS.end()
    ))
}

/// What the user likes and dislikes.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub positives: Vec<Example>,
    pub negatives: Vec<Example>,
}

/// The papers to rank.
#[derive(Debug, Clone, Default)]
pub enum Candidates {
    /// Every library paper except the examples.
    #[default]
    Library,
    /// Papers from outside the library (a digest page, say), ranked without
    /// being stored; those the library holds unchanged use their stored
    /// vector, the rest are embedded.
    Papers(Vec<Paper>),
    /// The library papers with these ids (papers just ingested); unknown
    /// ids are skipped.
    Stored(Vec<String>),
}

/// Which candidates may be recommended: those the [`RecordFilter`] keeps
/// (date range, category prefixes), whose id is not in `exclude`, and,
/// when given, that came from one of the `sources` and belong to `topic`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Filters {
    /// The date range and category prefixes (see [`RecordFilter`]).
    #[serde(flatten)]
    pub record: RecordFilter,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Only papers ingested from one of these files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<SourceFilter>,
    /// Only members of a saved topic or subtopic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicFilter>,
}

/// The members of a saved topic or subtopic (`--topic`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TopicFilter {
    /// The topic as `relate topics` numbers it (`3`, or `3.1` for a subtopic).
    pub topic: String,
    /// Its label.
    pub label: String,
    /// The ids of its papers.
    #[serde(skip)]
    pub ids: std::collections::HashSet<String>,
}

impl TopicFilter {
    /// The members of saved topic `path`; the saved topics must be current
    /// (see [`crate::query::topic_filter`]).
    pub fn new(library: &Library, path: crate::library_topics::TopicPath) -> Result<TopicFilter> {
        let saved = crate::query::topic_filter(library, path)?;
        let slots: Vec<u32> = (0..library.len() as u32)
            .filter(|&slot| saved.contains(path, slot))
            .collect();
        let ids = library
            .papers_by_slots(&slots)?
            .into_iter()
            .map(|p| p.id)
            .collect();
        Ok(TopicFilter {
            topic: path.to_string(),
            label: saved.label_of(path).unwrap_or_default(),
            ids,
        })
    }
}

/// Papers ingested from given files (see
/// [`Library::ids_from_source`](crate::store::Library::ids_from_source)).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceFilter {
    /// The files, as recorded (canonical paths, `-` for standard input).
    pub files: Vec<String>,
    /// The ids of the papers ingested from them.
    #[serde(skip)]
    pub ids: std::collections::HashSet<String>,
}

impl SourceFilter {
    /// The papers ingested from `files` (named as they were given to
    /// ingest: the name is resolved the same way); `None` when no file is
    /// named.
    pub fn new<P: AsRef<Path>>(library: &Library, files: &[P]) -> Result<Option<SourceFilter>> {
        if files.is_empty() {
            return Ok(None);
        }
        let mut filter = SourceFilter::default();
        for file in files {
            let name = crate::ingest::source_name(file.as_ref());
            filter.ids.extend(library.ids_from_source(&name)?);
            filter.files.push(name);
        }
        Ok(Some(filter))
    }
}

impl Filters {
    /// Whether the filters look at anything but the id.
    fn reads_records(&self) -> bool {
        !self.record.is_empty() || self.sources.is_some() || self.topic.is_some()
    }

    /// Whether `paper` passes the date and category filters.
    pub fn keeps(&self, paper: &Paper) -> bool {
        if self
            .sources
            .as_ref()
            .is_some_and(|s| !s.ids.contains(&paper.id))
        {
            return false;
        }
        if self
            .topic
            .as_ref()
            .is_some_and(|t| !t.ids.contains(&paper.id))
        {
            return false;
        }
        if !self.record.keeps(paper) {
            return false;
        }
        true
    }
}

/// Turns texts into unit vectors with the library's model. Implemented by
/// [`Embedder`]; a caller can load the model lazily behind it, since it is
/// asked only when a text or an unknown paper needs a vector.
pub trait TextEmbedder {
    fn embed_texts(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

impl TextEmbedder for Embedder {
    fn embed_texts(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(self.embed(texts)?.vectors)
    }
}

/// A recommendation request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub profile: Profile,
    pub candidates: Candidates,
    pub filters: Filters,
    /// Number of results.
    pub k: usize,
    pub scorer: Scorer,
    /// How results are ordered: by the scorer alone, or fused with BM25
    /// for the positives' key title terms (library candidates only).
    pub rank: Rank,
    /// Also find, for each result, the sentence of its abstract that
    /// scores best for the profile (embeds every sentence of the results'
    /// abstracts, so it needs the model).
    pub explain: bool,
}

/// One example as resolved, for the `query` part of the answer.
#[derive(Debug, Clone, Serialize)]
pub struct ExampleInfo {
    /// `paper`, `text` or `file`.
    pub kind: &'static str,
    /// What the user gave: an id or title, a text, or `file:line`.
    pub input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// How a library paper was found: `id`, `title` or `closest title`; for
    /// a paper from a file, `library` when its stored vector was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<&'static str>,
    pub weight: f32,
}

/// The profile and settings a recommendation was made from.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileInfo {
    /// Always `recommend`.
    pub kind: &'static str,
    pub scorer: &'static str,
    /// `dense` or `hybrid`.
    pub rank: &'static str,
    /// With hybrid ranking: the terms searched with BM25.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lexical_terms: Vec<String>,
    pub positives: Vec<ExampleInfo>,
    pub negatives: Vec<ExampleInfo>,
    /// `library`, `papers` (given, not stored) or `stored` (given and
    /// ingested).
    pub candidates: &'static str,
    /// Candidates scored (examples and excluded ids left out; before the
    /// date and category filters).
    pub scored: usize,
    pub filters: Filters,
    pub k: usize,
}

/// A positive a result is close to.
#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    /// The positive's paper id (`None` for a liked text).
    pub id: Option<String>,
    /// The positive's title, or the liked text.
    pub title: String,
    /// Cosine similarity between the result and the positive.
    pub similarity: f32,
}

/// Why a paper is recommended.
#[derive(Debug, Clone, Serialize)]
pub struct Because {
    /// The closest positives, closest first.
    pub positives: Vec<Reason>,
    /// Terms (words and two-word phrases) the paper shares with those
    /// positives, most telling first: rarer among the results and
    /// positives, shared with closer positives, two-word terms first.
    pub terms: Vec<String>,
    /// The sentence of the paper's abstract that scores best for the
    /// profile (only when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentence: Option<String>,
}

/// One recommended paper: the result row of `similar`, and its reasons.
#[derive(Debug, Clone, Serialize)]
pub struct RecommendRow {
    #[serde(flatten)]
    pub row: ResultRow,
    pub because: Because,
}

/// A recommendation: the profile, and results best first.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub query: ProfileInfo,
    pub results: Vec<RecommendRow>,
}

/// An example with its vector and the text its reasons are taken from.
struct ResolvedExample {
    info: ExampleInfo,
    vector: Vec<f32>,
    /// Library slot, when the example is a library paper.
    slot: Option<u32>,
    /// Title and abstract, or the text.
    text: String,
    /// For a paper, what tells its copies (see [`crate::same_paper`]).
    key: Option<PaperKey>,
}

/// Ranks the candidates of `request` for its profile. The model is asked
/// only for texts and for papers the library does not hold unchanged.
pub fn recommend(
    library: &Library,
    embedder: &dyn TextEmbedder,
    request: &Request,
) -> Result<Recommendation> {
    if request.profile.positives.is_empty() {
        return Err(no_positive());
    }
    if let Err(problem) = request.filters.record.check() {
        return Err(Error::InvalidArgument {
            name: "filters".into(),
            problem,
        });
    }
    if request.rank == Rank::Hybrid {
        if matches!(request.candidates, Candidates::Papers(_)) {
            return Err(Error::InvalidArgument {
                name: "rank".into(),
                problem: "hybrid ranks library papers only: store the candidates too \
                          (--ingest), or rank them with --rank dense"
                    .into(),
            });
        }
        // Before any example is embedded.
        library.require_text_index()?;
    }
    let view = library.vectors()?;
    let dim = view.dim();
    let positives = resolve_examples(library, &view, embedder, &request.profile.positives)?;
    let negatives = resolve_examples(library, &view, embedder, &request.profile.negatives)?;
    // A paper both liked and unliked says nothing; it is most likely a typo.
    if let Some((liked, unliked)) = positives.iter().find_map(|p| {
        let slot = p.slot?;
        negatives
            .iter()
            .find(|n| n.slot == Some(slot))
            .map(|n| (p, n))
    }) {
        return Err(Error::InvalidArgument {
            name: "examples".into(),
            problem: format!(
                "paper {} is both liked (as {:?}) and unliked (as {:?}): keep it on one side",
                liked.info.id.as_deref().unwrap_or("?"),
                liked.info.input,
                unliked.info.input
            ),
        });
    }
    let mut profile = ProfileVectors::new(dim);
    for e in &positives {
        profile.add_positive(&e.vector, e.info.weight)?;
    }
    for e in &negatives {
        profile.add_negative(&e.vector, e.info.weight)?;
    }
    // Copies of the examples under other ids are the examples themselves.
    let mut asked = Shown::new();
    for e in positives.iter().chain(&negatives) {
        if let Some(key) = &e.key {
            asked.add(key.clone(), &e.vector);
        }
    }
    let example_ids: HashSet<&str> = positives
        .iter()
        .chain(&negatives)
        .filter_map(|e| e.info.id.as_deref())
        .collect();
    // An excluded id in any spelling of it (an arXiv id with or without
    // its prefix, address or version; a DOI with or without its address).
    let exclude: HashSet<String> = request
        .filters
        .exclude
        .iter()
        .map(|x| canonical_id(x))
        .collect();
    let excluded = |id: &str| example_ids.contains(id) || exclude.contains(&canonical_id(id));
    // The excluded library papers, found as `similar` finds a typed id; their
    // copies (see `DistinctRows`) are left out too.
    let mut excluded_slots = Vec::new();
    for id in &request.filters.exclude {
        if let Some((slot, paper)) = find_by_id(library, id)? {
            if let Some(v) = view.vector(slot) {
                asked.add(PaperKey::of(&paper), v);
            }
            excluded_slots.push(slot);
        }
    }
    let k = request.k;
    // The key terms of the liked papers' titles (and liked texts): one
    // list, or with the multi-interest scorer one per interest, whose
    // matches are then shared out as the scorer shares its results.
    let interests = profile
        .balanced_interests(request.scorer)
        .unwrap_or_else(|| vec![(0..positives.len()).collect()]);
    let interest_terms: Vec<Vec<String>> = match request.rank {
        Rank::Dense => Vec::new(),
        Rank::Hybrid => interests
            .iter()
            .map(|interest| {
                let texts: Vec<(&str, f32)> = interest
                    .iter()
                    .map(|&i| {
                        let e = &positives[i];
                        (e.info.title.as_deref().unwrap_or(&e.text), e.info.weight)
                    })
                    .collect();
                lexical::key_terms(&texts, MAX_QUERY_TERMS)
            })
            .collect(),
    };
    let interest_weights = profile.interest_weights(&interests);
    let mut lexical_terms: Vec<String> = Vec::new();
    for term in interest_terms.iter().flatten() {
        if !lexical_terms.contains(term) {
            lexical_terms.push(term.clone());
        }
    }
    // Liked text counts its words fully; liked papers alone less (see
    // `lexical::PAPER_QUERY_WEIGHT`).
    let lexical_weight = if positives.iter().all(|e| e.info.kind != "text") {
        lexical::PAPER_QUERY_WEIGHT
    } else {
        lexical::TEXT_QUERY_WEIGHT
    };

    let (candidates_kind, scored, chosen) = match &request.candidates {
        Candidates::Library | Candidates::Stored(_) => {
            let mut allowed = match &request.candidates {
                Candidates::Stored(ids) => {
                    let mut allowed = vec![false; view.len()];
                    for id in ids {
                        if let Some(slot) = library.slot_of(id)? {
                            if let Some(a) = allowed.get_mut(slot as usize) {
                                *a = true;
                            }
                        }
                    }
                    allowed
                }
                _ => vec![true; view.len()],
            };
            for e in positives.iter().chain(&negatives) {
                if let Some(a) = e.slot.and_then(|s| allowed.get_mut(s as usize)) {
                    *a = false;
                }
            }
            let mut left_out = excluded_slots.clone();
            for id in &example_ids {
                left_out.extend(library.slot_of(id)?);
            }
            for slot in left_out {
                if let Some(a) = allowed.get_mut(slot as usize) {
                    *a = false;
                }
            }
            let scores = profile.rank_view(request.scorer, &view, Some(&allowed), k)?;
            let scored = allowed.iter().filter(|&&a| a).count();
            let lexical = match request.rank {
                Rank::Dense => Vec::new(),
                Rank::Hybrid => {
                    let lists = interest_terms
                        .iter()
                        .map(|terms| lexical_slots(library, terms, &allowed))
                        .collect::<Result<Vec<_>>>()?;
                    share_lists(&lists, &interest_weights)
                }
            };
            // Copies of papers (see `DistinctRows`) may leave fewer than `k`:
            // then the order is read deeper.
            let mut depth = k.saturating_add(COPIES_MARGIN);
            let chosen = loop {
                let order = match request.rank {
                    Rank::Dense => dense_order(&scores, &allowed, &request.filters, depth),
                    Rank::Hybrid => hybrid_order(
                        &scores,
                        &allowed,
                        &request.filters,
                        depth,
                        &lexical,
                        lexical_weight,
                    ),
                };
                let chosen =
                    best_library_papers(library, &view, order, &request.filters, k, asked.clone())?;
                if chosen.len() >= k || depth >= scored || request.filters.reads_records() {
                    break chosen;
                }
                depth = depth.saturating_mul(4);
            };
            let kind = match request.candidates {
                Candidates::Library => "library",
                _ => "stored",
            };
            (kind, scored, chosen)
        }
        Candidates::Papers(papers) => {
            // A paper given twice (in two files) is ranked once.
            let mut seen = HashSet::new();
            let papers: Vec<&Paper> = papers
                .iter()
                .filter(|p| !excluded(&p.id) && seen.insert(p.id.as_str()))
                .collect();
            let vectors = paper_vectors(library, &view, embedder, &papers)?;
            let scores = profile.rank_scores(request.scorer, &vectors, None, k)?;
            let mut order: Vec<usize> =
                (0..papers.len()).filter(|&i| !scores[i].is_nan()).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            let mut chosen = DistinctRows::new(asked, k);
            for i in order {
                if chosen.is_full() {
                    break;
                }
                if request.filters.keeps(papers[i]) {
                    let vector = &vectors[i * dim..(i + 1) * dim];
                    offer(
                        &mut chosen,
                        papers[i].clone(),
                        None,
                        scores[i],
                        vector,
                        None,
                    );
                }
            }
            let chosen = chosen.into_rows();
            ("papers", papers.len(), chosen)
        }
    };

    let topics = library_topics::load_fresh(library)?;
    let mut reasons = reasons(&positives, &profile, &chosen);
    if request.explain {
        let best = best_sentences(embedder, &profile, request.scorer, &chosen, dim)?;
        for (because, sentence) in reasons.iter_mut().zip(best) {
            because.sentence = sentence;
        }
    }
    let results = chosen
        .into_iter()
        .zip(reasons)
        .enumerate()
        .map(|(i, (c, because))| RecommendRow {
            row: ResultRow {
                lexical_rank: c.fused.and_then(|f| f.0),
                fused: c.fused.map(|f| f.1),
                copies: c.copies,
                ..ResultRow::from_paper(
                    i + 1,
                    c.paper,
                    c.score,
                    c.slot
                        .and_then(|slot| topics.as_ref().and_then(|t| t.tag(slot))),
                )
            },
            because,
        })
        .collect();
    Ok(Recommendation {
        query: ProfileInfo {
            kind: "recommend",
            scorer: request.scorer.name(),
            rank: request.rank.name(),
            lexical_terms,
            positives: positives.into_iter().map(|e| e.info).collect(),
            negatives: negatives.into_iter().map(|e| e.info).collect(),
            candidates: candidates_kind,
            scored,
            filters: request.filters.clone(),
            k,
        },
        results,
    })
}

/// A candidate chosen for the results.
struct Chosen {
    paper: Paper,
    slot: Option<u32>,
    score: f32,
    vector: Vec<f32>,
    /// With hybrid ranking: the BM25 rank (if any) and the fused score.
    fused: Option<(Option<usize>, f32)>,
    /// Ids of copies of the paper left out (see [`crate::same_paper`]).
    copies: Vec<String>,
}

impl NamesCopies for Chosen {
    fn ids_mut(&mut self) -> (&mut String, &mut Vec<String>) {
        (&mut self.paper.id, &mut self.copies)
    }
}

/// Offers a candidate to `chosen` (see [`DistinctRows::offer`]), copying
/// its vector only when it is chosen.
fn offer(
    chosen: &mut DistinctRows<Chosen>,
    mut paper: Paper,
    slot: Option<u32>,
    score: f32,
    vector: &[f32],
    fused: Option<(Option<usize>, f32)>,
) {
    let key = PaperKey::of(&paper);
    let id = std::mem::take(&mut paper.id);
    chosen.offer(key, vector, id, |id, _| Chosen {
        paper: Paper { id, ..paper },
        slot,
        score,
        vector: vector.to_vec(),
        fused,
        copies: Vec::new(),
    });
}

/// A library candidate in ranking order: slot, profile score, and with
/// hybrid ranking its BM25 rank and fused score.
type Ranked = (u32, f32, Option<(Option<usize>, f32)>);

/// Allowed, scored slots by score, best first (ties to the lower slot):
/// only the best `k` when no filter reads records, else all of them.
fn dense_order(scores: &[f32], allowed: &[bool], filters: &Filters, k: usize) -> Vec<Ranked> {
    let mut order: Vec<(f32, u32)> = scores
        .iter()
        .zip(allowed)
        .enumerate()
        .filter(|&(_, (s, a))| *a && !s.is_nan())
        .map(|(slot, (&s, _))| (s, slot as u32))
        .collect();
    let better = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if !filters.reads_records() && k < order.len() {
        if k == 0 {
            return Vec::new();
        }
        order.select_nth_unstable_by(k - 1, better);
        order.truncate(k);
    }
    order.sort_unstable_by(better);
    order.into_iter().map(|(s, slot)| (slot, s, None)).collect()
}

/// One ranking from several (each best first), shared among them by
/// weight as [`page_shares`] shares a page: the next slot always comes from
/// the list furthest below its share so far; a slot already taken is
/// skipped. At most [`FUSION_DEPTH`] slots.
fn share_lists(lists: &[Vec<u32>], weights: &[f32]) -> Vec<u32> {
    if let [only] = lists {
        return only.clone();
    }
    let total: f32 = weights.iter().sum();
    let mut next = vec![0usize; lists.len()];
    let mut taken_from = vec![0usize; lists.len()];
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while out.len() < FUSION_DEPTH {
        // The list with the least taken for its weight that has more.
        let Some(i) = (0..lists.len())
            .filter(|&i| next[i] < lists[i].len())
            .min_by(|&a, &b| {
                let behind =
                    |i: usize| taken_from[i] as f32 * total / weights[i].max(f32::MIN_POSITIVE);
                behind(a).total_cmp(&behind(b)).then(a.cmp(&b))
            })
        else {
            break;
        };
        let slot = lists[i][next[i]];
        next[i] += 1;
        if seen.insert(slot) {
            out.push(slot);
            taken_from[i] += 1;
        }
    }
    out
}

/// The allowed slots matching the key terms by BM25, best first, at most
/// [`FUSION_DEPTH`].
fn lexical_slots(library: &Library, terms: &[String], allowed: &[bool]) -> Result<Vec<u32>> {
    let Some(query) = lexical::fts_query(terms) else {
        return Ok(Vec::new());
    };
    // Read past the examples and excluded papers, which are not allowed.
    let hits = library.text_search(&query, FUSION_DEPTH * 4)?;
    Ok(hits
        .into_iter()
        .map(|(slot, _)| slot)
        .filter(|&slot| allowed.get(slot as usize).copied().unwrap_or(false))
        .take(FUSION_DEPTH)
        .collect())
}

/// The dense order fused with the BM25 order (see [`crate::lexical`]):
/// the fused top of both lists, then (for filters that drop papers) the
/// rest of the dense order.
fn hybrid_order(
    scores: &[f32],
    allowed: &[bool],
    filters: &Filters,
    k: usize,
    lexical: &[u32],
    lexical_weight: f32,
) -> Vec<Ranked> {
    let depth = FUSION_DEPTH.max(k);
    let dense = dense_order(scores, allowed, filters, depth);
    let dense_slots: Vec<u32> = dense.iter().take(depth).map(|d| d.0).collect();
    let lexical: Vec<u32> = lexical
        .iter()
        .copied()
        .filter(|&s| !scores[s as usize].is_nan())
        .collect();
    let fused = lexical::fuse(&dense_slots, &lexical, lexical_weight);
    let listed: HashSet<u32> = fused.iter().map(|f| f.slot).collect();
    let mut order: Vec<Ranked> = fused
        .iter()
        .map(|f| {
            (
                f.slot,
                scores[f.slot as usize],
                Some((f.lexical_rank, f.score)),
            )
        })
        .collect();
    order.extend(
        dense
            .into_iter()
            .enumerate()
            .skip(depth)
            .filter(|(_, d)| !listed.contains(&d.0))
            .map(|(i, (slot, s, _))| {
                (
                    slot,
                    s,
                    Some((None, 1.0 / (lexical::RRF_K + (i + 1) as f32))),
                )
            }),
    );
    order
}

/// The first `k` papers of `order` that pass `filters`. Records are read in
/// order, only as far as needed.
fn best_library_papers(
    library: &Library,
    view: &VectorView,
    order: Vec<Ranked>,
    filters: &Filters,
    k: usize,
    asked: Shown,
) -> Result<Vec<Chosen>> {
    let mut chosen = DistinctRows::new(asked, k);
    for chunk in order.chunks(FETCH_CHUNK.max(k)) {
        if chosen.is_full() {
            break;
        }
        let slots: Vec<u32> = chunk.iter().map(|c| c.0).collect();
        for (paper, &(slot, score, fused)) in
            library.papers_by_slots(&slots)?.into_iter().zip(chunk)
        {
            if chosen.is_full() {
                break;
            }
            if filters.keeps(&paper) {
                let vector = view.vector(slot).unwrap_or(&[]);
                offer(&mut chosen, paper, Some(slot), score, vector, fused);
            }
        }
    }
    let chosen = chosen.into_rows();
    let slots: Vec<u32> = chosen.iter().filter_map(|c| c.slot).collect();
    library.check_vector_rows(view, &slots)?;
    Ok(chosen)
}

/// Vectors of papers from outside the library: stored ones for papers the
/// library holds with the same title and abstract, embedded ones (in one
/// batch) for the rest. Flat, in the order given.
fn paper_vectors(
    library: &Library,
    view: &VectorView,
    embedder: &dyn TextEmbedder,
    papers: &[&Paper],
) -> Result<Vec<f32>> {
    let dim = view.dim();
    let owned: Vec<Paper> = papers.iter().map(|p| (*p).clone()).collect();
    let changes = library.classify(&owned)?;
    let mut out = vec![0f32; papers.len() * dim];
    let mut to_embed = Vec::new();
    for (i, (paper, change)) in papers.iter().zip(&changes).enumerate() {
        let stored = if change.needs_vector() {
            None
        } else {
            library.slot_of(&paper.id)?.and_then(|s| view.vector(s))
        };
        match stored {
            Some(v) => out[i * dim..(i + 1) * dim].copy_from_slice(v),
            None => to_embed.push(i),
        }
    }
    if !to_embed.is_empty() {
        let texts: Vec<String> = to_embed
            .iter()
            .map(|&i| papers[i].embedding_text())
            .collect();
        let vectors = embed_checked(embedder, &texts, dim)?;
        for (&i, v) in to_embed.iter().zip(vectors) {
            out[i * dim..(i + 1) * dim].copy_from_slice(&v);
        }
    }
    Ok(out)
}

fn embed_checked(
    embedder: &dyn TextEmbedder,
    texts: &[String],
    dim: usize,
) -> Result<Vec<Vec<f32>>> {
    let vectors = embedder.embed_texts(texts)?;
    if vectors.len() != texts.len() {
        return Err(Error::LengthMismatch {
            field: "embedded texts",
            expected: texts.len(),
            received: vectors.len(),
        });
    }
    if let Some(v) = vectors.iter().find(|v| v.len() != dim) {
        return Err(Error::WrongDimension {
            expected: dim,
            received: v.len(),
        });
    }
    Ok(vectors)
}

/// Resolves each example to a vector: library papers by id or title, texts
/// and unknown file papers embedded (all in one batch).
fn resolve_examples(
    library: &Library,
    view: &VectorView,
    embedder: &dyn TextEmbedder,
    examples: &[Example],
) -> Result<Vec<ResolvedExample>> {
    let dim = view.dim();
    let mut out = Vec::with_capacity(examples.len());
    let mut to_embed: Vec<(usize, String)> = Vec::new();
    for example in examples {
        let weight = example.weight;
        check_weight(weight).map_err(|problem| Error::InvalidArgument {
            name: "weight".into(),
            problem,
        })?;
        let resolved = match &example.source {
            ExampleSource::Paper(input) => {
                let found = resolve_paper(library, input)?;
                library.check_vector_rows(view, &[found.slot])?;
                let vector = view
                    .vector(found.slot)
                    .ok_or_else(|| Error::PaperNotFound {
                        query: found.paper.id.clone(),
                    })?
                    .to_vec();
                ResolvedExample {
                    text: found.paper.embedding_text(),
                    key: Some(PaperKey::of(&found.paper)),
                    info: ExampleInfo {
                        kind: "paper",
                        input: input.clone(),
                        id: Some(found.paper.id),
                        title: Some(found.paper.title),
                        matched_by: Some(found.matched_by),
                        weight,
                    },
                    vector,
                    slot: Some(found.slot),
                }
            }
            ExampleSource::Text(text) => {
                if text.trim().is_empty() {
                    return Err(Error::InvalidArgument {
                        name: "liked or unliked text".into(),
                        problem: "is empty; describe what the papers are about".into(),
                    });
                }
                to_embed.push((out.len(), text.clone()));
                ResolvedExample {
                    text: text.clone(),
                    key: None,
                    info: ExampleInfo {
                        kind: "text",
                        input: text.clone(),
                        id: None,
                        title: None,
                        matched_by: None,
                        weight,
                    },
                    vector: Vec::new(),
                    slot: None,
                }
            }
            ExampleSource::External { paper, origin } => {
                let unchanged =
                    !library.classify(std::slice::from_ref(paper.as_ref()))?[0].needs_vector();
                let slot = if unchanged {
                    library.slot_of(&paper.id)?
                } else {
                    None
                };
                if let Some(slot) = slot {
                    library.check_vector_rows(view, &[slot])?;
                }
                let stored = slot.and_then(|s| view.vector(s)).map(<[f32]>::to_vec);
                if stored.is_none() {
                    to_embed.push((out.len(), paper.embedding_text()));
                }
                ResolvedExample {
                    text: paper.embedding_text(),
                    key: Some(PaperKey::of(paper)),
                    info: ExampleInfo {
                        kind: "file",
                        input: origin.clone(),
                        id: Some(paper.id.clone()),
                        title: Some(paper.title.clone()),
                        matched_by: stored.as_ref().map(|_| "library"),
                        weight,
                    },
                    vector: stored.unwrap_or_default(),
                    slot,
                }
            }
        };
        out.push(resolved);
    }
    if !to_embed.is_empty() {
        let texts: Vec<String> = to_embed.iter().map(|(_, t)| t.clone()).collect();
        for ((i, _), v) in to_embed.iter().zip(embed_checked(embedder, &texts, dim)?) {
            out[*i].vector = v;
        }
    }
    Ok(out)
}

/// The papers of a file in any format `ingest` reads, and the records that
/// were rejected (each with file and line). Warnings are dropped.
#[derive(Debug, Clone, Default)]
pub struct FilePapers {
    /// Each paper with the `file:line` it starts at.
    pub papers: Vec<(Paper, String)>,
    pub rejected: Vec<Problem>,
}

/// Reads the papers of `path` (format detected as `ingest` does); a folder
/// gives the papers of the paper files below it, as `ingest` reads it.
pub fn read_paper_file(path: &Path) -> Result<FilePapers> {
    if !path.is_dir() {
        return read_one_paper_file(path);
    }
    let mut out = FilePapers::default();
    for file in crate::corpus::paper_files_in(path, None)?.papers {
        let read = read_one_paper_file(&file)?;
        out.papers.extend(read.papers);
        out.rejected.extend(read.rejected);
    }
    Ok(out)
}

fn read_one_paper_file(path: &Path) -> Result<FilePapers> {
    let shown = path.display().to_string();
    let mut out = FilePapers::default();
    for event in read_papers(path, None)? {
        match event {
            ReadEvent::Paper { paper, line } => out.papers.push((paper, format!("{shown}:{line}"))),
            ReadEvent::Warning(_) => {}
            ReadEvent::Rejected(problem) => out.rejected.push(problem),
        }
    }
    Ok(out)
}

/// Sentences shorter than this many words are not offered as the best one
/// (in scripts written without spaces, a word is counted per
/// [`CHARACTERS_PER_WORD`] characters).
const MIN_SENTENCE_WORDS: usize = 4;
/// Characters that stand for a word in text without spaces (Chinese,
/// Japanese).
const CHARACTERS_PER_WORD: usize = 2;

/// The sentences of an abstract: split after `.`, `?` or `!` followed by a
/// space and a capital letter or digit (so "e.g. this" and "1.5" stay
/// whole), and after the full-width `。`, `？` and `！` of Chinese and
/// Japanese; very short ones are dropped.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let full_width = matches!(c, '。' | '？' | '！');
        if !full_width && !matches!(c, '.' | '?' | '!') {
            continue;
        }
        let rest = &text[i + c.len_utf8()..];
        let after_space = rest.trim_start();
        let ends = (full_width && !after_space.is_empty())
            || rest.starts_with(char::is_whitespace)
                && after_space
                    .chars()
                    .next()
                    .is_some_and(|n| n.is_uppercase() || n.is_ascii_digit());
        if ends {
            out.push(text[start..i + c.len_utf8()].trim());
            start = text.len() - after_space.len();
            while chars.peek().is_some_and(|&(j, _)| j < start) {
                chars.next();
            }
        }
    }
    out.push(text[start..].trim());
    out.retain(|s| {
        let words = s.split_whitespace().count();
        words >= MIN_SENTENCE_WORDS
            || (words < 2
                && s.chars()
                    .any(|c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{9fff}'))
                && s.chars().count() >= MIN_SENTENCE_WORDS * CHARACTERS_PER_WORD)
    });
    out
}

/// For each chosen paper, the sentence of its abstract that the scorer
/// likes best (all sentences embedded in one batch); `None` for a paper
/// without an abstract sentence.
fn best_sentences(
    embedder: &dyn TextEmbedder,
    profile: &ProfileVectors,
    scorer: Scorer,
    chosen: &[Chosen],
    dim: usize,
) -> Result<Vec<Option<String>>> {
    let per_paper: Vec<Vec<&str>> = chosen
        .iter()
        .map(|c| sentences(&c.paper.abstract_text))
        .collect();
    let texts: Vec<String> = per_paper.iter().flatten().map(|s| s.to_string()).collect();
    if texts.is_empty() {
        return Ok(vec![None; chosen.len()]);
    }
    let vectors: Vec<f32> = embed_checked(embedder, &texts, dim)?.concat();
    let scores = profile.score_all(scorer, &vectors)?;
    let mut at = 0;
    Ok(per_paper
        .iter()
        .map(|list| {
            let own = &scores[at..at + list.len()];
            at += list.len();
            own.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .map(|(i, _)| list[i].to_string())
        })
        .collect())
}

/// The reasons for each chosen paper: its closest positives and the terms
/// it shares with them.
fn reasons(
    positives: &[ResolvedExample],
    profile: &ProfileVectors,
    chosen: &[Chosen],
) -> Vec<Because> {
    // Term sets of the positives and the results, computed together so
    // that plurals fold the same way in both.
    let texts: Vec<String> = positives
        .iter()
        .map(|e| e.text.clone())
        .chain(chosen.iter().map(|c| c.paper.embedding_text()))
        .collect();
    let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let sets = crate::topics::term_sets(&text_refs);
    let (positive_sets, result_sets) = sets.split_at(positives.len());
    // How many of these texts hold each term: shared everywhere says little.
    let mut df: HashMap<&str, usize> = HashMap::new();
    for set in &sets {
        for t in set {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let n = sets.len() as f64;
    chosen
        .iter()
        .zip(result_sets)
        .map(|(c, terms)| {
            let sims = profile.positive_similarities(&c.vector);
            let mut closest: Vec<usize> = (0..positives.len()).collect();
            closest.sort_by(|&a, &b| sims[b].total_cmp(&sims[a]).then(a.cmp(&b)));
            closest.truncate(REASON_POSITIVES);
            let reasons = closest
                .iter()
                .map(|&i| {
                    let e = &positives[i];
                    Reason {
                        id: e.info.id.clone(),
                        title: e.info.title.clone().unwrap_or_else(|| e.info.input.clone()),
                        similarity: sims[i].clamp(-1.0, 1.0),
                    }
                })
                .collect();
            let mut shared: Vec<(f64, &str)> = terms
                .iter()
                .filter_map(|t| {
                    // A term shared with a close positive says more than
                    // one shared with a distant one.
                    let mut holders = closest
                        .iter()
                        .filter(|&&i| positive_sets[i].contains(t))
                        .peekable();
                    holders.peek()?;
                    let closeness: f64 = holders.map(|&i| sims[i].max(0.0) as f64).sum();
                    let bonus = if t.contains(' ') { BIGRAM_BONUS } else { 1.0 };
                    let rarity = (1.0 + n / df[t.as_str()] as f64).ln();
                    Some((closeness * bonus * rarity, t.as_str()))
                })
                .collect();
            shared.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
            let mut kept: Vec<String> = Vec::new();
            for (_, t) in shared {
                if kept.len() >= REASON_TERMS {
                    break;
                }
                let covered = t.split(' ').any(|w| {
                    kept.iter()
                        .any(|k| k.split(' ').any(|kw| crate::topics::same_word(kw, w)))
                });
                if !covered {
                    kept.push(t.to_string());
                }
            }
            Because {
                positives: reasons,
                terms: kept,
                sentence: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    /// Slots of `vectors` (dim 3) ordered by score, best first.
    fn ranking(profile: &ProfileVectors, scorer: Scorer, vectors: &[f32]) -> Vec<usize> {
        let scores = profile.score_all(scorer, vectors).unwrap();
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        order
    }

    #[test]
    fn one_positive_scores_by_cosine_with_both_scorers() {
        let mut p = ProfileVectors::new(3);
        p.add_positive(&[2.0, 0.0, 0.0], 1.0).unwrap();
        let vectors: Vec<f32> = [
            unit(&[1.0, 1.0, 0.0]),
            unit(&[1.0, 0.0, 0.0]),
            unit(&[0.0, 0.0, 1.0]),
        ]
        .concat();
        for scorer in [Scorer::Centroid, Scorer::Multi] {
            let s = p.score_all(scorer, &vectors).unwrap();
            assert!((s[0] - 0.5f32.sqrt()).abs() < 1e-5, "{scorer}: {s:?}");
            assert!((s[1] - 1.0).abs() < 1e-5, "{scorer}: {s:?}");
            assert!(s[2].abs() < 1e-6, "{scorer}: {s:?}");
        }
    }

    #[test]
    fn multi_interest_keeps_both_interests_where_the_centroid_prefers_the_middle() {
        let mut p = ProfileVectors::new(3);
        p.add_positive(&[1.0, 0.0, 0.0], 1.0).unwrap();
        p.add_positive(&[0.0, 1.0, 0.0], 1.0).unwrap();
        // A paper right on the first interest, one between both, one unrelated.
        let on_first = unit(&[1.0, 0.05, 0.1]);
        let between = unit(&[1.0, 1.0, 0.9]);
        let unrelated = unit(&[0.0, 0.0, 1.0]);
        let vectors = [on_first, between, unrelated].concat();
        assert_eq!(ranking(&p, Scorer::Centroid, &vectors), vec![1, 0, 2]);
        assert_eq!(ranking(&p, Scorer::Multi, &vectors), vec![0, 1, 2]);
    }

    #[test]
    fn a_view_scanned_in_blocks_scores_as_the_whole_slice() {
        // More rows than one scan block, so the blocks' seams are crossed.
        let rows = SCAN_BLOCK_ROWS + 1_000;
        let mut values = Vec::with_capacity(rows * 3);
        for i in 0..rows {
            let t = (i % 997) as f32 / 997.0;
            values.extend(unit(&[1.0 - t, t, 0.3 + (i % 13) as f32 * 0.05]));
        }
        let view = VectorView::in_memory(values.clone(), 3, 1);
        let mut p = ProfileVectors::new(3);
        p.add_positive(&[1.0, 0.0, 0.0], 1.0).unwrap();
        p.add_positive(&[0.0, 1.0, 0.0], 2.0).unwrap();
        p.add_negative(&[0.0, 0.0, 1.0], 1.0).unwrap();
        let allowed: Vec<bool> = (0..rows).map(|i| i % 5 != 0).collect();
        for scorer in [Scorer::Centroid, Scorer::Multi] {
            let whole = p.rank_scores(scorer, &values, Some(&allowed), 10).unwrap();
            let blocks = p.rank_view(scorer, &view, Some(&allowed), 10).unwrap();
            assert_eq!(whole, blocks, "{scorer:?}");
        }
    }

    #[test]
    fn the_first_results_are_shared_among_interests_by_weight() {
        // Two interests far apart; the first has 30 candidates very close
        // to it, the second 30 further from it: by closeness alone every
        // one of the first 10 would be the first interest's.
        let dim = 3;
        let mut vectors = Vec::new();
        for i in 0..30 {
            let t = i as f32 * 0.001;
            vectors.extend(unit(&[1.0, t, 0.05 + t]));
            vectors.extend(unit(&[t, 1.0, 0.6 + t]));
        }
        let interest_of = |slot: usize| slot % 2;
        let first_ten = |p: &ProfileVectors, scores: &[f32]| {
            let mut order: Vec<usize> = (0..scores.len()).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
            let second = order[..10].iter().filter(|&&s| interest_of(s) == 1).count();
            assert_eq!(p.interests().len(), 2);
            second
        };
        let mut even = ProfileVectors::new(dim);
        even.add_positive(&[1.0, 0.0, 0.0], 1.0).unwrap();
        even.add_positive(&[0.0, 1.0, 0.0], 1.0).unwrap();
        assert_eq!(first_ten(&even, &even.multi_scores(&vectors)), 0);
        let balanced = even.rank_scores(Scorer::Multi, &vectors, None, 10).unwrap();
        assert_eq!(first_ten(&even, &balanced), 5);
        let mut heavy = even.clone();
        heavy.add_positive(&[0.0, 1.0, 0.1], 2.0).unwrap();
        let shared = heavy
            .rank_scores(Scorer::Multi, &vectors, None, 10)
            .unwrap();
        // Weight 3 of 4: 8 of the first 10 (rounded), at least one left.
        assert_eq!(first_ten(&heavy, &shared), 8);
        // Asked for two: one each.
        let two = even.rank_scores(Scorer::Multi, &vectors, None, 2).unwrap();
        let mut order: Vec<usize> = (0..two.len()).collect();
        order.sort_by(|&a, &b| two[b].total_cmp(&two[a]));
        let mut first_two: Vec<usize> = order[..2].iter().map(|&s| interest_of(s)).collect();
        first_two.sort();
        assert_eq!(first_two, [0, 1]);
        assert_eq!(page_shares(&[1.0, 3.0], 10), [2, 8]);
        assert_eq!(page_shares(&[1.0, 1.0, 1.0], 10), [4, 3, 3]);
        assert_eq!(page_shares(&[100.0, 1.0], 10), [10, 1]);
        // One interest: the plain soft maximum.
        let mut one = ProfileVectors::new(dim);
        one.add_positive(&[1.0, 0.0, 0.0], 1.0).unwrap();
        one.add_positive(&[1.0, 0.3, 0.0], 1.0).unwrap();
        assert_eq!(one.interests().len(), 1);
        assert_eq!(
            one.rank_scores(Scorer::Multi, &vectors, None, 10).unwrap(),
            one.multi_scores(&vectors)
        );
        // Rows not allowed (the examples themselves, say) do not count
        // towards an interest's share.
        let mut allowed = vec![true; vectors.len() / dim];
        for slot in (1..20).step_by(2) {
            allowed[slot] = false;
        }
        let among = even
            .rank_scores(Scorer::Multi, &vectors, Some(&allowed), 10)
            .unwrap();
        let mut order: Vec<usize> = (0..among.len()).filter(|&s| allowed[s]).collect();
        order.sort_by(|&a, &b| among[b].total_cmp(&among[a]));
        let second = order[..10].iter().filter(|&&s| interest_of(s) == 1).count();
        assert_eq!(second, 5);
    }

    #[test]
    fn lexical_lists_are_shared_by_weight_without_repeats() {
        assert_eq!(share_lists(&[vec![3, 1, 2]], &[1.0]), [3, 1, 2]);
        // Weight 1 and 3: the second list gives three slots for each of
        // the first's (ties to the first); a slot both hold counts once,
        // for the list that reached it first (11, taken from the second).
        let a = vec![10, 11, 12, 13];
        let b = vec![20, 21, 11, 22, 23, 24, 25, 26];
        assert_eq!(
            share_lists(&[a, b], &[1.0, 3.0]),
            [10, 20, 21, 11, 12, 22, 23, 24, 13, 25, 26]
        );
        let long: Vec<u32> = (0..500).collect();
        assert_eq!(
            share_lists(&[long.clone(), long], &[1.0, 1.0]).len(),
            FUSION_DEPTH
        );
    }

    #[test]
    fn weights_count_as_repetition_and_move_the_ranking() {
        let near_a = unit(&[1.0, 0.3, 0.0]);
        let near_b = unit(&[0.3, 1.0, 0.0]);
        let vectors = [near_a, near_b].concat();
        for scorer in [Scorer::Centroid, Scorer::Multi] {
            let mut even = ProfileVectors::new(3);
            even.add_positive(&[1.0, 0.0, 0.0], 1.0).unwrap();
            even.add_positive(&[0.0, 1.0, 0.0], 1.0).unwrap();
            let s = even.score_all(scorer, &vectors).unwrap();
            assert!((s[0] - s[1]).abs() < 1e-5, "{scorer}: symmetric {s:?}");

            let mut weighted = ProfileVectors::new(3);
            weighted.add_positive(&[1.0, 0.0, 0.0], 1.0).unwrap();
            weighted.add_positive(&[0.0, 1.0, 0.0], 2.0).unwrap();
            let mut repeated = ProfileVectors::new(3);
            repeated.add_positive(&[1.0, 0.0, 0.0], 1.0).unwrap();
            repeated.add_positive(&[0.0, 1.0, 0.0], 1.0).unwrap();
            repeated.add_positive(&[0.0, 1.0, 0.0], 1.0).unwrap();
            let w = weighted.score_all(scorer, &vectors).unwrap();
            let r = repeated.score_all(scorer, &vectors).unwrap();
            // The multi-interest scorer gives a heavier interest more of
            // the first results instead (see the balancing test below).
            if scorer == Scorer::Centroid {
                assert!(w[1] > w[0], "{scorer}: weight 2 favours b {w:?}");
            }
            for (x, y) in w.iter().zip(&r) {
                assert!((x - y).abs() < 1e-5, "{scorer}: {w:?} vs {r:?}");
            }
        }
    }

    #[test]
    fn a_negative_pushes_its_neighbours_down() {
        let near_neg = unit(&[1.0, 0.0, 0.8]);
        let away = unit(&[1.0, 0.0, -0.8]);
        let vectors = [near_neg, away].concat();
        for scorer in [Scorer::Centroid, Scorer::Multi] {
            let mut p = ProfileVectors::new(3);
            p.add_positive(&[1.0, 0.0, 0.0], 1.0).unwrap();
            let before = p.score_all(scorer, &vectors).unwrap();
            assert!((before[0] - before[1]).abs() < 1e-5, "{scorer}: {before:?}");
            p.add_negative(&[0.0, 0.0, 1.0], 1.0).unwrap();
            assert_eq!(p.positive_count(), 1);
            let after = p.score_all(scorer, &vectors).unwrap();
            assert!(after[1] > after[0], "{scorer}: {after:?}");
        }
    }

    #[test]
    fn a_large_multi_interest_scan_split_across_threads_scores_every_vector() {
        let dim = 64;
        // Enough candidates for the scan to be split across threads.
        let n = PARALLEL_MIN_VALUES / (dim * 4) + 777;
        let vectors = crate::index::clustered_unit_vectors(n, dim, 30, 0.5, 3);
        let mut p = ProfileVectors::new(dim);
        for (slot, weight) in [(5, 1.0), (900, 2.0), (15_000, 0.5)] {
            p.add_positive(&vectors[slot * dim..(slot + 1) * dim], weight)
                .unwrap();
        }
        p.add_negative(&vectors[77 * dim..78 * dim], 1.0).unwrap();
        let scores = p.multi_scores(&vectors);
        assert_eq!(scores.len(), n);
        let (mut sims, mut neg) = (vec![0.0; 3], vec![0.0; 1]);
        for slot in [0, 5, PARALLEL_CHUNK - 1, PARALLEL_CHUNK, 15_000, n - 1] {
            let v = &vectors[slot * dim..(slot + 1) * dim];
            let one_by_one = p.multi_score(v, &mut sims, &mut neg);
            assert!(
                (scores[slot] - one_by_one).abs() < 1e-5,
                "slot {slot}: {} vs {one_by_one}",
                scores[slot]
            );
        }
    }

    #[test]
    fn abstracts_split_into_sentences_but_not_at_abbreviations_or_decimals() {
        let text = "We study bandits, e.g. the dueling kind. Regret falls by 1.5 times here! \
                    Is it tight? Yes. 2 experiments confirm the bound on real data.";
        assert_eq!(
            sentences(text),
            vec![
                "We study bandits, e.g. the dueling kind.",
                "Regret falls by 1.5 times here!",
                "2 experiments confirm the bound on real data."
            ]
        );
        assert!(sentences("").is_empty());
        assert_eq!(
            sentences("One sentence without an end"),
            vec!["One sentence without an end"]
        );
        // Chinese: full-width stops end sentences, without spaces.
        assert_eq!(
            sentences("我们研究图神经网络的表达能力。实验表明该方法有效！好。"),
            vec!["我们研究图神经网络的表达能力。", "实验表明该方法有效！"]
        );
    }

    #[test]
    fn soft_max_lies_between_mean_and_maximum() {
        let s = soft_max(&[0.2, 0.8], &[1.0, 1.0]);
        assert!(s < 0.8 && s > 0.5, "{s}");
        assert!((soft_max(&[0.4, 0.4], &[1.0, 3.0]) - 0.4).abs() < 1e-6);
        assert!((soft_max(&[0.7], &[2.0]) - 0.7).abs() < 1e-6);
    }

    #[test]
    fn bad_profiles_and_vectors_are_refused() {
        let mut p = ProfileVectors::new(3);
        assert!(matches!(
            p.score_all(Scorer::Multi, &[1.0, 0.0, 0.0]),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            p.add_positive(&[1.0, 0.0], 1.0),
            Err(Error::WrongDimension {
                expected: 3,
                received: 2
            })
        ));
        assert!(p.add_positive(&[1.0, 0.0, 0.0], 0.0).is_err());
        assert!(p.add_positive(&[1.0, 0.0, 0.0], f32::NAN).is_err());
        assert!(p.add_positive(&[0.0, 0.0, 0.0], 1.0).is_err());
        p.add_positive(&[1.0, 0.0, 0.0], 1.0).unwrap();
        assert!(matches!(
            p.score_all(Scorer::Centroid, &[1.0, 0.0]),
            Err(Error::VectorShape { values: 2, dim: 3 })
        ));
    }

    fn paper(date: Option<&str>, categories: &[&str]) -> Paper {
        Paper {
            id: "x".into(),
            title: "t".into(),
            date: date.map(String::from),
            categories: categories.iter().map(|c| c.to_string()).collect(),
            ..Paper::default()
        }
    }

    #[test]
    fn filters_keep_what_their_record_filter_keeps() {
        let none = Filters::default();
        assert!(!none.reads_records());
        assert!(none.keeps(&paper(None, &[])));
        let field = Filters {
            record: RecordFilter {
                since: Some("2024-03".parse().unwrap()),
                categories: vec!["cs.".into()],
                ..RecordFilter::default()
            },
            ..Filters::default()
        };
        assert!(field.reads_records());
        assert!(field.keeps(&paper(Some("2024-03-01"), &["CS.LG"])));
        assert!(
            !field.keeps(&paper(Some("2024-02-29"), &["cs.LG"])),
            "too early"
        );
        assert!(
            !field.keeps(&paper(Some("2024"), &["math.OC"])),
            "no category matches"
        );
        assert!(!field.keeps(&paper(None, &["cs.LG"])), "undated");
    }
}
