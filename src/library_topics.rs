//! Topics of a whole library: gathers the stored papers and vectors for the
//! topics engine, and keeps the resulting per-paper topic assignment in the
//! library's index folder together with the library generation it was
//! computed from, so that other commands can show topic labels and never
//! show stale ones.
//!
//! The saved file (`index/topics.json`) holds each label once and one topic
//! number per slot (`null` for outliers), and since format version 2 each
//! topic's subtopic labels and one subtopic number per slot (`null` where
//! the topic has no subtopics), so reading it stays cheap on large
//! libraries. Version 1 files (no subtopics) are still read.
//!
//! Topics are addressed as `T` (topic T) or `T.S` (subtopic S of topic T);
//! see [`TopicPath`].

use std::borrow::Cow;
use std::cell::RefCell;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::atomic_file::{create_dir_all_durably, replace_file};
use crate::store::{Library, VectorView};
use crate::topics::{find_topics, TopicInput, TopicModel, TopicOptions};
use crate::wording::count;
use crate::{Error, Result};

const TOPICS_FILE: &str = "topics.json";
/// Version of the saved file's layout; versions from
/// [`OLDEST_FORMAT_VERSION`] up are read, others are treated as absent.
const FORMAT_VERSION: u32 = 2;
/// Oldest saved layout still read (version 1: topics without subtopics).
const OLDEST_FORMAT_VERSION: u32 = 1;

/// The file the saved topic assignment is kept in.
pub fn topics_path(library: &Library) -> PathBuf {
    library.index_dir().join(TOPICS_FILE)
}

/// The library's papers grouped into topics, with what the map needs.
pub struct LibraryTopics {
    pub model: TopicModel,
    /// Paper titles in slot order (one per vector).
    pub titles: Vec<String>,
    /// The vectors the topics were computed from.
    pub vectors: VectorView,
}

impl LibraryTopics {
    /// The library generation the topics belong to.
    pub fn generation(&self) -> u64 {
        self.vectors.generation()
    }
}

/// Groups every paper of `library` into topics (see
/// [`crate::topics::find_topics`]). Nothing is saved.
pub fn find(library: &Library, opts: &TopicOptions) -> Result<LibraryTopics> {
    let vectors = library.vectors()?;
    let n = vectors.len();
    let mut ids = Vec::with_capacity(n);
    let mut titles = Vec::with_capacity(n);
    // Papers stored after the vectors were read have slots past the end;
    // they are left for the next run.
    library.for_each_paper(|slot, paper| {
        if (slot as usize) < n {
            ids.push(paper.id);
            titles.push(paper.title);
        }
    })?;
    if ids.len() != n {
        return Err(Error::LengthMismatch {
            field: "stored papers",
            expected: n,
            received: ids.len(),
        });
    }
    let abstracts = StoredAbstracts {
        library,
        papers: n,
        block: RefCell::new((0, Vec::new())),
        failure: RefCell::new(None),
    };
    let model = find_topics(
        &TopicInput {
            ids: &ids,
            titles: &titles,
            abstracts: &abstracts,
            vectors: vectors.as_slice(),
            dim: vectors.dim(),
        },
        opts,
    )?;
    if let Some(e) = abstracts.failure.into_inner() {
        return Err(e);
    }
    if model.topics.is_empty() && n > 0 {
        // Nothing to save or show: every cluster was too small to hold a
        // paper that is not an outlier.
        return Err(Error::InvalidArgument {
            name: "clusters".into(),
            problem: match opts.clusters {
                Some(k) => format!(
                    "all {n} papers were left as outliers of {k} clusters too small or too \
                     spread out to be topics: ask for fewer clusters, or leave --clusters out \
                     to choose the number"
                ),
                None => format!(
                    "the library holds {}, too few to form a topic (all were left as \
                     outliers): topics need a few similar papers each, so add papers first",
                    count(n, "paper")
                ),
            },
        });
    }
    Ok(LibraryTopics {
        model,
        titles,
        vectors,
    })
}

/// Abstracts read per block of this many slots.
const ABSTRACT_BLOCK: usize = 4096;

/// A library's abstracts, read from its database a block of slots at a
/// time as the labels ask for them, rather than held for every paper.
struct StoredAbstracts<'l> {
    library: &'l Library,
    papers: usize,
    /// The first slot of the block held, and its abstracts.
    block: RefCell<(usize, Vec<String>)>,
    /// The first read that failed; the topics are then not returned.
    failure: RefCell<Option<Error>>,
}

impl std::fmt::Debug for StoredAbstracts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAbstracts")
            .field("papers", &self.papers)
            .finish()
    }
}

