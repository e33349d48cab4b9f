//! Choosing the number of topics from the data, at two levels, from the
//! merge costs of one Ward tree.
//!
//! Ward's tree merges, at each step, the two groups whose union least
//! increases the spread around the group centres; the increase is the
//! merge's cost. Cutting the tree into k groups undoes the last k − 1
//! merges, so a number of groups is natural when the merge that would take
//! it to k − 1 costs far more than the one that took k + 1 to k. On data
//! without structure the cost of the merge down to k − 1 groups falls off
//! roughly as 1/k, so the comparison is made on k × cost:
//!
//! gap(k) = k · cost(k → k − 1) / ((k + 1) · cost(k + 1 → k))
//!
//! which hovers around 1 on structureless data and jumps where groups end.
//!
//! A gap of at least [`CLEAR_GAP`] is a clear boundary. Candidates run up
//! to [`MAX_BROAD_TOPICS`] broad and [`MAX_FINE_TOPICS`] fine topics, and
//! at most papers / [`MIN_TOPIC_SIZE`].
//! *Broad topics*: of the two highest clear gaps, the smaller k when it is
//! at most half the larger (two nested levels) and within the broad bound;
//! else the highest clear gap within the bound; when no gap is clear, the k
//! with the largest gap.
//! *Fine topics* (subtopics): the highest clear gap at or above twice the
//! broad count (subtopics average at least two per topic). When there is
//! none (usual
//! for papers of one field, whose vectors have no sharp boundaries at that
//! scale), the fine level falls back to a size rule: the largest gap among
//! the cuts whose topics average between √papers / 2 and √papers papers
//! (k from √papers, and at least twice the broad count, to 2√papers, within
//! the bounds above; from 40,000 papers on, where 2√papers passes
//! [`MAX_FINE_TOPICS`], k from half that bound to the bound), so subtopics
//! stay readable; when that range is empty the topics are not split. Every candidate is a cut of the same tree, so each fine topic
//! lies inside one broad topic.
//!
//! On the sample corpus (61 abstracts of one field, hand-grouped into 14
//! groups) every gap lies between 0.82 and 1.18: the broad level takes the
//! best (3 topics: bandits and online learning, privacy and data
//! summarisation, language-model reasoning) and the fine level the size
//! rule. On planted groups of subgroups both levels show as clear peaks.

use super::ward::Dendrogram;

/// Most broad topics the automatic choice considers.
pub const MAX_BROAD_TOPICS: usize = 20;
/// Most fine topics the automatic choice considers.
pub const MAX_FINE_TOPICS: usize = 200;
/// Candidate cuts average at least this many papers per topic.
pub const MIN_TOPIC_SIZE: usize = 4;
/// A fine count is taken only where its gap reaches this.
pub const CLEAR_GAP: f32 = 1.3;
/// Fewer papers than this are not split automatically.
const MIN_PAPERS_TO_SPLIT: usize = 6;

/// How the numbers of topics were chosen, kept for explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct KChoice {
    /// Number of broad topics.
    pub broad: usize,
    /// Number of fine topics over the whole library (equal to `broad` when
    /// the broad topics are not split).
    pub fine: usize,
    /// True when `broad` was chosen from the data rather than given.
    pub automatic: bool,
    /// Gap of each candidate k (empty when nothing was chosen).
    pub gaps: Vec<(usize, f32)>,
    /// True when the fine count sits at a gap of at least [`CLEAR_GAP`];
    /// false when it came from the size rule or the topics are not split.
    pub clear_fine: bool,
}

impl KChoice {
    /// One level of `k` topics, as given.
    pub(crate) fn given(k: usize) -> Self {
        KChoice {
            broad: k,
            fine: k,
            automatic: false,
            gaps: Vec::new(),
            clear_fine: false,
        }
    }

    /// The gap at `k`, when it was measured.
    pub fn gap(&self, k: usize) -> Option<f32> {
        self.gaps.iter().find(|(c, _)| *c == k).map(|&(_, g)| g)
    }
}

/// The largest k the automatic choice considers for `papers` papers at the
/// broad and the fine level; `None` when `papers` is too small to split.
pub fn bounds(papers: usize) -> Option<(usize, usize)> {
    if papers < MIN_PAPERS_TO_SPLIT {
        return None;
    }
    let most = (papers / MIN_TOPIC_SIZE).max(2);
    Some((most.min(MAX_BROAD_TOPICS), most.min(MAX_FINE_TOPICS)))
}

