//! Topics: groups the library's papers by meaning, names each group, and
//! draws the groups on a 2-D map. Works on plain slices (ids, titles,
//! abstracts, unit vectors), so it knows nothing of storage or the CLI.
//!
//! [`find_topics`] runs Ward's clustering and cuts its tree at two levels,
//! broad topics and the subtopics nested in them, with the numbers given or
//! chosen from gaps in the tree's merge costs (see [`KChoice`]), sets aside
//! papers far from every topic as outliers, and labels each topic and
//! subtopic with class-based TF-IDF terms. [`layout_2d`] and [`layout_topic_map`] place
//! papers on a plane;
//! [`render_svg`] and [`render_html`] draw the map.

mod ari;
mod choose_k;
mod grouping;
mod kmeans;
mod labels;
mod layout;
mod map_html;
mod map_svg;
mod outliers;
mod pca;
mod stopwords;
mod vectors;
mod ward;

use std::borrow::Cow;

use serde::Serialize;

use crate::corpus::compose_text;
use crate::same_paper::{PaperKey, Shown};
use crate::{Error, Result};

pub use ari::adjusted_rand_index;
pub use choose_k::{
    bounds as auto_topic_bounds, KChoice, CLEAR_GAP, MAX_BROAD_TOPICS, MAX_FINE_TOPICS,
    MIN_TOPIC_SIZE,
};
pub(crate) use labels::{same_word, term_sets};
pub use layout::{layout_2d, layout_topic_map};
pub use map_html::render_html;
pub use map_svg::render_svg;
pub(crate) use stopwords::is_stop_word;

/// The papers to group: parallel slices, one entry per paper, and their
/// vectors as one row-major buffer of `ids.len() × dim` values.
#[derive(Debug, Clone, Copy)]
pub struct TopicInput<'a> {
    pub ids: &'a [String],
    pub titles: &'a [String],
    /// Read only for the labels, in input order: a `Vec<String>`, or a
    /// source that reads them when asked (a library's database).
    pub abstracts: &'a dyn Abstracts,
    pub vectors: &'a [f32],
    pub dim: usize,
}

/// Each paper's abstract by input slot. The labels read them in slot
/// order, twice, so a source may read them a block at a time rather than
/// hold them all (about 1 GB at a million papers of real abstracts).
pub trait Abstracts: std::fmt::Debug {
    /// How many papers have an abstract here (one per input paper).
    fn len(&self) -> usize;
    /// The abstract of the paper in slot `i` (`i < len()`).
    fn abstract_text(&self, i: usize) -> Cow<'_, str>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Abstracts for Vec<String> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn abstract_text(&self, i: usize) -> Cow<'_, str> {
        Cow::Borrowed(self[i].as_str())
    }
}

/// Most topics one may ask for: beyond this, k-means refinement over a
/// large library runs for hours, and topics of a few papers each say little.
pub const MAX_TOPICS: usize = 1000;

/// How to group.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicOptions {
    /// Number of (broad) topics; `None` chooses it from the data (see
    /// [`KChoice`]).
    pub clusters: Option<usize>,
    /// 2 splits each topic into subtopics where the data has clear finer
    /// groups; 1 gives topics only.
    pub levels: usize,
    /// Seed for every random choice; the same input and seed give the same
    /// topics.
    pub seed: u64,
    /// Most representative papers listed per topic.
    pub representatives: usize,
    /// Top terms listed per topic.
    pub terms: usize,
}

impl Default for TopicOptions {
    fn default() -> Self {
        TopicOptions {
            clusters: None,
            levels: 2,
            seed: 42,
            representatives: 3,
            terms: 10,
        }
    }
}

/// A paper as listed in a topic or among the outliers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaperRef {
    pub id: String,
    pub title: String,
    /// Cosine between the paper and its topic's centre (for an outlier, the
    /// nearest topic's centre).
    pub score: f32,
    /// Position of the paper in the input slices.
    #[serde(skip)]
    pub slot: usize,
}

/// One topic, or one subtopic of a topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    /// 0-based; topics are numbered by decreasing size, and the subtopics
    /// of a topic likewise among themselves.
    pub id: usize,
    pub label: String,
    pub terms: Vec<String>,
    /// Number of member papers (outliers excluded).
    pub size: usize,
    /// The most representative members: closest to the centre first.
    pub papers: Vec<PaperRef>,
    /// Every member's id, closest to the centre first.
    #[serde(rename = "members")]
    pub member_ids: Vec<String>,
    /// Every member's input slot, in the same order.
    #[serde(skip)]
    pub members: Vec<usize>,
    /// Unit centre of the members' vectors.
    #[serde(skip)]
    pub centroid: Vec<f32>,
    /// The topic's subtopics, whose members together are its members; empty
    /// for a subtopic and for a topic without clear finer groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subtopics: Vec<Topic>,
}