impl crate::topics::Abstracts for StoredAbstracts<'_> {
    fn len(&self) -> usize {
        self.papers
    }

    fn abstract_text(&self, i: usize) -> Cow<'_, str> {
        let mut block = self.block.borrow_mut();
        let (start, held) = &*block;
        if !(*start..start + held.len()).contains(&i) {
            let start = i / ABSTRACT_BLOCK * ABSTRACT_BLOCK;
            let end = (start + ABSTRACT_BLOCK).min(self.papers);
            match self.library.abstracts_in(start as u32..end as u32) {
                Ok(read) => *block = (start, read),
                Err(e) => {
                    self.failure.borrow_mut().get_or_insert(e);
                    return Cow::Borrowed("");
                }
            }
        }
        Cow::Owned(block.1.get(i - block.0).cloned().unwrap_or_default())
    }
}

/// The 2-D position of each paper on the topic map (see
/// [`layout_topic_map`](crate::topics::layout_topic_map)), in slot order.
pub fn map_points(found: &LibraryTopics, seed: u64) -> Result<Vec<[f32; 2]>> {
    let n = found.model.assignments.len();
    let topics: Vec<Option<usize>> = (0..n)
        .map(|slot| found.model.topic_of(slot).map(|t| t.id))
        .collect();
    // Fine groups (each subtopic, and each topic without subtopics); papers
    // in no topic are in none.
    let fine: Vec<Option<usize>> = found
        .model
        .fine_partition(false)
        .into_iter()
        .zip(&topics)
        .map(|(group, topic)| topic.map(|_| group))
        .collect();
    crate::topics::layout_topic_map(
        found.vectors.as_slice(),
        found.vectors.dim(),
        &topics,
        Some(&fine),
        seed,
    )
}

/// The saved per-paper topic assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedTopics {
    pub format_version: u32,
    /// The library generation the topics were computed from.
    pub generation: u64,
    /// Topic labels, indexed by topic id.
    pub labels: Vec<String>,
    /// One entry per slot: the paper's topic id, `None` for an outlier.
    pub topics: Vec<Option<u32>>,
    /// Subtopic labels of each topic (empty for a topic without
    /// subtopics), indexed by topic id then subtopic id.
    #[serde(default)]
    pub sublabels: Vec<Vec<String>>,
    /// One entry per slot: the paper's subtopic id within its topic, `None`
    /// for an outlier or a paper of a topic without subtopics. Empty in
    /// files of format version 1.
    #[serde(default)]
    pub subtopics: Vec<Option<u32>>,
    /// Unit centre of each topic, for placing papers added later (format
    /// version 2).
    #[serde(default)]
    pub centroids: Vec<Vec<f32>>,
    /// Unit centre of each subtopic, by topic then subtopic.
    #[serde(default)]
    pub subcentroids: Vec<Vec<Vec<f32>>>,
    /// A paper added later whose cosine to the nearest topic (or subtopic)
    /// centre is below this is an outlier.
    #[serde(default)]
    pub outlier_below: f32,
    /// Papers in the library when the topics were last clustered.
    #[serde(default)]
    pub clustered: usize,
    /// Papers placed by [`update`] since then.
    #[serde(default)]
    pub added: usize,
}

/// Share of the papers present at the last clustering that may be added
/// (and placed by [`update`]) before `update` clusters again from scratch.
pub const DRIFT_SHARE: f64 = 0.25;

/// What [`update`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateReport {
    /// Papers placed in existing topics by this update.
    pub assigned: usize,
    /// Of those, papers far from every topic (outliers).
    pub outliers: usize,
    /// Papers added since the last clustering, this update's included.
    pub added_since_clustering: usize,
    /// Papers in the library at the last clustering.
    pub clustered: usize,
    /// True when the drift threshold was passed and nothing was placed:
    /// the caller clusters again.
    pub recluster: bool,
}

/// A paper's topic as other commands show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicTag {
    /// The topic id; `None` for an outlier (a paper far from every topic).
    pub id: Option<u32>,
    /// The topic's label, or `outlier`.
    pub label: String,
    /// The subtopic id within the topic, when the topic has subtopics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtopic: Option<u32>,
    /// The subtopic's label, alongside `subtopic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sublabel: Option<String>,
}

/// A topic (`T`) or a subtopic (`T.S`) of the saved topics, as typed after
/// `--topic` or `--show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicPath {
    pub topic: u32,
    pub subtopic: Option<u32>,
}

impl std::fmt::Display for TopicPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.subtopic {
            Some(s) => write!(f, "{}.{s}", self.topic),
            None => write!(f, "{}", self.topic),
        }
    }
}