/// Normalised merge-cost gap of every k in `2..=hi` that the tree can
/// measure (k + 1 at most its rows).
pub(crate) fn gaps(tree: &Dendrogram, hi: usize) -> Vec<(usize, f32)> {
    let m = tree.rows();
    (2..=hi.min(m.saturating_sub(1)))
        .map(|k| {
            let (here, below) = (tree.merge_cost(k), tree.merge_cost(k + 1));
            let g = if below > 1e-12 {
                (k as f64 * here) / ((k + 1) as f64 * below)
            } else if here > 1e-12 {
                1e3
            } else {
                1.0
            };
            (k, g.min(1e3) as f32)
        })
        .collect()
}

/// Chooses the broad count (unless `broad` is given) and, when `levels` is
/// 2, the fine count, by cutting `tree` (built over all papers or a seeded
/// sample of them) for a library of `papers` papers. Deterministic.
pub(crate) fn choose(
    tree: &Dendrogram,
    papers: usize,
    broad: Option<usize>,
    levels: usize,
) -> KChoice {
    let Some((hi_broad, hi_fine)) = bounds(papers) else {
        return match broad {
            Some(k) => KChoice::given(k),
            None => KChoice {
                broad: 1,
                fine: 1,
                automatic: true,
                gaps: Vec::new(),
                clear_fine: false,
            },
        };
    };
    let hi = if levels > 1 { hi_fine } else { hi_broad };
    let gaps = gaps(tree, hi.max(hi_broad));
    let best = |from: usize, to: usize| {
        gaps.iter().filter(|(k, _)| (from..=to).contains(k)).fold(
            None::<(usize, f32)>,
            |acc, &(k, g)| match acc {
                Some((_, bg)) if bg >= g => acc,
                _ => Some((k, g)),
            },
        )
    };
    // The two highest clear peaks, when there are two, are the two levels.
    let mut peaks: Vec<(usize, f32)> = gaps
        .iter()
        .copied()
        .filter(|&(k, g)| g >= CLEAR_GAP && k <= hi)
        .collect();
    peaks.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let (broad, automatic) = match broad {
        Some(k) => (k, false),
        None => {
            let in_range = |k: usize| k <= hi_broad;
            let pair = match peaks.as_slice() {
                [a, b, ..] => {
                    let (lo, hi) = (a.0.min(b.0), a.0.max(b.0));
                    (2 * lo <= hi && in_range(lo)).then_some(lo)
                }
                _ => None,
            };
            let single = peaks.first().map(|p| p.0).filter(|&k| in_range(k));
            let k = pair
                .or(single)
                .unwrap_or_else(|| best(2, hi_broad).map_or(2, |(k, _)| k));
            (k, true)
        }
    };
    // Subtopics average at least two per topic.
    let least = 2 * broad;
    let root = (papers as f64).sqrt().ceil() as usize;
    let clear_above = peaks
        .iter()
        .find(|&&(k, _)| k >= least && k <= hi_fine)
        .map(|&(k, _)| k);
    let (fine, clear_fine) = match clear_above {
        _ if levels < 2 => (broad, false),
        Some(k) => (k, true),
        None => (
            best(least.max(root.min(hi_fine / 2)), (2 * root).min(hi_fine))
                .map_or(broad, |(k, _)| k),
            false,
        ),
    };
    KChoice {
        broad,
        fine,
        automatic,
        gaps,
        clear_fine,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_depend_on_the_number_of_papers() {
        assert_eq!(bounds(5), None);
        assert_eq!(bounds(6), Some((2, 2)));
        assert_eq!(bounds(61), Some((15, 15)));
        assert_eq!(bounds(10_000), Some((20, 200)));
    }

    /// Rows on a line: two far groups, each of two near pairs.
    fn two_by_two() -> Dendrogram {
        let xs = [0.0f32, 0.01, 0.1, 0.11, 5.0, 5.01, 5.1, 5.11];
        let rows: Vec<f32> = xs
            .iter()
            .flat_map(|&x| {
                let a = x * 0.1;
                [a.cos(), a.sin()]
            })
            .collect();
        Dendrogram::build(&rows, 2)
    }

    #[test]
    fn gaps_peak_where_the_groups_end() {
        let tree = two_by_two();
        let g = gaps(&tree, 7);
        let peak = g.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert_eq!(peak.0, 2, "{g:?}");
        assert!(g[2].1 > 10.0, "k = 4 splits the pairs apart: {g:?}");
        let choice = choose(&tree, 8, None, 2);
        assert_eq!((choice.broad, choice.fine), (2, 2), "{choice:?}");
        let choice = choose(&tree, 8, Some(2), 1);
        assert!(!choice.automatic);
        assert_eq!(choice.fine, 2);
    }
}
