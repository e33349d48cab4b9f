//! Topics of a whole library: gathers the stored papers and vectors for the
//! topics engine, and keeps the resulting per-paper topic assignment in the
//! library's index folder together with the library generation it was
//! computed from, so that other commands can show topic labels and never
//! show stale ones.
//!
//! The saved file (`index/topics.json`) holds each label once and one topic
//! number per slot (`null` for outliers), so reading it stays cheap on large
//! libraries.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::atomic_file::{create_dir_all_durably, replace_file};
use crate::store::{Library, VectorView};
use crate::topics::{find_topics, TopicInput, TopicModel, TopicOptions};
use crate::{Error, Result};

const TOPICS_FILE: &str = "topics.json";
/// Version of the saved file's layout; another version is treated as absent.
const FORMAT_VERSION: u32 = 1;

fn topics_path(library: &Library) -> PathBuf {
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
/// [`find_topics`](crate::topics::find_topics)). Nothing is saved.
pub fn find(library: &Library, opts: &TopicOptions) -> Result<LibraryTopics> {
    let vectors = library.vectors()?;
    let n = vectors.len();
    let mut ids = Vec::with_capacity(n);
    let mut titles = Vec::with_capacity(n);
    let mut abstracts = Vec::with_capacity(n);
    // Papers stored after the vectors were read have slots past the end;
    // they are left for the next run.
    library.for_each_paper(|slot, paper| {
        if (slot as usize) < n {
            ids.push(paper.id);
            titles.push(paper.title);
            abstracts.push(paper.abstract_text);
        }
    })?;
    if ids.len() != n {
        return Err(Error::LengthMismatch {
            field: "stored papers",
            expected: n,
            received: ids.len(),
        });
    }
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
    Ok(LibraryTopics {
        model,
        titles,
        vectors,
    })
}

/// The 2-D position of each paper on the topic map (see
/// [`layout_topic_map`](crate::topics::layout_topic_map)), in slot order.
pub fn map_points(found: &LibraryTopics, seed: u64) -> Result<Vec<[f32; 2]>> {
    let topics: Vec<Option<usize>> = (0..found.model.assignments.len())
        .map(|slot| found.model.topic_of(slot).map(|t| t.id))
        .collect();
    crate::topics::layout_topic_map(found.vectors.as_slice(), found.vectors.dim(), &topics, seed)
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
}

/// A paper's topic as other commands show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicTag {
    /// The topic id; `None` for an outlier (a paper far from every topic).
    pub id: Option<u32>,
    /// The topic's label, or `outlier`.
    pub label: String,
}

impl SavedTopics {
    /// The assignment of `found`.
    pub fn from_topics(found: &LibraryTopics) -> SavedTopics {
        let model = &found.model;
        SavedTopics {
            format_version: FORMAT_VERSION,
            generation: found.generation(),
            labels: model.topics.iter().map(|t| t.label.clone()).collect(),
            topics: (0..model.assignments.len())
                .map(|slot| model.topic_of(slot).map(|t| t.id as u32))
                .collect(),
        }
    }

    /// The topic of the paper in `slot`; `None` past the end.
    pub fn tag(&self, slot: u32) -> Option<TopicTag> {
        match self.topics.get(slot as usize)? {
            Some(t) => Some(TopicTag {
                id: Some(*t),
                label: self.labels.get(*t as usize)?.clone(),
            }),
            None => Some(TopicTag {
                id: None,
                label: "outlier".into(),
            }),
        }
    }
}

/// Saves the assignment of `found` in the library's index folder, replacing
/// any earlier one atomically (see [`crate::atomic_file`]).
pub fn save(library: &Library, found: &LibraryTopics) -> Result<()> {
    create_dir_all_durably(&library.index_dir())?;
    let saved = SavedTopics::from_topics(found);
    let text = serde_json::to_string(&saved).map_err(|e| Error::InvalidArgument {
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
    (saved.format_version == FORMAT_VERSION).then_some(saved)
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
        };
        let tag = saved.tag(0).unwrap();
        assert_eq!((tag.id, tag.label.as_str()), (Some(1), "bandits"));
        let tag = saved.tag(1).unwrap();
        assert_eq!((tag.id, tag.label.as_str()), (None, "outlier"));
        assert_eq!(saved.tag(3), None);
        let json = serde_json::to_string(&saved).unwrap();
        assert!(json.contains("\"topics\":[1,null,0]"), "{json}");
        let back: SavedTopics = serde_json::from_str(&json).unwrap();
        assert_eq!(back, saved);
    }
}