impl std::str::FromStr for TopicPath {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!(
                "'{text}' is not a topic: give a topic number such as 3, or a subtopic such as 3.1 (numbers as `relate topics` lists them)"
            )
        };
        let text = text.trim();
        let (topic, sub) = match text.split_once('.') {
            Some((t, s)) => (t, Some(s)),
            None => (text, None),
        };
        let topic = topic.parse::<u32>().map_err(|_| bad())?;
        let subtopic = match sub {
            Some(s) => Some(s.parse::<u32>().map_err(|_| bad())?),
            None => None,
        };
        Ok(TopicPath { topic, subtopic })
    }
}

impl SavedTopics {
    /// The assignment of `found`.
    pub fn from_topics(found: &LibraryTopics) -> SavedTopics {
        let model = &found.model;
        let slots = 0..model.assignments.len();
        SavedTopics {
            format_version: FORMAT_VERSION,
            generation: found.generation(),
            labels: model.topics.iter().map(|t| t.label.clone()).collect(),
            topics: slots
                .clone()
                .map(|slot| model.topic_of(slot).map(|t| t.id as u32))
                .collect(),
            sublabels: model
                .topics
                .iter()
                .map(|t| t.subtopics.iter().map(|s| s.label.clone()).collect())
                .collect(),
            subtopics: slots
                .map(|slot| model.subtopic_of(slot).map(|s| s.id as u32))
                .collect(),
            centroids: model.topics.iter().map(|t| t.centroid.clone()).collect(),
            subcentroids: model
                .topics
                .iter()
                .map(|t| t.subtopics.iter().map(|s| s.centroid.clone()).collect())
                .collect(),
            outlier_below: model.outlier_fence,
            clustered: model.assignments.len(),
            added: 0,
        }
    }

    /// Papers stored after the last run of `relate topics` or `--update`
    /// for `papers` papers in the library now.
    pub fn unassigned(&self, papers: usize) -> usize {
        papers.saturating_sub(self.topics.len())
    }

