//! The full integrity check of the files the store owns (`relate info
//! --check`): SQLite's own page check, the papers and vectors tables
//! against each other, every stored vector (finite, unit length), the
//! manifest against the database, and the vector file against the database
//! and its checksum. It reads everything and writes nothing; each problem
//! found says what to do about it.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;
use serde::Serialize;

use super::database::StoredVector;
use super::location::{DATABASE_FILE, MANIFEST_FILE, VECTOR_FILE};
use super::vector_file::{self, BodyCheck, HEADER_LEN};
use super::Library;
use crate::{Error, Result};

/// A stored vector counts as unit length when its Euclidean norm is within
/// this of 1 (vectors are normalised in f32 before they are stored, which
/// leaves them within about 1e-6).
pub const UNIT_NORM_TOLERANCE: f32 = 1e-3;

/// How many bad slots a problem names before it only counts them.
const SLOTS_NAMED: usize = 5;

/// What to do about damage only a backup or a new ingest can mend.
pub const DATABASE_FIX: &str =
    "The database is damaged: restore the library from a backup, or move it away and ingest \
     the papers again (`relate repair` rebuilds only what is derived from the database)";

/// What to do about a damaged or mismatched vector file.
pub const REPAIR_FIX: &str =
    "Run `relate repair` to rebuild it from the database and the file's intact vectors";

/// What to do about vectors that only the vector file kept and lost.
const LOST_FIX: &str = "Run `relate repair`: it rebuilds the file, names the papers whose \
     vectors are gone and marks them for embedding again; then ingest the files they came \
     from again";

/// One thing an integrity check found wrong, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file (or folder) concerned.
    pub file: String,
    pub problem: String,
    pub fix: String,
}

