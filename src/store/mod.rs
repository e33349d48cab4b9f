//! The library on disk: one folder holding the papers and their vectors.
//!
//! `library.sqlite` (SQLite, WAL) is the source of truth: paper records, a
//! row per vector, a hash of each paper's embedded text and a generation
//! counter raised by every change, each change one transaction.
//! `manifest.json` names the format version, model (name and fingerprint)
//! and vector dimension and is checked before anything else. A model is the
//! library's model when its fingerprint matches, whatever its folder is
//! called; a version 1 library, which recorded only the name, is matched by
//! name and gets the fingerprint when it is next opened for writing.
//!
//! `vectors.f32` holds every vector in slot order for fast, memory-mapped
//! queries. From format version 3 on, each vector is stored once: a new
//! paper's vector is written into the file and made durable before the
//! database commits its row, which keeps only the vector's CRC-32; a vector
//! that replaces a stored one is kept whole in its database row until the
//! file has it (the file is then replaced whole, atomically). The file's
//! header carries the generation it is current for and is moved on after
//! each commit; when it is behind (a crash, or replaced vectors waiting),
//! the writer brings it up to date, grown in place when papers were only
//! added, and a reader reads around it, checking the rows past it against
//! the database's checksums. Losing the file therefore loses the vectors
//! only it held: every reader and writer then names those papers, and
//! `relate repair` marks them for embedding again. A version 2 library,
//! which kept every vector in both, moves on to version 3 with its next
//! write. `index/` is left to the index module. Every file other than the
//! database and the vector file is replaced through
//! [`crate::atomic_file`]. A crash at any moment therefore leaves the
//! library as of its last committed transaction; temporary files a killed
//! writer leaves are removed when the library is next opened for writing.
//!
//! One process writes at a time: [`Library::open_or_create`] and
//! [`Library::open_for_update`] take `write.lock`, waiting for a while if
//! another process holds it, and record who holds it. A library opened with
//! [`Library::open`] for queries never writes a file: a vector file that is
//! behind the database is read around into memory instead, and a lost
//! manifest is restored in memory; the next writer repairs both.

mod check;
mod database;
mod location;
mod manifest;
mod title;
mod vector_file;

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::corpus::Paper;
use crate::{Error, Result};

pub use check::{Problem, StoreCheck, DATABASE_FIX, REPAIR_FIX, UNIT_NORM_TOLERANCE};
pub use database::{Change, TextIndexState, UpsertSummary};
pub use location::default_store_dir;
use manifest::VECTORS_IN_FILE_VERSION;
pub use manifest::{short_fingerprint, Manifest, ModelInfo, FORMAT_VERSION, OLDEST_FORMAT_VERSION};
pub use title::TitleMatch;
pub use vector_file::{VectorView, SCAN_BLOCK_ROWS};

use crate::atomic_file::{create_dir_all_durably, remove_stale_temps};
use database::{Database, StoredVector};
use location::{
    DATABASE_FILE, INDEX_DIR, MANIFEST_FILE, VECTOR_FILE, VECTOR_LOCK_FILE, WRITE_LOCK_FILE,
};
use vector_file::{Body, BodyCheck, Header, VectorFileAppender, VectorFileWriter};

/// How many papers an error about lost vectors names.
const LOST_NAMED: usize = 10;
/// How many papers a word search on titles considers.
const TITLE_SEARCH_LIMIT: usize = 200;
/// Longest title query for which near matches (all words but one) are tried.
const MAX_TYPO_QUERY_WORDS: usize = 16;

/// Papers whose vectors only the vector file held and lost (see
/// [`Library::rebuild_vectors_from_database`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LostVectors {
    /// Their ids, in slot order.
    pub ids: Vec<String>,
    /// For those that came from one input file only: the files, with how
    /// many each gave, most first.
    pub sources: Vec<(String, usize)>,
    /// How many came from several input files, which of them holds the
    /// current version not being recorded.
    pub from_several_files: usize,
}

/// An open library folder. Open it with [`Library::open_or_create`] to add
/// papers (one writer at a time) or with [`Library::open`] to query it.
pub struct Library {
    dir: PathBuf,
    manifest: Manifest,
    db: Database,
    len: usize,
    /// Held for the life of a writing handle; released by the OS on exit.
    _write_lock: Option<File>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("dir", &self.dir)
            .field("manifest", &self.manifest)
            .field("len", &self.len)
            .finish()
    }
}

impl Library {
    /// Opens the library in `dir` for adding papers, creating the folder and
    /// an empty library for `model` if there is none. A library made with
    /// another model or dimension is refused, as is one being written by
    /// another process.
    pub fn open_or_create(dir: &Path, model: &ModelInfo) -> Result<Library> {
        Self::open_or_create_waiting(dir, model, Duration::ZERO)
    }

    /// [`Library::open_or_create`], waiting up to `wait` for another
    /// process that is writing to the library to finish; after that the
    /// error names the process that holds it.
    pub fn open_or_create_waiting(
        dir: &Path,
        model: &ModelInfo,
        wait: Duration,
    ) -> Result<Library> {
        if model.id.is_empty() || model.dim == 0 {
            return Err(Error::InvalidArgument {
                name: "model".into(),
                problem: format!(
                    "a library needs a model id and a non-zero dimension, got {:?} with {} dimensions",
                    model.id, model.dim
                ),
            });
        }
        not_a_folder(dir)?;
        not_someone_elses_folder(dir)?;
        create_dir_all_durably(dir)?;
        let lock = take_write_lock(dir, wait)?;
        let mut library = match Self::load(dir, true)? {
            Some(library) => library,
            None => Self::create(dir, model)?,
        };
        library.check_model(model)?;
        library.record_fingerprint(model)?;
        Self::writer(library, lock)
    }