    /// The topic (and subtopic) whose centre is nearest to a unit vector,
    /// or `None` (an outlier) when even the nearest fine centre is below
    /// [`outlier_below`](Self::outlier_below).
    fn place(&self, v: &[f32]) -> (Option<u32>, Option<u32>) {
        let dot = |c: &[f32]| c.iter().zip(v).map(|(a, b)| a * b).sum::<f32>();
        let nearest = |cs: &[Vec<f32>]| {
            cs.iter()
                .enumerate()
                .map(|(i, c)| (i, dot(c)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        };
        let Some((t, broad)) = nearest(&self.centroids) else {
            return (None, None);
        };
        let sub = self.subcentroids.get(t).and_then(|cs| nearest(cs));
        let fit = sub.map_or(broad, |(_, s)| s);
        if fit < self.outlier_below {
            return (None, None);
        }
        (Some(t as u32), sub.map(|(s, _)| s as u32))
    }

    /// The topic of the paper in `slot`; `None` past the end.
    pub fn tag(&self, slot: u32) -> Option<TopicTag> {
        match self.topics.get(slot as usize)? {
            Some(t) => {
                let sub = self.subtopics.get(slot as usize).copied().flatten();
                let sublabel =
                    sub.and_then(|s| self.sublabels.get(*t as usize)?.get(s as usize).cloned());
                Some(TopicTag {
                    id: Some(*t),
                    label: self.labels.get(*t as usize)?.clone(),
                    subtopic: sublabel.as_ref().and(sub),
                    sublabel,
                })
            }
            None => Some(TopicTag {
                id: None,
                label: "outlier".into(),
                subtopic: None,
                sublabel: None,
            }),
        }
    }

    /// Whether the paper in `slot` belongs to `path` (outliers belong to
    /// none).
    pub fn contains(&self, path: TopicPath, slot: u32) -> bool {
        let slot = slot as usize;
        if self.topics.get(slot).copied().flatten() != Some(path.topic) {
            return false;
        }
        match path.subtopic {
            None => true,
            Some(s) => self.subtopics.get(slot).copied().flatten() == Some(s),
        }
    }

    /// Checks that `path` names a saved topic or subtopic; the error says
    /// which numbers exist.
    pub fn check(&self, path: TopicPath) -> Result<()> {
        let topics = self.labels.len();
        let bad = |problem: String| Error::InvalidArgument {
            name: "topic".into(),
            problem,
        };
        let Some(subs) = self
            .labels
            .get(path.topic as usize)
            .map(|_| self.sublabels.get(path.topic as usize).map_or(0, Vec::len))
        else {
            return Err(bad(format!(
                "{path}: there is no topic {}; the saved topics are numbered 0 to {}",
                path.topic,
                topics.saturating_sub(1)
            )));
        };
        match path.subtopic {
            Some(_) if subs == 0 => Err(bad(format!(
                "{path}: topic {} has no subtopics; give {} for the whole topic",
                path.topic, path.topic
            ))),
            Some(s) if s as usize >= subs => Err(bad(format!(
                "{path}: topic {} has subtopics {}.0 to {}.{}",
                path.topic,
                path.topic,
                path.topic,
                subs - 1
            ))),
            _ => Ok(()),
        }
    }

    /// The label of `path` (a subtopic's label follows its topic's).
    pub fn label_of(&self, path: TopicPath) -> Option<String> {
        let label = self.labels.get(path.topic as usize)?;
        match path.subtopic {
            None => Some(label.clone()),
            Some(s) => {
                let sub = self.sublabels.get(path.topic as usize)?.get(s as usize)?;
                Some(format!("{label} / {sub}"))
            }
        }
    }

    /// The slots of `path`'s members, closest to their centre first, with
    /// each one's cosine to that centre (from the library's vectors).
    pub fn members(&self, vectors: &VectorView, path: TopicPath) -> Vec<(u32, f32)> {
        let dim = vectors.dim();
        let slots: Vec<u32> = (0..self.topics.len().min(vectors.len()) as u32)
            .filter(|&s| self.contains(path, s))
            .collect();
        let mut centre = vec![0.0f32; dim];
        for &s in &slots {
            if let Some(v) = vectors.vector(s) {
                centre.iter_mut().zip(v).for_each(|(c, x)| *c += x);
            }
        }
        let norm = centre.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            centre.iter_mut().for_each(|c| *c /= norm);
        }
        let mut scored: Vec<(u32, f32)> = slots
            .into_iter()
            .map(|s| {
                let v = vectors.vector(s).unwrap_or(&[]);
                (s, v.iter().zip(&centre).map(|(a, b)| a * b).sum::<f32>())
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
    }
}

/// Saves the assignment of `found` in the library's index folder, replacing
/// any earlier one atomically (see [`crate::atomic_file`]).
pub fn save(library: &Library, found: &LibraryTopics) -> Result<()> {
    write(library, &SavedTopics::from_topics(found))
}

/// Places the papers stored since the saved topics were computed in the
/// nearest existing topic and subtopic (or among the outliers when far
/// from all), keeping every id, and saves the result. When more papers
/// than [`DRIFT_SHARE`] of those present at the last clustering have been
/// added, or papers were removed, nothing is placed and the report asks
/// for a new clustering. Papers whose text changed keep their topic until
/// then.
pub fn update(library: &Library) -> Result<UpdateReport> {
    let bad = |problem: &str| Error::InvalidArgument {
        name: "--update".into(),
        problem: problem.into(),
    };
    let Some(mut saved) = load_any(library) else {
        return Err(bad(
            "the library has no saved topics to update: run `relate topics` first",
        ));
    };
    if saved.centroids.len() != saved.labels.len() {
        return Err(bad(
            "the saved topics were made by an older version without topic centres: run \
             `relate topics` once, then --update works",
        ));
    }
    let vectors = library.vectors()?;
    let (old, now) = (saved.topics.len(), vectors.len());
    let added = saved.added + now.saturating_sub(old);
    let mut report = UpdateReport {
        assigned: 0,
        outliers: 0,
        added_since_clustering: added,
        clustered: saved.clustered,
        recluster: now < old || added as f64 > DRIFT_SHARE * saved.clustered.max(1) as f64,
    };
    if report.recluster {
        return Ok(report);
    }
    let had_subtopics = saved.subtopics.len() == old;
    for slot in old..now {
        let v = vectors.vector(slot as u32).unwrap_or(&[]);
        let (topic, sub) = saved.place(v);
        saved.topics.push(topic);
        if had_subtopics {
            saved.subtopics.push(sub);
        }
        report.assigned += 1;
        report.outliers += usize::from(topic.is_none());
    }
    saved.added = added;
    saved.generation = vectors.generation();
    saved.format_version = FORMAT_VERSION;
    write(library, &saved)?;
    Ok(report)
}

/// Writes `saved` in the library's index folder atomically.
fn write(library: &Library, saved: &SavedTopics) -> Result<()> {
    create_dir_all_durably(&library.index_dir())?;
    let text = serde_json::to_string(saved).map_err(|e| Error::InvalidArgument {
        name: "topic assignment".into(),
        problem: format!("cannot be written as JSON: {e}"),
    })?;
    replace_file(&topics_path(library), text.as_bytes())
}

/// The saved assignment, whatever its generation. A missing, unreadable or
/// damaged file, or one of another format version, counts as none: it is a
/// derived record that `relate topics` writes again.
pub fn load_any(library: &Library) -> Option<SavedTopics> {
    let text = fs::read(topics_path(library)).ok()?;
    let saved: SavedTopics = serde_json::from_slice(&text).ok()?;
    (OLDEST_FORMAT_VERSION..=FORMAT_VERSION)
        .contains(&saved.format_version)
        .then_some(saved)
}

/// The saved assignment if it was computed from the library as it is now.
pub fn load_fresh(library: &Library) -> Result<Option<SavedTopics>> {
    let Some(saved) = load_any(library) else {
        return Ok(None);
    };
    Ok((saved.generation == library.generation()?).then_some(saved))
}

/// Whether saved topics are `fresh`, `stale` or `none`.
pub fn status(library: &Library) -> Result<&'static str> {
    Ok(match load_any(library) {
        None => "none",
        Some(s) if s.generation == library.generation()? => "fresh",
        Some(_) => "stale",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_the_topic_or_the_outlier_and_stop_at_the_end() {
        let saved = SavedTopics {
            format_version: FORMAT_VERSION,
            generation: 3,
            labels: vec!["privacy, federated".into(), "bandits".into()],
            topics: vec![Some(1), None, Some(0)],
            sublabels: vec![Vec::new(), vec!["regret".into(), "dueling".into()]],
            subtopics: vec![Some(1), None, None],
            centroids: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            subcentroids: vec![Vec::new(), vec![vec![0.6, 0.8], vec![-0.6, 0.8]]],
            outlier_below: 0.5,
            clustered: 3,
            added: 0,
        };
        // New papers go to the nearest topic and subtopic, or nowhere.
        assert_eq!(saved.place(&[0.9, 0.1]), (Some(0), None));
        assert_eq!(saved.place(&[-0.5, 0.85]), (Some(1), Some(1)));
        assert_eq!(saved.place(&[0.0, -1.0]), (None, None));
        assert_eq!(saved.unassigned(5), 2);
        let tag = saved.tag(0).unwrap();
        assert_eq!((tag.id, tag.label.as_str()), (Some(1), "bandits"));
        assert_eq!(
            (tag.subtopic, tag.sublabel.as_deref()),
            (Some(1), Some("dueling"))
        );
        assert!(saved.tag(2).unwrap().subtopic.is_none());
        let tag = saved.tag(1).unwrap();
        assert_eq!((tag.id, tag.label.as_str()), (None, "outlier"));
        assert_eq!(saved.tag(3), None);
        let json = serde_json::to_string(&saved).unwrap();
        assert!(json.contains("\"topics\":[1,null,0]"), "{json}");
        let back: SavedTopics = serde_json::from_str(&json).unwrap();
        assert_eq!(back, saved);
        // Membership and checks of topic paths.
        let path = |t: &str| t.parse::<TopicPath>().unwrap();
        assert!(saved.contains(path("1"), 0) && saved.contains(path("1.1"), 0));
        assert!(!saved.contains(path("1.0"), 0) && !saved.contains(path("1"), 1));
        assert!(saved.check(path("1.1")).is_ok() && saved.check(path("0")).is_ok());
        let err = saved.check(path("0.0")).unwrap_err().to_string();
        assert!(err.contains("no subtopics"), "{err}");
        let err = saved.check(path("1.2")).unwrap_err().to_string();
        assert!(err.contains("1.0 to 1.1"), "{err}");
        let err = saved.check(path("2")).unwrap_err().to_string();
        assert!(err.contains("0 to 1"), "{err}");
        assert_eq!(saved.label_of(path("1.0")).unwrap(), "bandits / regret");
        for bad in ["", "x", "1.", "1.2.3", "-1"] {
            let err = bad.parse::<TopicPath>().unwrap_err();
            assert!(err.contains("3.1"), "{bad}: {err}");
        }
    }

    #[test]
    fn version_1_files_are_read_without_subtopics() {
        let v1 = r#"{"format_version":1,"generation":4,"labels":["a"],"topics":[0,null]}"#;
        let saved: SavedTopics = serde_json::from_str(v1).unwrap();
        assert!(saved.subtopics.is_empty());
        let tag = saved.tag(0).unwrap();
        assert_eq!((tag.id, tag.subtopic), (Some(0), None));
        assert!(saved.check("0.0".parse().unwrap()).is_err());
    }
}