/// Where one paper landed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Assignment {
    /// The paper's topic, or for an outlier the nearest topic (`None` only
    /// when there are no topics at all).
    pub topic: Option<usize>,
    /// The paper's subtopic within its topic, when the topic has
    /// subtopics (for an outlier, the nearest subtopic of that topic).
    pub subtopic: Option<usize>,
    /// Cosine to that topic's centre.
    pub score: f32,
    pub outlier: bool,
}

/// The result of [`find_topics`]. Serialises to
/// `{"topics": [...], "outliers": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicModel {
    pub topics: Vec<Topic>,
    /// Papers far from every topic, worst fit first.
    pub outliers: Vec<PaperRef>,
    /// One entry per input paper, in input order.
    #[serde(skip)]
    pub assignments: Vec<Assignment>,
    /// How the number of topics was chosen.
    #[serde(skip)]
    pub choice: KChoice,
    /// A paper whose cosine to the rest of its group is below this is an
    /// outlier (Tukey's lower fence over all papers).
    #[serde(skip)]
    pub outlier_fence: f32,
}

impl TopicModel {
    /// The topic of the paper in input slot `slot`; `None` for outliers.
    pub fn topic_of(&self, slot: usize) -> Option<&Topic> {
        let a = self.assignments.get(slot)?;
        if a.outlier {
            return None;
        }
        a.topic.and_then(|t| self.topics.get(t))
    }

    /// The subtopic of the paper in input slot `slot`; `None` for outliers
    /// and papers of a topic without subtopics.
    pub fn subtopic_of(&self, slot: usize) -> Option<&Topic> {
        let topic = self.topic_of(slot)?;
        let a = self.assignments.get(slot)?;
        topic.subtopics.get(a.subtopic?)
    }

    /// One group number per paper at the fine level: each subtopic, and
    /// each topic without subtopics, is a group; outliers as in
    /// [`partition`](Self::partition) (the nearest subtopic of the nearest
    /// topic).
    pub fn fine_partition(&self, outliers_to_nearest: bool) -> Vec<usize> {
        let mut first = Vec::with_capacity(self.topics.len());
        let mut groups = 0;
        for t in &self.topics {
            first.push(groups);
            groups += t.subtopics.len().max(1);
        }
        self.assignments
            .iter()
            .enumerate()
            .map(|(slot, a)| match (a.outlier, a.topic) {
                (false, Some(t)) => first[t] + a.subtopic.unwrap_or(0),
                (true, Some(t)) if outliers_to_nearest => first[t] + a.subtopic.unwrap_or(0),
                _ => groups + slot,
            })
            .collect()
    }