    /// Opens an existing library in `dir` to update what is derived from
    /// it (its index, its topics), as the one writer: waits up to `wait`
    /// for another writer to finish, then fails naming it. Fails if there
    /// is no library.
    pub fn open_for_update(dir: &Path, wait: Duration) -> Result<Library> {
        not_a_folder(dir)?;
        let missing = || Error::StoreMissing {
            dir: dir.to_path_buf(),
        };
        // A folder with neither file holds no library: it is left as found,
        // without a lock file.
        if !Self::exists(dir) {
            return Err(missing());
        }
        let lock = take_write_lock(dir, wait)?;
        let library = Self::load(dir, true)?.ok_or_else(missing)?;
        Self::writer(library, lock)
    }

    /// Whether `dir` holds a library (its database or its manifest), as
    /// found now, without opening it.
    pub fn exists(dir: &Path) -> bool {
        dir.is_dir() && (dir.join(DATABASE_FILE).exists() || dir.join(MANIFEST_FILE).exists())
    }

    /// Upgrades a library that does not record its model's fingerprint
    /// (format version 1) once `model` has been accepted for it: the
    /// database first, then the manifest, so that a crash in between
    /// leaves a library that is upgraded again on the next write.
    fn record_fingerprint(&mut self, model: &ModelInfo) -> Result<()> {
        let (None, Some(fingerprint)) = (&self.manifest.model.fingerprint, &model.fingerprint)
        else {
            return Ok(());
        };
        self.db.record_fingerprint(fingerprint)?;
        let mut manifest = self.manifest.clone();
        manifest.format_version = FORMAT_VERSION;
        manifest.model.fingerprint = Some(fingerprint.clone());
        manifest.write_atomically(&self.dir.join(MANIFEST_FILE))?;
        self.manifest = manifest;
        Ok(())
    }

