//! What a library holds and how it is searched, as `relate info --json`
//! prints it and the server's `/api/info` answers it: papers, model,
//! format, generation, and whether the saved index and topics are current.

use serde::Serialize;

use crate::index::{index_worth_using, prefer_exact};
use crate::library_index;
use crate::library_topics;
use crate::store::{short_fingerprint, Library};
use crate::Result;

/// A summary of one library.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryInfo {
    pub store: String,
    pub papers: usize,
    pub model: String,
    /// Short form of the model's fingerprint; null for a library of format
    /// version 1 not yet written to since.
    pub model_fingerprint: Option<String>,
    pub dimension: usize,
    pub format_version: u32,
    pub generation: u64,
    /// Search `similar` and `search` use without `--exact` or `--hnsw`:
    /// `hnsw` or `exact`.
    pub default_search: &'static str,
    /// `fresh`, `stale` or `none`.
    pub hnsw_index: &'static str,
    /// Recall@10 the saved index's beam was tuned to on a sample of the
    /// library (`relate index`); null without an index or tuning. Below
    /// 0.90 the index is used only when asked for (`--hnsw`).
    pub hnsw_recall: Option<f64>,
    /// Saved topic assignment (`relate topics`): `fresh`, `stale` or `none`.
    pub topics: &'static str,
    /// Papers stored since the saved topics were last computed or updated,
    /// so in no topic yet (`relate topics --update` places them); null
    /// without saved topics.
    pub topics_unassigned: Option<usize>,
    /// Papers placed by `relate topics --update` since the last clustering;
    /// null without saved topics.
    pub topics_added_since_clustering: Option<usize>,
    pub bytes_on_disk: u64,
}

impl LibraryInfo {
    /// Reads the summary of `library`, naming its folder `store`.
    pub fn read(library: &Library, store: String) -> Result<LibraryInfo> {
        let manifest = library.manifest();
        let generation = library.generation()?;
        let hnsw_index = match library_index::saved_generation(library) {
            None => "none",
            Some(g) if g == generation => "fresh",
            Some(_) => "stale",
        };
        let hnsw_recall = match hnsw_index {
            "none" => None,
            // Four decimals, as `relate index` prints it.
            _ => library_index::saved_tuned_recall(library).map(|r| (r * 1e4).round() / 1e4),
        };
        let saved = library_topics::load_any(library);
        Ok(LibraryInfo {
            store,
            papers: library.len(),
            model: manifest.model.id.clone(),
            model_fingerprint: manifest
                .model
                .fingerprint
                .as_deref()
                .map(|f| short_fingerprint(f).to_string()),
            dimension: manifest.model.dim,
            format_version: manifest.format_version,
            generation,
            default_search: if hnsw_index == "fresh"
                && !prefer_exact(library.len())
                && index_worth_using(hnsw_recall)
            {
                "hnsw"
            } else {
                "exact"
            },
            hnsw_index,
            hnsw_recall,
            topics: library_topics::status(library)?,
            topics_unassigned: saved.as_ref().map(|s| s.unassigned(library.len())),
            topics_added_since_clustering: saved.as_ref().map(|s| s.added),
            bytes_on_disk: library.size_on_disk()?,
        })
    }
}
