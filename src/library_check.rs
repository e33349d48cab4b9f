//! The full integrity check of a library folder, as `relate info --check`
//! runs it: the store's own files (see [`crate::store::StoreCheck`]), then
//! what is derived from them: the saved HNSW index, when it claims to be
//! current, must open over the current vectors, and saved topics must parse
//! and, when current, cover every paper. A library that cannot even be
//! opened because a file is damaged is reported as a problem too.

use std::path::Path;

use serde::Serialize;

use crate::library_index;
use crate::library_topics;
use crate::store::{Library, Problem, StoreCheck};
use crate::Result;

/// What the check of one library found.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryCheck {
    pub store: String,
    /// Whether the library could be opened at all.
    pub opened: bool,
    /// What the store check found (absent when the library did not open).
    pub details: Option<StoreCheck>,
    /// `fresh` (opened and checked), `stale`, `none`, `damaged`, or
    /// `unchecked` (the vector file it reads is damaged).
    pub hnsw_index: &'static str,
    /// `fresh`, `stale`, `none`, `damaged` or `unchecked` (the library
    /// did not open).
    pub topics: &'static str,
    /// Every problem found, each with what to do; empty when all is well.
    pub problems: Vec<Problem>,
}

impl LibraryCheck {
    /// True when nothing is wrong.
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the library in `dir`. Fails only when there is no library there
/// or a file cannot be read at all; damage is reported in the result.
pub fn check_dir(dir: &Path) -> Result<LibraryCheck> {
    let mut report = LibraryCheck {
        store: dir.display().to_string(),
        opened: false,
        details: None,
        hnsw_index: "unchecked",
        topics: "unchecked",
        problems: Vec::new(),
    };
    let library = match Library::open(dir) {
        Ok(library) => library,
        Err(e) => match Problem::from_error(&e) {
            Some(problem) => {
                report.problems.push(problem);
                return Ok(report);
            }
            None => return Err(e),
        },
    };
    report.opened = true;
    let store = match library.check_store() {
        Ok(store) => store,
        Err(e) => match Problem::from_error(&e) {
            Some(problem) => {
                report.problems.push(problem);
                return Ok(report);
            }
            None => return Err(e),
        },
    };
    let mut store = store;
    report.problems.append(&mut store.problems);
    let generation = library.generation()?;
    report.hnsw_index = if store.vector_file == "damaged" {
        "unchecked"
    } else {
        check_index(&library, generation, &mut report.problems)
    };
    report.topics = check_topics(&library, generation, &mut report.problems);
    report.details = Some(store);
    Ok(report)
}

/// Opens a saved index that claims to be current.
fn check_index(library: &Library, generation: u64, problems: &mut Vec<Problem>) -> &'static str {
    match library_index::saved_generation(library) {
        None => "none",
        Some(g) if g != generation => "stale",
        Some(_) => match library_index::load(library) {
            Ok(_) => "fresh",
            Err(e) => {
                problems.push(Problem::new(
                    &library_index::graph_dir(library),
                    format!("the saved index does not open: {e}"),
                    "Run `relate index` to build it again (or `relate repair` to remove it)",
                ));
                "damaged"
            }
        },
    }
}

/// Parses saved topics and, when current, checks that they cover every paper.
fn check_topics(library: &Library, generation: u64, problems: &mut Vec<Problem>) -> &'static str {
    let path = library_topics::topics_path(library);
    if !path.exists() {
        return "none";
    }
    let fix = "Run `relate topics` to compute them again (or `relate repair` to remove them)";
    let Some(saved) = library_topics::load_any(library) else {
        problems.push(Problem::new(
            &path,
            "the saved topics cannot be read (damaged, or of another format version)",
            fix,
        ));
        return "damaged";
    };
    if saved.generation != generation {
        return "stale";
    }
    let papers = library.len();
    let labels = saved.labels.len() as u32;
    let bad_topic = saved.topics.iter().flatten().any(|&t| t >= labels);
    if saved.topics.len() != papers || bad_topic {
        problems.push(Problem::new(
            &path,
            format!(
                "the saved topics list {} papers (the library holds {papers}) or name a topic \
                 beyond the {labels} labelled",
                saved.topics.len()
            ),
            fix,
        ));
        return "damaged";
    }
    "fresh"
}