    /// Makes `library` the writing handle holding `lock`, after clearing
    /// what killed writers left behind.
    fn writer(mut library: Library, lock: File) -> Result<Library> {
        // Whatever a killed writer left half-written is of no use now.
        remove_stale_temps(&library.dir);
        // A library made before the full-text index (or changed by a build
        // that does not keep it) gets it now.
        library.db.ensure_text_index()?;
        let index = library.index_dir();
        create_dir_all_durably(&index)?;
        remove_stale_temps(&index);
        // The index's own folders (the HNSW graph) hold temporaries too.
        if let Ok(entries) = std::fs::read_dir(&index) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    remove_stale_temps(&entry.path());
                }
            }
        }
        Ok(Library {
            _write_lock: Some(lock),
            ..library
        })
    }

    /// Opens the library in `dir` for queries. Fails if there is none.
    /// Nothing in the folder is written through this handle (see
    /// [`Library::vectors`]); queries leave every file as it was.
    pub fn open(dir: &Path) -> Result<Library> {
        not_a_folder(dir)?;
        Self::load(dir, false)?.ok_or_else(|| Error::StoreMissing {
            dir: dir.to_path_buf(),
        })
    }

    /// SQLite's own check of the database file (see the integrity check):
    /// empty when sound, else what it found.
    pub fn database_damage(&self) -> Result<Vec<String>> {
        self.db.quick_check()
    }

    /// Whether this handle is the library's writer.
    fn is_writer(&self) -> bool {
        self._write_lock.is_some()
    }

    /// Opens what is in `dir`: `None` when no library was ever completed
    /// there. Only a `writer` restores a lost manifest on disk.
    fn load(dir: &Path, writer: bool) -> Result<Option<Library>> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let db_path = dir.join(DATABASE_FILE);
        let has_manifest = manifest_path.exists();
        if !db_path.exists() {
            if has_manifest {
                return Err(Error::StoreCorrupt {
                    path: db_path,
                    problem: "the file is missing, so the library's papers are gone".into(),
                    fix: format!(
                        "Restore it from a backup, or remove {} and ingest the papers again",
                        dir.display()
                    ),
                });
            }
            return Ok(None);
        }
        let db = Database::open(&db_path, false)?;
        if writer && db.is_initialised()? {
            db.ensure_sources_table()?;
        }
        let manifest = if has_manifest {
            manifest::Manifest::read(&manifest_path)?
        } else {
            // Creation writes the database first and the manifest last; a
            // crash in between leaves a database the manifest can be
            // restored from, or one without tables.
            if !db.is_initialised()? {
                return Ok(None);
            }
            let meta = db.meta()?;
            if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&meta.format_version) {
                return Err(Error::StoreFormatVersion {
                    path: db_path,
                    found: meta.format_version,
                    supported: FORMAT_VERSION,
                });
            }
            let restored = Manifest {
                format_version: meta.format_version,
                ..Manifest::new(&ModelInfo {
                    id: meta.model_id,
                    dim: meta.dim,
                    fingerprint: meta.model_fingerprint,
                })
            };
            if writer {
                restored.write_atomically(&manifest_path)?;
            }
            restored
        };
        db.check_against(&manifest)?;
        let len = db.count()?;
        Ok(Some(Library {
            dir: dir.to_path_buf(),
            manifest,
            db,
            len,
            _write_lock: None,
        }))
    }

    fn create(dir: &Path, model: &ModelInfo) -> Result<Library> {
        let manifest = Manifest::new(model);
        let db_path = dir.join(DATABASE_FILE);
        let mut db = Database::open(&db_path, true)?;
        if !db.is_initialised()? {
            db.initialise(&manifest, rand::random::<u64>())?;
        }
        db.ensure_sources_table()?;
        db.check_against(&manifest)?;
        manifest.write_atomically(&dir.join(MANIFEST_FILE))?;
        Ok(Library {
            dir: dir.to_path_buf(),
            manifest,
            db,
            len: 0,
            _write_lock: None,
        })
    }

    /// The library's manifest: format version, model and dimension.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The library folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder the index module keeps its files in (created by
    /// [`Library::open_or_create`]; may be missing in a library never
    /// opened for writing).
    pub fn index_dir(&self) -> PathBuf {
        self.dir.join(INDEX_DIR)
    }

    /// Refuses `model` unless it is the one the library was embedded with:
    /// the same dimension and, when both fingerprints are known, the same
    /// fingerprint (the folder's name does not matter then); otherwise the
    /// same name.
    pub fn check_model(&self, model: &ModelInfo) -> Result<()> {
        let stored = &self.manifest.model;
        if stored.dim == model.dim {
            match (&stored.fingerprint, &model.fingerprint) {
                (Some(recorded), Some(given)) if recorded == given => return Ok(()),
                (Some(recorded), Some(given)) => {
                    return Err(Error::StoreModelFingerprintMismatch {
                        dir: self.dir.clone(),
                        stored_model: stored.id.clone(),
                        stored_fingerprint: short_fingerprint(recorded).to_string(),
                        requested_model: model.id.clone(),
                        requested_fingerprint: short_fingerprint(given).to_string(),
                    })
                }
                _ if stored.id == model.id => return Ok(()),
                _ => {}
            }
        }
        Err(Error::StoreModelMismatch {
            dir: self.dir.clone(),
            stored_model: stored.id.clone(),
            stored_dim: stored.dim,
            requested_model: model.id.clone(),
            requested_dim: model.dim,
        })
    }

    /// Number of papers, as of opening or this handle's last upsert.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the library holds no papers.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The latest committed generation: it rises with every change, so an
    /// index built at generation `g` is current while this still says `g`.
    pub fn generation(&self) -> Result<u64> {
        Ok(self.db.meta()?.generation)
    }

    /// Tells, for each paper, whether it is new, re-worded (needs a new
    /// vector), changed only in other fields, or identical to the stored one.
    pub fn classify<P: std::borrow::Borrow<Paper>>(&self, papers: &[P]) -> Result<Vec<Change>> {
        self.db.classify(papers)
    }

    /// Stores a batch of papers in one transaction. New and re-worded papers
    /// (see [`Library::classify`]) must come with their vector; a vector
    /// given with an unchanged paper replaces the stored one. A vector of the
    /// wrong dimension or with NaN or infinity, or a missing one, fails the
    /// whole batch and nothing is written. A paper whose id occurs twice in
    /// the batch ends up as its last occurrence.
    ///
    /// The vector file is brought up to date lazily, by the next
    /// [`Library::vectors`], so that a long ingest of many batches rewrites
    /// it once.
    pub fn upsert(&mut self, batch: Vec<(Paper, Option<Vec<f32>>)>) -> Result<UpsertSummary> {
        self.upsert_from(batch, None)
    }

    /// [`Library::upsert`], recording that every paper of the batch came
    /// from `source` (an input file's canonical path, or `-` for standard
    /// input; see [`Library::ids_from_source`]).
    pub fn upsert_from(
        &mut self,
        batch: Vec<(Paper, Option<Vec<f32>>)>,
        source: Option<&str>,
    ) -> Result<UpsertSummary> {
        let dim = self.manifest.model.dim;
        for (paper, vector) in &batch {
            if paper.id.is_empty() {
                return Err(Error::InvalidArgument {
                    name: "paper id".into(),
                    problem: format!("the paper titled {:?} has an empty id", paper.title),
                });
            }
            let Some(vector) = vector else { continue };
            if vector.len() != dim {
                return Err(Error::WrongVectorDimension {
                    id: paper.id.clone(),
                    expected: dim,
                    received: vector.len(),
                });
            }
            if let Some((index, &value)) = vector.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::NonFiniteVector {
                    id: paper.id.clone(),
                    index,
                    value,
                });
            }
        }
        let before = self.db.meta()?;
        // A reading handle never writes the vector file, and a version 1
        // library, which does not know its model's fingerprint yet, keeps
        // every vector in the database.
        if !self.is_writer() || before.format_version < 2 {
            let summary = self.db.upsert(&batch, source, None)?;
            self.len = self.db.count()?;
            return Ok(summary);
        }
        if before.format_version < VECTORS_IN_FILE_VERSION {
            self.keep_vectors_in_file()?;
        }
        let path = self.dir.join(VECTOR_FILE);
        let header = self.vector_file_for_rows(&path)?;
        // The header follows the database when nothing changed since it was
        // written; then it can move on with this batch.
        let follows = header.generation == before.generation && header.count == self.len;
        let mut continued_checksum = header.checksum.filter(|_| follows);
        let summary = {
            let mut to_file = |first_slot: usize, bytes: &[u8]| -> Result<()> {
                vector_file::write_rows(&path, header.dim, first_slot, bytes)?;
                continued_checksum = continued_checksum
                    .filter(|_| first_slot == header.count)
                    .map(|crc| {
                        let mut hasher = crc32fast::Hasher::new_with_initial(crc);
                        hasher.update(bytes);
                        hasher.finalize()
                    });
                Ok(())
            };
            self.db.upsert(&batch, source, Some(&mut to_file))?
        };
        self.len = self.db.count()?;
        let vectors_only_added = summary.text_changed == 0 && summary.vectors_replaced == 0;
        if let (true, Some(checksum)) = (vectors_only_added, continued_checksum) {
            if summary.generation != before.generation {
                // The batch is committed; a header left behind by a failure
                // here is brought up to date by the next writer.
                let _ = vector_file::extend_header(
                    &path,
                    Header {
                        count: self.len,
                        generation: summary.generation,
                        checksum: Some(checksum),
                        ..header
                    },
                );
            }
        }
        Ok(summary)
    }

    /// Moves a version 2 library on to keeping new papers' vectors in the
    /// vector file only (format version 3): the database first, then the
    /// manifest, so that a crash in between leaves a library the next
    /// write finishes moving.
    fn keep_vectors_in_file(&mut self) -> Result<()> {
        self.db.raise_format_version(VECTORS_IN_FILE_VERSION)?;
        let mut manifest = self.manifest.clone();
        manifest.format_version = VECTORS_IN_FILE_VERSION;
        manifest.write_atomically(&self.dir.join(MANIFEST_FILE))?;
        self.manifest = manifest;
        Ok(())
    }

    /// The header of the vector file at `path`, which new vectors are
    /// written into; a file that is missing, foreign or shorter than its
    /// header is written anew first.
    fn vector_file_for_rows(&self, path: &Path) -> Result<Header> {
        let meta = self.db.meta()?;
        let usable = |(_, h): &(File, Header)| {
            h.library_id == meta.library_id
                && h.dim == meta.dim
                && h.generation <= meta.generation
                && h.count <= self.len
        };
        if let Some((_, header)) = vector_file::read_header(path).filter(usable) {
            return Ok(header);
        }
        let _lock = self.lock_vector_file()?;
        self.rebuild_vector_file(path, true)?;
        vector_file::read_header(path)
            .filter(usable)
            .map(|(_, header)| header)
            .ok_or_else(|| Error::StoreCorrupt {
                path: path.to_path_buf(),
                problem: "the file just written does not match the database".into(),
                fix: "Check the disk, and that no other program writes into the library folder"
                    .into(),
            })
    }

    /// All vectors, memory-mapped, as of the latest committed change. Slot
    /// `i` of the view is the paper [`Library::papers_by_slots`] returns for
    /// `i`. When the vector file is behind the database, the writer brings
    /// it up to date; a reader reads the file's rows and the database's
    /// newer vectors into memory and leaves the file alone. Vectors that
    /// only the file held and that are gone are an error naming the papers.
    pub fn vectors(&self) -> Result<VectorView> {
        let path = self.dir.join(VECTOR_FILE);
        if let Some(view) = self.current_vector_file(&path)? {
            return Ok(view);
        }
        if !self.is_writer() {
            if let Some(view) = self.vector_file_past_header(&path)? {
                return Ok(view);
            }
            return self.vectors_read_around();
        }
        // Only one process rebuilds at a time; whoever waited checks again,
        // since the file may be current by then.
        let _lock = self.lock_vector_file()?;
        // A writer may commit again while the file is rebuilt; then the
        // fresh file is already behind and is brought up to date once more.
        for _ in 0..3 {
            if let Some(view) = self.current_vector_file(&path)? {
                return Ok(view);
            }
            self.rebuild_vector_file(&path, true)?;
        }
        self.current_vector_file(&path)?
            .ok_or_else(|| Error::StoreCorrupt {
                path: path.clone(),
                problem: "the file just written does not match the database".into(),
                fix: "Check the disk, and that no other program writes into the library folder"
                    .into(),
            })
    }

    /// Takes the lock that lets one process at a time rebuild the vector
    /// file; it is released when the returned file is dropped.
    fn lock_vector_file(&self) -> Result<File> {
        let lock_path = self.dir.join(VECTOR_LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io("open", &lock_path, e))?;
        lock.lock().map_err(|e| Error::io("lock", &lock_path, e))?;
        Ok(lock)
    }

    /// Writes the vector file again whatever state the old one is in
    /// (`relate repair`), and returns how many vectors it holds and the ids
    /// of the papers whose vectors were lost. Vectors the database keeps
    /// whole are written from it; those only the file held are copied from
    /// the old file where their checksums match. A paper whose vector is
    /// gone is given a zero vector and marked for embedding again (see
    /// [`Library::classify`]): it matches nothing until it is ingested
    /// again. Only the library's writer may do this.
    pub fn rebuild_vectors_from_database(&mut self) -> Result<(usize, LostVectors)> {
        if !self.is_writer() {
            return Err(Error::InvalidArgument {
                name: "library".into(),
                problem: "the vector file can only be rebuilt through a writing handle".into(),
            });
        }
        let path = self.dir.join(VECTOR_FILE);
        let _lock = self.lock_vector_file()?;
        let slots = self.lost_vectors(&path)?;
        let mut lost = LostVectors::default();
        if !slots.is_empty() {
            lost.ids = self
                .db
                .papers_by_slots(&slots)?
                .into_iter()
                .map(|paper| paper.id)
                .collect();
            (lost.sources, lost.from_several_files) = self.db.sources_of(&slots)?;
            self.db.mark_vectors_lost(&slots, self.manifest.model.dim)?;
        }
        self.rebuild_vector_file(&path, false)?;
        Ok((self.vectors()?.len(), lost))
    }

    /// Keeps each vector once: vectors the database holds whole (all of a
    /// library made before format version 3) and that the vector file
    /// holds the same are reduced to their checksum in the database, which
    /// is then rewritten without the space they took. Returns how many
    /// were reduced. Needs free disk space about the size of the database
    /// while it runs. Only the library's writer may do this.
    pub fn keep_each_vector_once(&mut self) -> Result<usize> {
        let meta = self.db.meta()?;
        if !self.is_writer() || meta.format_version < 2 {
            return Err(Error::InvalidArgument {
                name: "library".into(),
                problem: if self.is_writer() {
                    "a library of format version 1 must be ingested into once (recording its \
                     model's fingerprint) before its vectors can be compacted"
                        .into()
                } else {
                    "vectors can only be compacted through a writing handle".into()
                },
            });
        }
        if meta.format_version < VECTORS_IN_FILE_VERSION {
            self.keep_vectors_in_file()?;
        }
        let view = self.vectors()?;
        let _lock = self.lock_vector_file()?;
        self.db.keep_rows_in_file(view.generation(), |slot| {
            let vector = view.vector(u32::try_from(slot).ok()?)?;
            Some(vector.iter().flat_map(|v| v.to_le_bytes()).collect())
        })
    }

    /// The slots whose vectors only the vector file held and that it no
    /// longer holds intact.
    fn lost_vectors(&self, path: &Path) -> Result<Vec<u32>> {
        self.db.snapshot(|snap| {
            let body = Body::open(path, snap.meta.dim, snap.meta.library_id);
            let mut row = vec![0u8; snap.meta.dim * 4];
            let mut lost = Vec::new();
            snap.for_each_vector(None, |slot, stored| {
                if let StoredVector::InFile { crc } = stored {
                    if !body.as_ref().is_some_and(|b| b.holds(slot, crc, &mut row)) {
                        lost.push(slot as u32);
                    }
                }
                Ok(())
            })?;
            Ok(lost)
        })
    }

    /// The error for vectors the vector file should hold and does not.
    fn lost_vectors_error(&self, path: &Path, slots: &[u32], total: usize) -> Error {
        let ids: Vec<String> = self
            .db
            .papers_by_slots(slots)
            .map(|papers| papers.into_iter().map(|p| p.id).collect())
            .unwrap_or_default();
        let more = if total > ids.len() {
            format!(" and {} more", total - ids.len())
        } else {
            String::new()
        };
        Error::StoreCorrupt {
            path: path.to_path_buf(),
            problem: format!(
                "the vectors of {total} papers are missing from it or damaged (papers {}{more}); \
                 only this file held them",
                ids.join(", ")
            ),
            fix: "Run `relate repair`, which marks those papers for embedding again, then \
                  ingest the files they came from again"
                .into(),
        }
    }

    /// Maps the vector file past its header when papers were only added
    /// since the header was written and the file holds their vectors
    /// intact (checked against the database's checksums): what a reader
    /// meets between a batch's commit and the header's update, or after a
    /// crash there. `None` when that is not so.
    fn vector_file_past_header(&self, path: &Path) -> Result<Option<VectorView>> {
        let Some((file, old)) = vector_file::read_header(path) else {
            return Ok(None);
        };
        self.db.snapshot(|snap| {
            let meta = &snap.meta;
            if old.library_id != meta.library_id
                || old.dim != meta.dim
                || old.generation >= meta.generation
                || old.count > snap.count
            {
                return Ok(None);
            }
            let changed = self.db.slots_stored_after(old.generation)?;
            if changed
                .first()
                .is_some_and(|&slot| (slot as usize) < old.count)
            {
                return Ok(None);
            }
            let body = Body::of(&file, path, old.dim)?;
            let mut row = vec![0u8; old.dim * 4];
            let mut intact = true;
            snap.for_each_vector(Some(old.generation), |slot, stored| {
                intact &= match stored {
                    StoredVector::InFile { crc } => body.holds(slot, crc, &mut row),
                    StoredVector::Row(_) => false,
                };
                Ok(())
            })?;
            if !intact {
                return Ok(None);
            }
            // The rows the header counts are vouched for by its checksum,
            // checked on opening as for a current file.
            if old.count * old.dim * 4 <= vector_file::VERIFY_ON_OPEN_BYTES as usize {
                if let BodyCheck::Mismatch { recorded, found } =
                    vector_file::verify_body(path, &old)?
                {
                    return Err(vector_file::damaged(path, recorded, found));
                }
            }
            let header = Header {
                count: snap.count,
                generation: meta.generation,
                checksum: None,
                ..old
            };
            VectorView::map(&file, path, header).map(Some)
        })
    }

    /// Every vector as of one database snapshot, read into memory: the rows
    /// the vector file holds, checked against the database's checksums,
    /// with the vectors the database keeps whole laid over them. What a
    /// reader uses while the file's header is behind the database.
    fn vectors_read_around(&self) -> Result<VectorView> {
        let path = self.dir.join(VECTOR_FILE);
        self.db.snapshot(|snap| {
            let dim = snap.meta.dim;
            let row_bytes = dim * 4;
            let mut values = vec![0f32; snap.count * dim];
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
            let body = Body::open(&path, dim, snap.meta.library_id);
            let held = body.as_ref().map_or(0, |b| b.rows.min(snap.count));
            if let Some(body) = &body {
                if held > 0 && !body.read_row(0, &mut bytes[..held * row_bytes]) {
                    return Err(Error::io(
                        "read",
                        &path,
                        std::io::ErrorKind::UnexpectedEof.into(),
                    ));
                }
            }
            let (mut lost, mut lost_total) = (Vec::new(), 0);
            snap.for_each_vector(None, |slot, stored| {
                let row = &mut bytes[slot * row_bytes..(slot + 1) * row_bytes];
                match stored {
                    StoredVector::Row(vector) => row.copy_from_slice(vector),
                    StoredVector::InFile { crc } => {
                        if slot >= held || crc32fast::hash(row) != crc {
                            lost_total += 1;
                            if lost.len() < LOST_NAMED {
                                lost.push(slot as u32);
                            }
                        }
                    }
                }
                Ok(())
            })?;
            if lost_total > 0 {
                return Err(self.lost_vectors_error(&path, &lost, lost_total));
            }
            for value in values.iter_mut() {
                *value = f32::from_bits(u32::from_le(value.to_bits()));
            }
            Ok(VectorView::in_memory(values, dim, snap.meta.generation))
        })
    }

    /// Maps the vector file if it is complete and matches the database's
    /// latest generation.
    fn current_vector_file(&self, path: &Path) -> Result<Option<VectorView>> {
        let meta = self.db.meta()?;
        match vector_file::read_header(path) {
            Some((file, header))
                if header.generation == meta.generation
                    && header.library_id == meta.library_id
                    && header.dim == meta.dim =>
            {
                match VectorView::map(&file, path, header) {
                    Ok(view) => Ok(Some(view)),
                    // The writer rebuilds a damaged file from the database;
                    // a reader reports it.
                    Err(Error::StoreCorrupt { .. }) if self.is_writer() => Ok(None),
                    Err(e) => Err(e),
                }
            }
            _ => Ok(None),
        }
    }

    /// Brings the vector file up to date with one database snapshot. Call
    /// with the vector lock held. When papers were only added since the
    /// file's header was written, it is grown in place; otherwise a new
    /// file is written, copying the old file's rows (trusting those its
    /// checksum vouches for, when `reuse` allows, and checking the rest
    /// against the database) and writing the vectors the database keeps
    /// whole. Fails, naming the papers, when vectors only the file held are
    /// gone.
    fn rebuild_vector_file(&self, path: &Path, reuse: bool) -> Result<()> {
        // The vectors the database kept whole that the new file now holds,
        // as (slot, checksum).
        let mut now_in_file = Vec::new();
        self.db.snapshot(|snap| {
            let header = Header {
                dim: snap.meta.dim,
                count: snap.count,
                generation: snap.meta.generation,
                library_id: snap.meta.library_id,
                checksum: None,
            };
            let row_bytes = header.dim * 4;
            let old = vector_file::read_header(path)
                .map(|(_, old)| old)
                .filter(|old| {
                    reuse
                        && old.library_id == header.library_id
                        && old.dim == header.dim
                        && old.generation < header.generation
                        && old.count <= header.count
                });
            // Papers only added since the old header: their vectors are
            // appended (or found already written) in place. The old body is
            // not read again; the checksum carries on from the one recorded.
            if let Some(old) = old {
                let only_added = self
                    .db
                    .slots_stored_after(old.generation)?
                    .first()
                    .is_none_or(|&first| first as usize >= old.count);
                if only_added {
                    // On failure the file is written again whole below.
                    let appended = (|| -> Result<bool> {
                        let Some(mut out) = VectorFileAppender::open(path, old, header)? else {
                            return Ok(false);
                        };
                        let mut intact = true;
                        snap.for_each_vector(Some(old.generation), |slot, stored| {
                            match stored {
                                StoredVector::Row(bytes) => {
                                    out.put(slot, bytes)?;
                                    now_in_file.push((slot as u32, crc32fast::hash(bytes)));
                                }
                                StoredVector::InFile { crc } if intact => {
                                    intact = out.keep(slot, crc)?;
                                }
                                StoredVector::InFile { .. } => {}
                            }
                            Ok(())
                        })?;
                        if !intact {
                            return Ok(false);
                        }
                        out.commit()?;
                        Ok(true)
                    })();
                    if let Ok(true) = appended {
                        return Ok(());
                    }
                    now_in_file.clear();
                }
            }
            let mut body = Body::open(path, header.dim, header.library_id);
            // Rows up to the old header's count are vouched for by its
            // checksum; then only what changed after it needs reading.
            let trusted_since = old.filter(|old| {
                !matches!(
                    vector_file::verify_body(path, old),
                    Ok(BodyCheck::Mismatch { .. }) | Err(_)
                )
            });
            let mut out = VectorFileWriter::create(path, header)?;
            let mut copied = 0;
            if let Some(body) = body.as_mut() {
                copied = body.rows.min(header.count);
                out.copy_prefix(&mut body.file, path, copied)?;
            }
            let (mut row, zeros) = (vec![0u8; row_bytes], vec![0u8; row_bytes]);
            let (mut lost, mut lost_total) = (Vec::new(), 0);
            snap.for_each_vector(trusted_since.map(|old| old.generation), |slot, stored| {
                match stored {
                    StoredVector::Row(bytes) => {
                        now_in_file.push((slot as u32, crc32fast::hash(bytes)));
                        out.put(slot, bytes)
                    }
                    StoredVector::InFile { crc } => {
                        let intact = slot < copied
                            && body.as_ref().is_some_and(|b| b.holds(slot, crc, &mut row));
                        if intact {
                            return Ok(());
                        }
                        lost_total += 1;
                        if lost.len() < LOST_NAMED {
                            lost.push(slot as u32);
                        }
                        // Keeps the slots in order, to find every loss.
                        out.put(slot, &zeros)
                    }
                }
            })?;
            if lost_total > 0 {
                return Err(self.lost_vectors_error(path, &lost, lost_total));
            }
            out.commit()
        })?;
        // A library of format version 3 keeps each vector once: now that the
        // file holds them durably, the database's whole copies become
        // checksums (older formats are read by older builds, which need
        // them whole). A failure here only leaves them whole.
        if !now_in_file.is_empty() && self.db.meta()?.format_version >= VECTORS_IN_FILE_VERSION {
            let _ = self
                .db
                .reduce_rows_to_checksums(&now_in_file, self.manifest.model.dim);
        }
        Ok(())
    }

    /// Ids of the papers ingested from `source` (as recorded by
    /// [`Library::upsert_from`]; papers stored before sources were
    /// recorded have none).
    pub fn ids_from_source(&self, source: &str) -> Result<Vec<String>> {
        self.db.ids_from_source(source)
    }

    /// For each paper at `first_slot` or later whose title (case and
    /// spacing aside) an earlier paper has: (its slot, the earliest such
    /// paper's slot).
    pub fn earlier_same_titles(&self, first_slot: u32) -> Result<Vec<(u32, u32)>> {
        self.db.earlier_same_titles(first_slot)
    }

    /// Every input file papers were ingested from, with how many papers
    /// each gave, most first (papers stored before sources were recorded
    /// count nowhere).
    pub fn source_counts(&self) -> Result<Vec<(String, usize)>> {
        self.db.source_counts()
    }

    /// The stored paper with this id.
    pub fn paper_by_id(&self, id: &str) -> Result<Option<Paper>> {
        Ok(self.db.paper_by_id(id)?.map(|(_, paper)| paper))
    }

    /// The slot and record of the paper with this id.
    pub fn slot_and_paper(&self, id: &str) -> Result<Option<(u32, Paper)>> {
        self.db.paper_by_id(id)
    }

    /// Checks the vectors in `slots` of `view` against the checksums their
    /// database rows keep, when `view` maps a vector file too large to be
    /// checked whole each time it is opened (see
    /// [`vector_file::VERIFY_ON_OPEN_BYTES`]; `relate info --check` reads
    /// it all). Answers check the rows they use, so that a row damaged on
    /// disk is an error naming the file rather than a wrong answer.
    pub fn check_vector_rows(&self, view: &VectorView, slots: &[u32]) -> Result<()> {
        let rows: Vec<(u32, &Path, &[u8])> = slots
            .iter()
            .filter_map(|&slot| view.unverified_row(slot).map(|(p, b)| (slot, p, b)))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let wanted: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let sums = self.db.vector_checksums(&wanted, view.generation())?;
        for ((slot, path, bytes), sum) in rows.into_iter().zip(sums) {
            if sum.is_some_and(|sum| sum != crc32fast::hash(bytes)) {
                return Err(Error::StoreCorrupt {
                    path: path.to_path_buf(),
                    problem: format!(
                        "the vector in slot {slot} does not match its checksum, so the file \
                         was damaged on disk"
                    ),
                    fix: "Run `relate info --check` to find every damaged vector, then \
                          `relate repair`"
                        .into(),
                });
            }
        }
        Ok(())
    }

    /// Papers whose id contains `fragment` (ASCII case aside), with their
    /// slots; at most `limit`. Reads every id.
    pub fn papers_with_id_containing(
        &self,
        fragment: &str,
        limit: usize,
    ) -> Result<Vec<(u32, Paper)>> {
        self.db.papers_with_id_containing(fragment, limit)
    }

    /// The slot of the paper with this id (its row in [`Library::vectors`]).
    pub fn slot_of(&self, id: &str) -> Result<Option<u32>> {
        Ok(self.db.paper_by_id(id)?.map(|(slot, _)| slot))
    }

    /// The slots whose vectors were stored (added or replaced) after
    /// generation `since`, in ascending order.
    pub fn slots_stored_after(&self, since: u64) -> Result<Vec<u32>> {
        self.db.slots_stored_after(since)
    }

    /// Runs `read` with every lookup it makes through this handle in one
    /// read transaction: all of them see the same committed state, for the
    /// price of one lock. For a query's lookups (a paper, its neighbours'
    /// records), not for reading the vectors.
    pub fn read_together<T>(&self, read: impl FnOnce(&Library) -> Result<T>) -> Result<T> {
        self.db.read_together(|| read(self))
    }

    /// The papers in these slots, in the order given. An unknown slot is an
    /// error.
    pub fn papers_by_slots(&self, slots: &[u32]) -> Result<Vec<Paper>> {
        self.db.papers_by_slots(slots)
    }

    /// Finds a paper by its title: an exact match ignoring case and spacing,
    /// else the closest unique match by title words, else the candidates
    /// that fit about equally well, else nothing.
    pub fn find_by_title(&self, title: &str) -> Result<TitleMatch> {
        let key = title::title_key(title);
        if key.is_empty() {
            return Ok(TitleMatch::NotFound);
        }
        let mut exact = self.db.papers_by_title_key(&key)?;
        match exact.len() {
            0 => {}
            1 => return Ok(TitleMatch::Exact(exact.swap_remove(0))),
            _ => {
                exact.truncate(title::MAX_CANDIDATES);
                return Ok(TitleMatch::Ambiguous(exact));
            }
        }
        let words = title::words(title);
        if words.is_empty() {
            return Ok(TitleMatch::NotFound);
        }
        let mut found = self
            .db
            .titles_by_words(&title::fts_query(&words, true), TITLE_SEARCH_LIMIT)?;
        if found.is_empty() && words.len() <= MAX_TYPO_QUERY_WORDS {
            // Allow one misspelt or extra word: titles with all words but
            // one. (Titles with any word would match most of a large library.)
            for skipped in &words {
                let mut rest = words.clone();
                rest.remove(skipped);
                if rest.is_empty() {
                    continue;
                }
                for hit in self
                    .db
                    .titles_by_words(&title::fts_query(&rest, true), TITLE_SEARCH_LIMIT)?
                {
                    if !found.contains(&hit) {
                        found.push(hit);
                    }
                }
            }
        }
        Ok(match title::choose(&words, &found) {
            title::Choice::Closest(slot) => {
                TitleMatch::Closest(self.db.papers_by_slots(&[slot])?.swap_remove(0))
            }
            title::Choice::Ambiguous(slots) => {
                TitleMatch::Ambiguous(self.db.papers_by_slots(&slots)?)
            }
            title::Choice::NotFound => TitleMatch::NotFound,
        })
    }

    /// Whether the full-text index of titles and abstracts is in step with
    /// the papers.
    pub fn text_index_state(&self) -> Result<TextIndexState> {
        self.db.text_index_state()
    }

    /// `(slot, BM25 score)` of the papers matching `fts_query` (an FTS5
    /// query; see [`crate::lexical::fts_query`]) in their title or
    /// abstract, best first, at most `limit`. A library whose full-text
    /// index is missing or behind gets an error saying how to build it.
    pub fn text_search(&self, fts_query: &str, limit: usize) -> Result<Vec<(u32, f64)>> {
        self.require_text_index()?;
        self.db.text_search(fts_query, limit)
    }

    /// An error saying how to build the full-text index unless it is in
    /// step with the papers.
    pub fn require_text_index(&self) -> Result<()> {
        let problem = match self.db.text_index_state()? {
            TextIndexState::Current => return Ok(()),
            TextIndexState::Missing => "has no full-text index of titles and abstracts yet",
            TextIndexState::Behind => {
                "has a full-text index older than its papers (they were changed by an older relate)"
            }
        };
        Err(Error::TextIndexMissing {
            dir: self.dir.clone(),
            problem,
        })
    }

    /// Every stored paper, in slot order (element `i` is slot `i`).
    pub fn all_papers(&self) -> Result<Vec<Paper>> {
        let mut papers = Vec::with_capacity(self.len);
        self.db.for_each_paper(|_, paper| papers.push(paper))?;
        Ok(papers)
    }

    /// Calls `each(slot, paper)` for every stored paper in slot order,
    /// without holding them all in memory.
    pub fn for_each_paper(&self, each: impl FnMut(u32, Paper)) -> Result<()> {
        self.db.for_each_paper(each)
    }

    /// The abstracts of the papers in `slots`, one per slot in order; an
    /// error when one of them is missing.
    pub fn abstracts_in(&self, slots: std::ops::Range<u32>) -> Result<Vec<String>> {
        self.db.abstracts_in(slots)
    }

    /// Bytes used by every file in the library folder, index files included.
    pub fn size_on_disk(&self) -> Result<u64> {
        folder_size(&self.dir)
    }
}