    /// The topic whose centre is nearest to a unit `vector`, with the cosine.
    pub fn nearest_topic(&self, vector: &[f32]) -> Option<(&Topic, f32)> {
        self.topics
            .iter()
            .map(|t| (t, vectors::dot(&t.centroid, vector)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// One group number per paper for comparing partitions: the topic id,
    /// or for outliers the nearest topic's id when `outliers_to_nearest`,
    /// else a number of its own (`topics.len() + slot`).
    pub fn partition(&self, outliers_to_nearest: bool) -> Vec<usize> {
        self.assignments
            .iter()
            .enumerate()
            .map(|(slot, a)| match (a.outlier, a.topic) {
                (false, Some(t)) => t,
                (true, Some(t)) if outliers_to_nearest => t,
                _ => self.topics.len() + slot,
            })
            .collect()
    }
}

/// Groups the papers into labelled topics.
///
/// Errors: no papers; slices of different lengths; unusable vectors;
/// `clusters` of 0, more than [`MAX_TOPICS`] or more than the number of
/// papers.
pub fn find_topics(input: &TopicInput, opts: &TopicOptions) -> Result<TopicModel> {
    let n = input.ids.len();
    if n == 0 {
        return Err(Error::NoPapers {
            action: "group into topics",
        });
    }
    for (field, len) in [
        ("titles", input.titles.len()),
        ("abstracts", input.abstracts.len()),
    ] {
        if len != n {
            return Err(Error::LengthMismatch {
                field,
                expected: n,
                received: len,
            });
        }
    }
    let dim = input.dim;
    vectors::check_rows(input.vectors, dim, "group into topics")?;
    if input.vectors.len() != n * dim {
        return Err(Error::LengthMismatch {
            field: "vectors",
            expected: n,
            received: input.vectors.len() / dim,
        });
    }
    let data = vectors::unit_rows(input.vectors, dim)?;
    match opts.clusters {
        Some(0) => {
            return Err(Error::InvalidArgument {
                name: "number of topics".into(),
                problem: "0 topics asked for: ask for at least 1, or leave it out to choose \
                          automatically"
                    .into(),
            })
        }
        Some(k) if k > MAX_TOPICS => {
            return Err(Error::InvalidArgument {
                name: "number of topics".into(),
                problem: format!("{k} topics asked for; ask for at most {MAX_TOPICS}"),
            })
        }
        Some(k) if k > n => {
            return Err(Error::TooManyTopics {
                requested: k,
                papers: n,
            })
        }
        _ => {}
    }
    let levels = opts.levels.clamp(1, 2);
    let grouping::Grouping {
        labels,
        parent,
        choice,
    } = grouping::group(&data, dim, opts.clusters, levels, opts.seed);
    let split = outliers::find_outliers(&data, dim, &labels, parent.len());

    // Members of each fine group without outliers; a broad group is the
    // union of its fine groups. Groups left empty disappear; the rest are
    // numbered by decreasing size (ties: lower first member first).
    let mut fine: Vec<Vec<usize>> = vec![Vec::new(); parent.len()];
    for (i, &l) in labels.iter().enumerate() {
        if !split.outlier[i] {
            fine[l].push(i);
        }
    }
    let broad_count = parent.iter().max().map_or(0, |m| m + 1);
    let mut children: Vec<Vec<Vec<usize>>> = vec![Vec::new(); broad_count];
    for (f, members) in fine.into_iter().enumerate() {
        if !members.is_empty() {
            children[parent[f]].push(members);
        }
    }
    children.retain(|c| !c.is_empty());
    let size = |c: &Vec<Vec<usize>>| c.iter().map(Vec::len).sum::<usize>();
    let first = |c: &Vec<Vec<usize>>| c.iter().map(|m| m[0]).min().unwrap_or(0);
    children.sort_by(|a, b| size(b).cmp(&size(a)).then(first(a).cmp(&first(b))));
    for c in children.iter_mut() {
        c.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    }

    // Topic, subtopic (when the topic has two or more) and fine group of
    // every member.
    let mut group_of: Vec<Option<usize>> = vec![None; n];
    let mut sub_of: Vec<Option<usize>> = vec![None; n];
    let mut fine_of: Vec<Option<usize>> = vec![None; n];
    let mut fine_groups: Vec<Vec<usize>> = Vec::new();
    let mut groups: Vec<Vec<usize>> = Vec::with_capacity(children.len());
    for (t, subs) in children.iter().enumerate() {
        let split_up = subs.len() >= 2;
        let mut all = Vec::with_capacity(size(subs));
        for (s, members) in subs.iter().enumerate() {
            for &i in members {
                group_of[i] = Some(t);
                if split_up {
                    sub_of[i] = Some(s);
                    fine_of[i] = Some(fine_groups.len());
                }
            }
            all.extend_from_slice(members);
            if split_up {
                fine_groups.push(members.clone());
            }
        }
        groups.push(all);
    }
    let centres = |count: usize, of: &[Option<usize>]| -> Vec<Vec<f32>> {
        vectors::unit_centres(&data, dim, count, |i| of[i])
            .chunks_exact(dim)
            .map(<[f32]>::to_vec)
            .collect()
    };
    // Index of each topic's first fine group.
    let fine_base: Vec<usize> = children
        .iter()
        .scan(0, |next, subs| {
            let base = *next;
            if subs.len() >= 2 {
                *next += subs.len();
            }
            Some(base)
        })
        .collect();
    let centroids = centres(groups.len(), &group_of);
    let fine_centroids = centres(fine_groups.len(), &fine_of);
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let assignments: Vec<Assignment> = (0..n)
        .map(|i| {
            let own = group_of[i];
            let topic = own.or_else(|| {
                (0..centroids.len()).max_by(|&a, &b| {
                    vectors::dot(row(i), &centroids[a])
                        .total_cmp(&vectors::dot(row(i), &centroids[b]))
                        .then(b.cmp(&a))
                })
            });
            // An outlier's subtopic is the nearest one of its nearest topic.
            let subtopic = sub_of[i].or_else(|| {
                let t = topic.filter(|_| own.is_none())?;
                let subs = &children[t];
                if subs.len() < 2 {
                    return None;
                }
                let base = fine_base[t];
                (0..subs.len()).max_by(|&a, &b| {
                    vectors::dot(row(i), &fine_centroids[base + a])
                        .total_cmp(&vectors::dot(row(i), &fine_centroids[base + b]))
                        .then(b.cmp(&a))
                })
            });
            Assignment {
                topic,
                subtopic,
                score: topic.map_or(0.0, |t| vectors::dot(row(i), &centroids[t])),
                outlier: own.is_none(),
            }
        })
        .collect();
    let fine_score =
        |i: usize| fine_of[i].map_or(0.0, |f| vectors::dot(row(i), &fine_centroids[f]));

    let paper = |i: usize, score: f32| PaperRef {
        id: input.ids[i].clone(),
        title: input.titles[i].clone(),
        score,
        slot: i,
    };
    let by_score = |score: &dyn Fn(usize) -> f32, a: &usize, b: &usize| {
        score(*b).total_cmp(&score(*a)).then(a.cmp(b))
    };
    let topic_score = |i: usize| assignments[i].score;
    for m in groups.iter_mut() {
        m.sort_by(|a, b| by_score(&topic_score, a, b));
    }
    for m in fine_groups.iter_mut() {
        m.sort_by(|a, b| by_score(&fine_score, a, b));
    }
    let title_refs: Vec<&str> = input.titles.iter().map(String::as_str).collect();
    // Each paper's text is composed when it is read, not held for all.
    let text_of = |i: usize| compose_text(&input.titles[i], &input.abstracts.abstract_text(i));
    let mut terms =
        labels::topic_terms_by_level(&title_refs, &text_of, &[&groups, &fine_groups], opts.terms);
    let fine_terms = terms.pop().unwrap_or_default();
    let broad_terms = terms.pop().unwrap_or_default();
    let make = |id: usize,
                members: Vec<usize>,
                terms: Vec<String>,
                centroid: Vec<f32>,
                score: &dyn Fn(usize) -> f32,
                subtopics: Vec<Topic>| Topic {
        id,
        label: labels::label(&terms, id),
        terms,
        size: members.len(),
        papers: distinct_papers(&members, opts.representatives, input.titles, &row)
            .into_iter()
            .map(|i| paper(i, score(i)))
            .collect(),
        member_ids: members.iter().map(|&i| input.ids[i].clone()).collect(),
        members,
        centroid,
        subtopics,
    };
    let mut fine_parts = fine_groups
        .into_iter()
        .zip(fine_terms)
        .zip(fine_centroids.iter().cloned());
    let topics: Vec<Topic> = groups
        .into_iter()
        .zip(broad_terms)
        .zip(centroids)
        .enumerate()
        .map(|(id, ((members, terms), centroid))| {
            let count = match children[id].len() {
                1 => 0,
                c => c,
            };
            let subtopics = fine_parts
                .by_ref()
                .take(count)
                .enumerate()
                .map(|(s, ((m, terms), c))| make(s, m, terms, c, &fine_score, Vec::new()))
                .collect();
            make(id, members, terms, centroid, &topic_score, subtopics)
        })
        .collect();
    let mut outlier_slots: Vec<usize> = (0..n).filter(|&i| assignments[i].outlier).collect();
    outlier_slots.sort_by(|a, b| by_score(&topic_score, b, a));
    let outliers = outlier_slots
        .into_iter()
        .map(|i| paper(i, assignments[i].score))
        .collect();
    Ok(TopicModel {
        topics,
        outliers,
        assignments,
        choice,
        outlier_fence: split.fence,
    })
}

/// The first `n` of `members` that are not copies of one listed before
/// (the same title and close vectors; see [`crate::same_paper`]): a paper
/// held under two ids is listed once.
fn distinct_papers<'v>(
    members: &[usize],
    n: usize,
    titles: &[String],
    row: &dyn Fn(usize) -> &'v [f32],
) -> Vec<usize> {
    let mut shown = Shown::new();
    let mut out = Vec::with_capacity(n);
    for &i in members {
        if out.len() == n {
            break;
        }
        let key = PaperKey::from_title(&titles[i]);
        if shown.copy_of(&key, row(i)).is_none() {
            shown.add(key, row(i));
            out.push(i);
        }
    }
    out
}