impl Problem {
    pub fn new(file: &Path, problem: impl Into<String>, fix: impl Into<String>) -> Problem {
        Problem {
            file: file.display().to_string(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// The problem an error stands for, when it is damage that a check
    /// should report rather than fail on: a damaged or mismatched file.
    pub fn from_error(error: &Error) -> Option<Problem> {
        match error {
            Error::StoreCorrupt { path, problem, fix } => Some(Problem::new(path, problem, fix)),
            Error::Database { path, cause, .. } => {
                Some(Problem::new(path, cause.to_string(), DATABASE_FIX))
            }
            _ => None,
        }
    }
}

/// What the store check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreCheck {
    /// Papers in the database.
    pub papers: usize,
    /// Vectors read from the database and checked.
    pub vectors_checked: usize,
    /// The vector file: `current`, `behind` (rebuilt by the next writing
    /// command; queries read the database meanwhile), `missing` (the same)
    /// or `damaged`.
    pub vector_file: &'static str,
    /// Whether the vector file records a checksum of its body (files from
    /// before checksums gain one when next written).
    pub vector_file_checksum: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// Slots listed for a message: the first few, then how many more.
fn name_slots(slots: &[usize], total: usize) -> String {
    let named: Vec<String> = slots.iter().map(|s| s.to_string()).collect();
    if total > slots.len() {
        format!("{} and {} more", named.join(", "), total - slots.len())
    } else {
        named.join(", ")
    }
}

impl Library {
    /// Checks every file of the store: see the module documentation.
    /// Errors only when a file cannot be read at all; damage is reported
    /// in the returned problems.
    pub fn check_store(&self) -> Result<StoreCheck> {
        let mut check = StoreCheck::default();
        let db_path = self.dir.join(DATABASE_FILE);
        let manifest_path = self.dir.join(MANIFEST_FILE);
        if !manifest_path.exists() {
            check.problems.push(Problem::new(
                &manifest_path,
                "the file is missing (queries restore it in memory from the database)",
                "Run `relate repair` to write it again from the database",
            ));
        }
        let findings = self.db.quick_check()?;
        if !findings.is_empty() {
            check.problems.push(Problem::new(
                &db_path,
                format!("SQLite's check found damage: {}", findings.join("; ")),
                DATABASE_FIX,
            ));
        }
        let counts = self.db.table_counts()?;
        check.papers = counts.papers;
        if counts.slots != counts.papers {
            check.problems.push(Problem::new(
                &db_path,
                format!(
                    "{} papers occupy slots up to {}: slots are not dense",
                    counts.papers, counts.slots
                ),
                DATABASE_FIX,
            ));
        }
        if counts.papers_without_vector > 0 || counts.vectors_without_paper > 0 {
            check.problems.push(Problem::new(
                &db_path,
                format!(
                    "{} papers and {} vectors are stored; {} papers have no vector and {} \
                     vectors no paper",
                    counts.papers,
                    counts.vectors,
                    counts.papers_without_vector,
                    counts.vectors_without_paper
                ),
                DATABASE_FIX,
            ));
        }
        // A writer may commit and rewrite the vector file while the vectors
        // are read; the file then looks newer than the snapshot, so the
        // vectors are checked again until no commit came in between.
        let mut vectors = StoreCheck::default();
        for _ in 0..5 {
            let before = self.generation()?;
            vectors = StoreCheck::default();
            self.check_vectors(&mut vectors)?;
            if self.generation()? == before {
                break;
            }
        }
        check.vectors_checked = vectors.vectors_checked;
        check.vector_file = vectors.vector_file;
        check.vector_file_checksum = vectors.vector_file_checksum;
        check.problems.append(&mut vectors.problems);
        Ok(check)
    }

    /// Checks every stored vector, and the vector file against them.
    fn check_vectors(&self, check: &mut StoreCheck) -> Result<()> {
        let db_path = self.dir.join(DATABASE_FILE);
        let file_path = self.dir.join(VECTOR_FILE);
        self.db.snapshot(|snap| {
            let meta = &snap.meta;
            // The vector file as it is, without the checks `VectorView::map`
            // makes, so that its damage is reported rather than failed on.
            let file = match vector_file::read_header(&file_path) {
                None if !file_path.exists() => {
                    check.vector_file = "missing";
                    None
                }
                None => {
                    check.vector_file = "damaged";
                    check.problems.push(Problem::new(
                        &file_path,
                        "its header is unreadable or its length disagrees with the header",
                        REPAIR_FIX,
                    ));
                    None
                }
                Some((file, header)) => {
                    check.vector_file_checksum = header.checksum.is_some();
                    self.check_vector_file(&file, &file_path, &header, meta, snap.count, check)?
                }
            };
            // The rows the file holds, whatever its header says, for the
            // vectors only it keeps.
            let held = match vector_file::Body::open(&file_path, meta.dim, meta.library_id) {
                // SAFETY: as below; rows are only ever added past those a
                // batch committed, never changed in place.
                Some(body) => Some(
                    unsafe { Mmap::map(&body.file) }
                        .map_err(|e| Error::io("map", &file_path, e))?,
                ),
                None => None,
            };
            let row_bytes = meta.dim * 4;
            let (mut bad_norm, mut bad_norm_total) = (Vec::new(), 0);
            let (mut differing, mut differing_total) = (Vec::new(), 0);
            let (mut lost, mut lost_total) = (Vec::new(), 0);
            let (mut awaiting, mut awaiting_total) = (Vec::new(), 0);
            let mut values = vec![0f32; meta.dim];
            snap.for_each_vector(None, |slot, stored| {
                let at = HEADER_LEN as usize + slot * row_bytes;
                let bytes = match stored {
                    StoredVector::Row(bytes) => bytes,
                    StoredVector::InFile { crc } => {
                        match held.as_ref().and_then(|map| map.get(at..at + row_bytes)) {
                            Some(bytes) if crc32fast::hash(bytes) == crc => bytes,
                            _ => {
                                check.vectors_checked += 1;
                                lost_total += 1;
                                if lost.len() < SLOTS_NAMED {
                                    lost.push(slot);
                                }
                                return Ok(());
                            }
                        }
                    }
                };
                check.vectors_checked += 1;
                for (value, le) in values.iter_mut().zip(bytes.chunks_exact(4)) {
                    *value = f32::from_le_bytes([le[0], le[1], le[2], le[3]]);
                }
                let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
                let unit = (norm - 1.0).abs() <= UNIT_NORM_TOLERANCE;
                if norm == 0.0 {
                    // What a repair leaves for a paper whose vector was lost.
                    awaiting_total += 1;
                    if awaiting.len() < SLOTS_NAMED {
                        awaiting.push(slot);
                    }
                } else if !unit {
                    bad_norm_total += 1;
                    if bad_norm.len() < SLOTS_NAMED {
                        bad_norm.push(slot);
                    }
                }
                if let (Some(map), StoredVector::Row(_)) = (&file, stored) {
                    if map.get(at..at + row_bytes) != Some(bytes) {
                        differing_total += 1;
                        if differing.len() < SLOTS_NAMED {
                            differing.push(slot);
                        }
                    }
                }
                Ok(())
            })?;
            if bad_norm_total > 0 {
                check.problems.push(Problem::new(
                    &db_path,
                    format!(
                        "{bad_norm_total} stored vectors are not finite or not of unit length \
                         (norm off by more than {UNIT_NORM_TOLERANCE}), in slots {}",
                        name_slots(&bad_norm, bad_norm_total)
                    ),
                    "Ingest those papers again from their source (the stored vectors were \
                     damaged or written by another program)",
                ));
            }
            if awaiting_total > 0 {
                check.problems.push(Problem::new(
                    &db_path,
                    format!(
                        "{awaiting_total} papers lost their vectors and match nothing until \
                         they are embedded again, in slots {}",
                        name_slots(&awaiting, awaiting_total)
                    ),
                    "Ingest the files those papers came from again: they are embedded afresh",
                ));
            }
            if lost_total > 0 {
                check.vector_file = "damaged";
                check.problems.push(Problem::new(
                    &file_path,
                    format!(
                        "{lost_total} vectors that only this file keeps are missing or do not \
                         match their checksums, in slots {}",
                        name_slots(&lost, lost_total)
                    ),
                    LOST_FIX,
                ));
            }
            if differing_total > 0 {
                check.vector_file = "damaged";
                check.problems.push(Problem::new(
                    &file_path,
                    format!(
                        "{differing_total} vectors differ from the database's, in slots {}",
                        name_slots(&differing, differing_total)
                    ),
                    REPAIR_FIX,
                ));
            }
            Ok(())
        })
    }

    /// Checks the header and checksum of the vector file; returns its
    /// mapping when it is current, for comparing with the database.
    fn check_vector_file(
        &self,
        file: &File,
        path: &Path,
        header: &vector_file::Header,
        meta: &super::database::Meta,
        count: usize,
        check: &mut StoreCheck,
    ) -> Result<Option<Mmap>> {
        let mut problem = |what: String| {
            check.vector_file = "damaged";
            check.problems.push(Problem::new(path, what, REPAIR_FIX));
        };
        if header.library_id != meta.library_id || header.dim != meta.dim {
            problem(format!(
                "it belongs to another library (id {:x}, {} dimensions; the database is {:x}, {})",
                header.library_id, header.dim, meta.library_id, meta.dim
            ));
            return Ok(None);
        }
        if header.generation > meta.generation {
            problem(format!(
                "it is of generation {}, newer than the database's {} (was the database \
                 restored from an older copy?)",
                header.generation, meta.generation
            ));
            return Ok(None);
        }
        if let BodyCheck::Mismatch { recorded, found } = vector_file::verify_body(path, header)? {
            problem(format!(
                "its vectors do not match their checksum (recorded {recorded:08x}, found \
                 {found:08x})"
            ));
            return Ok(None);
        }
        if header.generation < meta.generation {
            check.vector_file = "behind";
            return Ok(None);
        }
        if header.count != count {
            problem(format!(
                "it holds {} vectors but the database {count} papers at the same generation",
                header.count
            ));
            return Ok(None);
        }
        check.vector_file = "current";
        // SAFETY: vector files are only ever replaced by rename, never
        // written in place, so the mapping does not change underneath.
        let map = unsafe { Mmap::map(file) }.map_err(|e| Error::io("map", path, e))?;
        Ok(Some(map))
    }
}