/// How often a waiting writer tries the lock again, and how long even a
/// writer that will not wait tries.
const LOCK_GRACE: Duration = Duration::from_millis(100);

/// Takes the library's write lock, trying again for up to `wait` while
/// another process holds it, and records this process as its holder.
/// Fails when `dir` exists but is not a folder (a papers file given as the
/// library, say).
fn not_a_folder(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::StoreNotFolder {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Refuses a folder that holds files but none of a library's (a home
/// folder given as `--store` by mistake), where a new library would be
/// mixed with them.
fn not_someone_elses_folder(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let library_file = |name: &String| {
        [DATABASE_FILE, MANIFEST_FILE, WRITE_LOCK_FILE, VECTOR_FILE]
            .iter()
            .any(|f| name.starts_with(f))
    };
    match names.iter().find(|n| !n.starts_with('.')) {
        Some(example) if !names.iter().any(library_file) => Err(Error::StoreFolderInUse {
            dir: dir.to_path_buf(),
            example: example.clone(),
        }),
        _ => Ok(()),
    }
}

fn take_write_lock(dir: &Path, wait: Duration) -> Result<File> {
    let path = dir.join(WRITE_LOCK_FILE);
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    let start = Instant::now();
    // A lock released a moment ago can stay held for a moment longer by a
    // child process the holder was starting (between its fork and exec), so
    // even a writer that will not wait tries for a little while.
    let wait = wait.max(LOCK_GRACE);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                std::thread::sleep(LOCK_GRACE.min(wait.saturating_sub(start.elapsed())));
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::StoreBusy {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "unknown".into()
                    } else {
                        holder.to_string()
                    },
                    waited_secs: wait.as_secs(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
        }
    }
    // Says who holds the lock, for a writer that has to wait.
    let holder = format!(
        "process {}: {}",
        std::process::id(),
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(holder.as_bytes()));
    Ok(file)
}

fn folder_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let kind = entry
            .file_type()
            .map_err(|e| Error::io("inspect", entry.path(), e))?;
        if kind.is_dir() {
            total += folder_size(&entry.path())?;
        } else if kind.is_file() {
            // A file removed meanwhile (a finished temp file) counts as empty.
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    Ok(total)
}
