//! The library database (SQLite): paper records, their vectors (see
//! [`StoredVector`]), a hash of each paper's embedding text, a title
//! word index, a full-text index of titles and abstracts (for BM25) and the
//! generation counter. It is the source of truth; every
//! change is one transaction, so a crash leaves the previous state or the
//! new one.
//!
//! Each paper occupies a slot, a dense 0-based number given when the paper
//! is first stored and never changed; slots are what the vector file and
//! the index use.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};

use super::manifest::{Manifest, FORMAT_VERSION, OLDEST_FORMAT_VERSION};
use super::title;
use crate::corpus::Paper;
use crate::{Error, Result};

/// How an incoming paper relates to what the library already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// No paper with this id is stored: it needs a vector.
    New,
    /// Its title or abstract (the embedded text) differs: it needs a new vector.
    TextChanged,
    /// Only other fields (authors, date, ...) differ: no new vector needed.
    MetadataChanged,
    /// Identical to the stored paper.
    Unchanged,
}

impl Change {
    /// Whether a paper with this change must come with a vector.
    pub fn needs_vector(self) -> bool {
        matches!(self, Change::New | Change::TextChanged)
    }
}

/// What one [`upsert`](super::Library::upsert) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpsertSummary {
    pub added: usize,
    pub text_changed: usize,
    pub metadata_changed: usize,
    pub unchanged: usize,
    /// Unchanged papers whose vector was replaced by a different one given
    /// with them.
    pub vectors_replaced: usize,
    /// Papers stored from another source that this one replaced with a
    /// different title under the same id (two files numbering their rows
    /// alike, say): the first of them as (id, old title, new title), and
    /// how many there were.
    pub retitled_from_elsewhere: Option<(String, String, String)>,
    pub retitled_from_elsewhere_count: usize,
    /// The library generation after the upsert (unchanged if nothing was).
    pub generation: u64,
}

/// Library-wide facts kept in the database next to the papers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    pub format_version: u32,
    pub model_id: String,
    /// Recorded from format version 2 on.
    pub model_fingerprint: Option<String>,
    pub dim: usize,
    pub library_id: u64,
    pub generation: u64,
}

/// Row counts of the papers and vectors tables (see
/// [`Database::table_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableCounts {
    pub papers: usize,
    /// Highest paper slot plus one: equal to `papers` when slots are dense.
    pub slots: usize,
    pub vectors: usize,
    pub papers_without_vector: usize,
    pub vectors_without_paper: usize,
}

/// A vector as its row in the `vectors` table keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredVector<'a> {
    /// The vector itself, `dim` little-endian f32: how every vector was
    /// kept before format version 3, and how a replaced vector is kept, so
    /// that the database holds it until the vector file has it.
    Row(&'a [u8]),
    /// The vector lives only in the vector file, at its slot; the row keeps
    /// the CRC-32 of its bytes (format version 3 on, for papers added).
    InFile { crc: u32 },
}

/// Bytes of a row that keeps only a vector's checksum.
const IN_FILE_ROW_BYTES: usize = 4;

/// Where a batch's new vectors go before it commits (see
/// [`Database::upsert`]): called once with the first new slot and the new
/// vectors' bytes in slot order, it must make them durable in the vector
/// file; an error rolls the batch back.
pub(crate) type NewRowsSink<'a> = &'a mut dyn FnMut(usize, &[u8]) -> Result<()>;

/// A consistent read of the vectors at one generation.
pub(crate) struct Snapshot<'a> {
    db: &'a Database,
    pub meta: Meta,
    pub count: usize,
}

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;
CREATE TABLE papers (
    slot INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    title_key TEXT NOT NULL,
    text_sha256 BLOB NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX papers_by_title_key ON papers (title_key);
CREATE TABLE vectors (
    slot INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX vectors_by_generation ON vectors (generation);
CREATE VIRTUAL TABLE title_words USING fts5 (title, tokenize = 'unicode61 remove_diacritics 2');
";

/// The full-text index of titles and abstracts (row id = slot), added after
/// format version 2 without changing it: libraries made before it get it
/// when next opened for writing ([`Database::ensure_text_index`]). It keeps
/// no copy of the text (`content = ''`): searches need only the row ids and
/// scores, and the papers' records hold the text already. Indexes made
/// before that keep their copy and work the same.
const TEXT_SCHEMA: &str = "
CREATE VIRTUAL TABLE IF NOT EXISTS paper_text USING fts5 (
    title, abstract, content = '', contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
";

/// KiB of database pages each connection keeps in memory (SQLite's
/// default is 2,000 KiB).
const CACHE_KIB: i64 = 32 * 1024;

/// Bytes per database page for new libraries. A 384-float vector row
/// (about 1,550 bytes) fits twice in a 4 KiB page, wasting a quarter of it,
/// and ten times in 16 KiB: 100,000 such rows take 165 MB rather than 206
/// MB (154 MB raw).
const PAGE_SIZE: i64 = 16_384;

/// The meta key holding the generation the text index was last brought up
/// to. A writer that does not know the index (an older build) raises the
/// generation without it, so a mismatch means the index is behind.
const TEXT_GENERATION_KEY: &str = "text_index_generation";

/// BM25 column weights: a term in the title counts this many times one in
/// the abstract.
const TITLE_WEIGHT: f64 = 2.0;

/// State of the full-text index of titles and abstracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextIndexState {
    /// In step with the papers.
    Current,
    /// The library was made before the index existed.
    Missing,
    /// Papers were changed by a build that does not keep the index.
    Behind,
}

/// Which input files each paper was ingested from: added without a format
/// version change, so it is created whenever the library is opened for
/// writing; papers stored before it existed have no rows in it.
const SOURCES_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS paper_sources (
    slot INTEGER NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (source, slot)
) WITHOUT ROWID;
";

/// An open connection to `library.sqlite`.
pub(crate) struct Database {
    conn: Connection,
    path: PathBuf,
}

fn text_hash(paper: &Paper) -> [u8; 32] {
    Sha256::digest(paper.embedding_text().as_bytes()).into()
}

fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Rows of the full-text tables that a batch replaces and adds: (slot,
/// title) and (slot, title, abstract).
#[derive(Default)]
struct PendingText<'a> {
    dropped_titles: Vec<i64>,
    dropped_texts: Vec<i64>,
    titles: Vec<(i64, &'a str)>,
    texts: Vec<(i64, &'a str, &'a str)>,
}

impl PendingText<'_> {
    /// Writes the rows into the full-text tables of the transaction `tx`:
    /// the new rows go through temporary tables and then in one statement
    /// per full-text table, so that FTS5 writes them to disk once.
    fn write(&self, tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
        if self.titles.is_empty() && self.texts.is_empty() {
            return Ok(());
        }
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS pending_titles (slot INTEGER PRIMARY KEY, title TEXT NOT NULL);
             CREATE TEMP TABLE IF NOT EXISTS pending_texts (slot INTEGER PRIMARY KEY, title TEXT NOT NULL, abstract TEXT NOT NULL);",
        )?;
        {
            let mut title = tx.prepare_cached(
                "INSERT OR REPLACE INTO temp.pending_titles (slot, title) VALUES (?1, ?2)",
            )?;
            for (slot, t) in &self.titles {
                title.execute(params![slot, t])?;
            }
            let mut text = tx.prepare_cached(
                "INSERT OR REPLACE INTO temp.pending_texts (slot, title, abstract) VALUES (?1, ?2, ?3)",
            )?;
            for (slot, t, a) in &self.texts {
                text.execute(params![slot, t, a])?;
            }
            let mut drop_title = tx.prepare_cached("DELETE FROM title_words WHERE rowid = ?1")?;
            for slot in &self.dropped_titles {
                drop_title.execute([slot])?;
            }
            let mut drop_text = tx.prepare_cached("DELETE FROM paper_text WHERE rowid = ?1")?;
            for slot in &self.dropped_texts {
                drop_text.execute([slot])?;
            }
        }
        tx.execute_batch(
            "INSERT INTO title_words (rowid, title) SELECT slot, title FROM temp.pending_titles ORDER BY slot;
             INSERT INTO paper_text (rowid, title, abstract) SELECT slot, title, abstract FROM temp.pending_texts ORDER BY slot;
             DELETE FROM temp.pending_titles;
             DELETE FROM temp.pending_texts;",
        )
    }
}

impl Database {
    /// Opens (or with `create`, creates) the database at `path`.
    pub fn open(path: &Path, create: bool) -> Result<Database> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| db_error(path, "open", e))?;
        let db = Database {
            conn,
            path: path.to_path_buf(),
        };
        db.conn
            .busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| db.err("configure", e))?;
        // A new database gets pages of PAGE_SIZE bytes (an existing one
        // keeps its own: the size is fixed once the first page is written).
        // WAL lets queries read while an ingest writes; FULL syncs each
        // commit, so the generation on disk never goes backwards. Temporary
        // tables (a batch's full-text rows) and statement journals stay in
        // memory: written to temporary files they took a sixth of an
        // import's time in system calls.
        db.conn
            .pragma_update(None, "page_size", PAGE_SIZE)
            .and_then(|()| db.conn.pragma_update(None, "journal_mode", "WAL"))
            .and_then(|()| db.conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| db.conn.pragma_update(None, "cache_size", -CACHE_KIB))
            .and_then(|()| db.conn.pragma_update(None, "temp_store", "MEMORY"))
            .map_err(|e| db.err("open", e))?;
        Ok(db)
    }

    fn err(&self, action: &'static str, e: rusqlite::Error) -> Error {
        db_error(&self.path, action, e)
    }

    /// Creates the tables of an empty library in one transaction.
    pub fn initialise(&mut self, manifest: &Manifest, library_id: u64) -> Result<()> {
        let path = self.path.clone();
        let err = |e| db_error(&path, "create the library tables", e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute_batch(SCHEMA).map_err(err)?;
        tx.execute_batch(TEXT_SCHEMA).map_err(err)?;
        {
            let mut put = tx
                .prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")
                .map_err(err)?;
            put.execute(params!["format_version", manifest.format_version])
                .map_err(err)?;
            put.execute(params!["model_id", manifest.model.id])
                .map_err(err)?;
            put.execute(params!["dim", manifest.model.dim as i64])
                .map_err(err)?;
            if let Some(fingerprint) = &manifest.model.fingerprint {
                put.execute(params!["model_fingerprint", fingerprint])
                    .map_err(err)?;
            }
            put.execute(params!["library_id", library_id as i64])
                .map_err(err)?;
            put.execute(params!["generation", 0i64]).map_err(err)?;
            put.execute(params![TEXT_GENERATION_KEY, 0i64])
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Whether the database has a table called `name` (tables added after
    /// format version 2 are missing from libraries made before them).
    fn has_table(&self, name: &str) -> rusqlite::Result<bool> {
        self.conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |row| row.get(0),
        )
    }

    /// Whether the full-text index of titles and abstracts exists and is in
    /// step with the papers.
    pub fn text_index_state(&self) -> Result<TextIndexState> {
        let err = |e| self.err("read the schema", e);
        if !self.has_table("paper_text").map_err(err)? {
            return Ok(TextIndexState::Missing);
        }
        let indexed: Option<i64> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [TEXT_GENERATION_KEY],
                |row| row.get(0),
            )
            .optional()
            .map_err(err)?;
        let generation = self.meta()?.generation;
        Ok(if indexed == Some(generation as i64) {
            TextIndexState::Current
        } else {
            TextIndexState::Behind
        })
    }

    /// Creates the full-text index of titles and abstracts if the library
    /// has none, and refills it if it is behind the papers, in one
    /// transaction. Returns whether anything was written.
    pub fn ensure_text_index(&mut self) -> Result<bool> {
        if self.text_index_state()? == TextIndexState::Current {
            return Ok(false);
        }
        let path = self.path.clone();
        let err = |e| db_error(&path, "build the full-text index", e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute_batch(TEXT_SCHEMA).map_err(err)?;
        tx.execute("DELETE FROM paper_text", []).map_err(err)?;
        {
            let mut read = tx
                .prepare("SELECT slot, record FROM papers ORDER BY slot")
                .map_err(err)?;
            let mut put = tx
                .prepare("INSERT INTO paper_text (rowid, title, abstract) VALUES (?1, ?2, ?3)")
                .map_err(err)?;
            let mut rows = read.query([]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let slot: i64 = row.get(0).map_err(err)?;
                let record: String = row.get(1).map_err(err)?;
                let paper = serde_json::from_str::<Paper>(&record).map_err(|e| {
                    corrupt(
                        &path,
                        &format!("the stored record in slot {slot} is malformed ({e})"),
                    )
                })?;
                put.execute(params![slot, paper.title, paper.abstract_text])
                    .map_err(err)?;
            }
        }
        let generation = read_meta(&tx)
            .map_err(err)?
            .ok_or_else(|| corrupt(&path, "its meta table lacks a required entry"))?
            .generation;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![TEXT_GENERATION_KEY, generation as i64],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(true)
    }

    /// `(slot, BM25 score)` of the papers matching an FTS5 query on titles
    /// and abstracts, best first (higher is better), at most `limit`.
    pub fn text_search(&self, fts_query: &str, limit: usize) -> Result<Vec<(u32, f64)>> {
        let err = |e| self.err("search titles and abstracts", e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT rowid, bm25(paper_text, ?3, 1.0) AS score FROM paper_text \
                 WHERE paper_text MATCH ?1 ORDER BY score LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![fts_query, limit as i64, TITLE_WEIGHT], |r| {
                // SQLite's bm25() is lower for better matches.
                Ok((r.get::<_, u32>(0)?, -r.get::<_, f64>(1)?))
            })
            .map_err(err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err);
        rows
    }

    /// Creates the table of paper sources when the library predates it.
    pub fn ensure_sources_table(&self) -> Result<()> {
        self.conn
            .execute_batch(SOURCES_SCHEMA)
            .map_err(|e| self.err("create the paper sources table", e))
    }

    /// Ids of the papers ingested from `source` (none when the library has
    /// no sources table yet).
    pub fn ids_from_source(&self, source: &str) -> Result<Vec<String>> {
        let err = |e| self.err("look up paper sources", e);
        if !self.has_table("paper_sources").map_err(err)? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT p.id FROM paper_sources s JOIN papers p ON p.slot = s.slot WHERE s.source = ?1",
            )
            .map_err(err)?;
        let ids = stmt
            .query_map([source], |r| r.get(0))
            .map_err(err)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(err);
        ids
    }

    /// For each paper at `first_slot` or later whose title (case and
    /// spacing aside) an earlier paper has: (its slot, the earliest such
    /// paper's slot). What an ingest checks for copies among the papers it
    /// added.
    pub fn earlier_same_titles(&self, first_slot: u32) -> Result<Vec<(u32, u32)>> {
        let err = |e| self.err("look up papers by title", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.slot, (SELECT min(b.slot) FROM papers b \
                 WHERE b.title_key = a.title_key AND b.slot < a.slot) \
                 FROM papers a WHERE a.slot >= ?1 ORDER BY a.slot",
            )
            .map_err(err)?;
        let pairs = stmt
            .query_map([first_slot], |r| {
                Ok((r.get::<_, u32>(0)?, r.get::<_, Option<u32>>(1)?))
            })
            .map_err(err)?
            .filter_map(|row| match row {
                Ok((slot, Some(earlier))) => Some(Ok((slot, earlier))),
                Ok((_, None)) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<rusqlite::Result<Vec<(u32, u32)>>>()
            .map_err(err);
        pairs
    }

    /// Every input file papers were ingested from, with how many papers it
    /// gave (a paper read from two files counts for both), most first;
    /// empty when the library has no sources table yet.
    pub fn source_counts(&self) -> Result<Vec<(String, usize)>> {
        let err = |e| self.err("look up paper sources", e);
        if !self.has_table("paper_sources").map_err(err)? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT source, count(*) FROM paper_sources GROUP BY source \
                 ORDER BY count(*) DESC, source",
            )
            .map_err(err)?;
        let counts = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))
            .map_err(err)?
            .collect::<rusqlite::Result<Vec<(String, usize)>>>()
            .map_err(err);
        counts
    }

    /// The input files the papers in `slots` were ingested from, for the
    /// papers that came from one file only, each with how many of those
    /// papers it gave, most first; and how many came from several files
    /// (which of them holds a paper's current version is not recorded).
    /// Papers stored before sources were recorded count nowhere.
    pub fn sources_of(&self, slots: &[u32]) -> Result<(Vec<(String, usize)>, usize)> {
        let err = |e| self.err("look up paper sources", e);
        let mut found: std::collections::HashMap<u32, Vec<String>> =
            slots.iter().map(|&slot| (slot, Vec::new())).collect();
        if self.has_table("paper_sources").map_err(err)? {
            let mut stmt = self
                .conn
                .prepare("SELECT slot, source FROM paper_sources")
                .map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let slot: u32 = row.get(0).map_err(err)?;
                if let Some(files) = found.get_mut(&slot) {
                    files.push(row.get(1).map_err(err)?);
                }
            }
        }
        let mut counts: std::collections::HashMap<String, usize> = Default::default();
        let mut several = 0;
        for files in found.into_values() {
            match files.len() {
                0 => {}
                1 => {
                    *counts
                        .entry(files.into_iter().next().unwrap_or_default())
                        .or_default() += 1
                }
                _ => several += 1,
            }
        }
        let mut sources: Vec<(String, usize)> = counts.into_iter().collect();
        sources.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok((sources, several))
    }

    /// Whether the library tables exist (a crash during creation can leave
    /// an empty database file behind).
    pub fn is_initialised(&self) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| self.err("read the schema", e))
    }

    /// Reads the library-wide facts.
    pub fn meta(&self) -> Result<Meta> {
        read_meta(&self.conn)
            .map_err(|e| self.err("read library facts", e))?
            .ok_or_else(|| self.corrupt("its meta table lacks a required entry"))
    }

    fn corrupt(&self, problem: &str) -> Error {
        corrupt(&self.path, problem)
    }

    /// Records the model's fingerprint and raises the format version to
    /// this build's, in one transaction (the upgrade of a version 1
    /// library).
    pub fn record_fingerprint(&mut self, fingerprint: &str) -> Result<()> {
        let path = self.path.clone();
        let err = |e| db_error(&path, "record the model fingerprint", e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('model_fingerprint', ?1)",
            params![fingerprint],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('format_version', ?1)",
            params![FORMAT_VERSION],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Raises the recorded format version to `version` (see
    /// [`super::Library`] for when).
    pub fn raise_format_version(&mut self, version: u32) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('format_version', ?1)",
                params![version],
            )
            .map(|_| ())
            .map_err(|e| self.err("record the format version", e))
    }

    /// Reduces every vector row that keeps its vector whole and whose
    /// slot `file_row` gives the same bytes for (the current vector file's
    /// row) to the vector's checksum, in one transaction at generation
    /// `generation` (refused if the library moved on), then rewrites the
    /// database without the space freed (`VACUUM`). Returns how many rows
    /// were reduced.
    pub fn keep_rows_in_file(
        &mut self,
        generation: u64,
        file_row: impl Fn(usize) -> Option<Vec<u8>>,
    ) -> Result<usize> {
        let path = self.path.clone();
        let err = |e| db_error(&path, "keep vectors once", e);
        let tx = self.conn.transaction().map_err(err)?;
        let meta = read_meta(&tx)
            .map_err(err)?
            .ok_or_else(|| corrupt(&path, "its meta table lacks a required entry"))?;
        if meta.generation != generation {
            return Err(Error::StoreCorrupt {
                path: path.clone(),
                problem: "the library changed while its vectors were being compacted".into(),
                fix: "Run the command again".into(),
            });
        }
        let mut reduced = Vec::new();
        {
            let mut rows = tx
                .prepare("SELECT slot, vector FROM vectors WHERE length(vector) > ?1 ORDER BY slot")
                .map_err(err)?;
            let mut rows = rows.query([IN_FILE_ROW_BYTES as i64]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let slot: i64 = row.get(0).map_err(err)?;
                let bytes = row.get_ref(1).map_err(err)?.as_blob().map_err(|_| {
                    corrupt(&path, &format!("the vector in slot {slot} is not a BLOB"))
                })?;
                if file_row(slot as usize).as_deref() == Some(bytes) {
                    reduced.push((slot, crc32fast::hash(bytes)));
                }
            }
            let mut put = tx
                .prepare("UPDATE vectors SET vector = ?2 WHERE slot = ?1")
                .map_err(err)?;
            for (slot, crc) in &reduced {
                put.execute(params![slot, crc.to_le_bytes().to_vec()])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        if !reduced.is_empty() {
            // The rewritten pages go through the write-ahead log; they are
            // moved into the database and the log emptied at once, so the
            // space is given back now.
            self.conn
                .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
                .map_err(err)?;
        }
        Ok(reduced.len())
    }

    /// Turns the rows of these (slot, checksum) pairs that keep their
    /// vector whole into checksum rows, in one transaction that leaves the
    /// generation as it is: the vector file holds those vectors now.
    pub fn reduce_rows_to_checksums(&self, rows: &[(u32, u32)], dim: usize) -> Result<()> {
        let err = |e| self.err("keep vectors once", e);
        let tx = self.conn.unchecked_transaction().map_err(err)?;
        {
            let mut put = tx
                .prepare("UPDATE vectors SET vector = ?2 WHERE slot = ?1 AND length(vector) = ?3")
                .map_err(err)?;
            for (slot, crc) in rows {
                put.execute(params![slot, crc.to_le_bytes().to_vec(), (dim * 4) as i64])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Gives the papers in `slots`, whose vectors were lost, a zero vector
    /// and a text hash no text has, in one transaction raising the
    /// generation: the library is whole again, those papers match nothing,
    /// and ingesting them again embeds them afresh.
    pub fn mark_vectors_lost(&mut self, slots: &[u32], dim: usize) -> Result<()> {
        let path = self.path.clone();
        let err = |e| db_error(&path, "mark lost vectors", e);
        let tx = self.conn.transaction().map_err(err)?;
        let meta = read_meta(&tx)
            .map_err(err)?
            .ok_or_else(|| corrupt(&path, "its meta table lacks a required entry"))?;
        let generation = meta.generation as i64 + 1;
        {
            let mut vector = tx
                .prepare(
                    "UPDATE vectors SET generation = ?2, vector = zeroblob(?3) WHERE slot = ?1",
                )
                .map_err(err)?;
            let mut hash = tx
                .prepare("UPDATE papers SET text_sha256 = zeroblob(32) WHERE slot = ?1")
                .map_err(err)?;
            for &slot in slots {
                vector
                    .execute(params![slot, generation, (dim * 4) as i64])
                    .map_err(err)?;
                hash.execute([slot]).map_err(err)?;
            }
        }
        let text_current = tx
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [TEXT_GENERATION_KEY],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(err)?
            == Some(meta.generation as i64);
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'generation'",
            [generation],
        )
        .map_err(err)?;
        if text_current {
            // The texts did not change, so an index in step stays so.
            tx.execute(
                "UPDATE meta SET value = ?2 WHERE key = ?1",
                params![TEXT_GENERATION_KEY, generation],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Checks that the database belongs with `manifest`. The two may differ
    /// in format version only as an interrupted upgrade leaves them: the
    /// database upgraded, the manifest not yet.
    pub fn check_against(&self, manifest: &Manifest) -> Result<Meta> {
        let meta = self.meta()?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&meta.format_version) {
            return Err(Error::StoreFormatVersion {
                path: self.path.clone(),
                found: meta.format_version,
                supported: FORMAT_VERSION,
            });
        }
        if meta.model_id != manifest.model.id || meta.dim != manifest.model.dim {
            return Err(self.corrupt(&format!(
                "it holds vectors of model {} ({} dimensions) but manifest.json names {} ({} dimensions)",
                meta.model_id, meta.dim, manifest.model.id, manifest.model.dim
            )));
        }
        if let (Some(stored), Some(named)) = (&meta.model_fingerprint, &manifest.model.fingerprint)
        {
            if stored != named {
                return Err(self.corrupt(&format!(
                    "it holds vectors of the model with fingerprint {stored} but manifest.json names {named}"
                )));
            }
        }
        Ok(meta)
    }

    /// SQLite's own consistency check of every page and index (`PRAGMA
    /// quick_check`): empty when the file is sound, else its findings.
    pub fn quick_check(&self) -> Result<Vec<String>> {
        let err = |e| self.err("check the database", e);
        let mut stmt = self.conn.prepare("PRAGMA quick_check").map_err(err)?;
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(err)?;
        let mut found = Vec::new();
        for row in rows {
            let line = row.map_err(err)?;
            if line != "ok" {
                found.push(line);
            }
        }
        Ok(found)
    }

    /// How the papers and vectors tables agree, for an integrity check.
    pub fn table_counts(&self) -> Result<TableCounts> {
        let err = |e| self.err("count papers and vectors", e);
        let one = |sql: &str| -> Result<usize> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as usize)
                .map_err(err)
        };
        Ok(TableCounts {
            papers: one("SELECT count(*) FROM papers")?,
            slots: self.count()?,
            vectors: one("SELECT count(*) FROM vectors")?,
            papers_without_vector: one("SELECT count(*) FROM papers p WHERE NOT EXISTS \
                 (SELECT 1 FROM vectors v WHERE v.slot = p.slot)")?,
            vectors_without_paper: one("SELECT count(*) FROM vectors v WHERE NOT EXISTS \
                 (SELECT 1 FROM papers p WHERE p.slot = v.slot)")?,
        })
    }

    /// Number of stored papers (slots are `0..count`).
    pub fn count(&self) -> Result<usize> {
        count(&self.conn).map_err(|e| self.err("count papers", e))
    }

    /// Tells, for each paper, how it differs from the stored one.
    pub fn classify<P: std::borrow::Borrow<Paper>>(&self, papers: &[P]) -> Result<Vec<Change>> {
        // One read transaction for the batch: a lookup on its own begins
        // and ends one, two file locks a paper (an eighth of an import).
        if self.conn.is_autocommit() {
            return self.read_together(|| self.classify(papers));
        }
        let err = |e| self.err("look up papers", e);
        let mut find = self
            .conn
            .prepare_cached("SELECT text_sha256, record FROM papers WHERE id = ?1")
            .map_err(err)?;
        papers
            .iter()
            .map(|paper| {
                let paper = paper.borrow();
                let stored = find
                    .query_row([&paper.id], |row| {
                        Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, String>(1)?))
                    })
                    .optional()
                    .map_err(err)?;
                Ok(match stored {
                    None => Change::New,
                    Some((hash, _)) if hash != text_hash(paper) => Change::TextChanged,
                    Some((_, record)) if self.decode(&record)? != *paper => Change::MetadataChanged,
                    Some(_) => Change::Unchanged,
                })
            })
            .collect()
    }

    fn decode(&self, record: &str) -> Result<Paper> {
        serde_json::from_str(record)
            .map_err(|e| self.corrupt(&format!("a stored paper record is malformed ({e})")))
    }

    fn encode(paper: &Paper) -> String {
        // A Paper holds only strings, lists and JSON values: encoding cannot fail.
        serde_json::to_string(paper).unwrap_or_default()
    }

    /// Stores a batch in one transaction; see [`super::Library::upsert`].
    /// Vectors must already have been checked for dimension and finiteness.
    /// With `to_file`, new papers' vectors are handed to it and their rows
    /// keep only a checksum ([`StoredVector::InFile`]); vectors of papers
    /// already stored always go into their rows.
    pub fn upsert(
        &mut self,
        batch: &[(Paper, Option<Vec<f32>>)],
        source: Option<&str>,
        mut to_file: Option<NewRowsSink>,
    ) -> Result<UpsertSummary> {
        let path = self.path.clone();
        let err = |e| db_error(&path, "store papers", e);
        let tx = self.conn.transaction().map_err(err)?;
        let meta = read_meta(&tx)
            .map_err(err)?
            .ok_or_else(|| corrupt(&path, "its meta table lacks a required entry"))?;
        let generation = meta.generation + 1;
        let mut next_slot = count(&tx).map_err(err)? as i64;
        let first_new_slot = next_slot as usize;
        let mut file_bytes: Vec<u8> = Vec::new();
        let mut summary = UpsertSummary {
            generation: meta.generation,
            ..UpsertSummary::default()
        };
        let mut sources_added = 0;
        {
            let mut find = tx
                .prepare_cached("SELECT slot, text_sha256, record FROM papers WHERE id = ?1")
                .map_err(err)?;
            let mut insert_paper = tx
                .prepare_cached(
                    "INSERT INTO papers (slot, id, title_key, text_sha256, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            let mut update_paper = tx
                .prepare_cached(
                    "UPDATE papers SET title_key = ?2, text_sha256 = ?3, record = ?4 WHERE slot = ?1",
                )
                .map_err(err)?;
            let mut put_vector = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO vectors (slot, generation, vector) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            let mut get_vector = tx
                .prepare_cached("SELECT vector FROM vectors WHERE slot = ?1")
                .map_err(err)?;
            // The full-text tables are written last, in one statement each:
            // FTS5 writes its pending rows to disk at every statement that
            // opens a savepoint, which one statement per paper made a flush
            // per paper (a quarter of an import's time).
            let mut text_rows = PendingText::default();
            let mut put_source = match source {
                Some(_) => Some(
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO paper_sources (slot, source) VALUES (?1, ?2)",
                    )
                    .map_err(err)?,
                ),
                None => None,
            };
            // Whether the paper is newly recorded from this source.
            let mut record_source = |slot: i64| -> Result<bool> {
                if let (Some(put), Some(source)) = (put_source.as_mut(), source) {
                    let added = put.execute(params![slot, source]).map_err(err)?;
                    sources_added += added;
                    return Ok(added > 0);
                }
                Ok(false)
            };

            for (paper, vector) in batch {
                let hash = text_hash(paper);
                let stored = find
                    .query_row([&paper.id], |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, Vec<u8>>(1)?,
                            row.get::<_, String>(2)?,
                        ))
                    })
                    .optional()
                    .map_err(err)?;
                let missing = |change| Error::MissingVector {
                    id: paper.id.clone(),
                    change,
                };
                let key = title::title_key(&paper.title);
                match stored {
                    None => {
                        let vector = vector.as_ref().ok_or_else(|| missing("new"))?;
                        let slot = next_slot;
                        next_slot += 1;
                        insert_paper
                            .execute(params![slot, paper.id, key, &hash[..], Self::encode(paper)])
                            .map_err(err)?;
                        let bytes = vector_bytes(vector);
                        let row = if to_file.is_some() {
                            let crc = crc32fast::hash(&bytes).to_le_bytes().to_vec();
                            file_bytes.extend_from_slice(&bytes);
                            crc
                        } else {
                            bytes
                        };
                        put_vector
                            .execute(params![slot, generation as i64, row])
                            .map_err(err)?;
                        text_rows.titles.push((slot, &paper.title));
                        text_rows
                            .texts
                            .push((slot, &paper.title, &paper.abstract_text));
                        record_source(slot)?;
                        summary.added += 1;
                    }
                    Some((slot, old_hash, record)) => {
                        let from_elsewhere = record_source(slot)?;
                        let text_changed = old_hash != hash;
                        let old = serde_json::from_str::<Paper>(&record).map_err(|e| {
                            corrupt(
                                &path,
                                &format!(
                                    "the stored record of paper {} is malformed ({e})",
                                    paper.id
                                ),
                            )
                        })?;
                        if from_elsewhere && title::title_key(&old.title) != key {
                            summary.retitled_from_elsewhere_count += 1;
                            summary.retitled_from_elsewhere.get_or_insert_with(|| {
                                (paper.id.clone(), old.title.clone(), paper.title.clone())
                            });
                        }
                        if text_changed {
                            let vector = vector.as_ref().ok_or_else(|| missing("re-worded"))?;
                            put_vector
                                .execute(params![slot, generation as i64, vector_bytes(vector)])
                                .map_err(err)?;
                            summary.text_changed += 1;
                        } else if let Some(vector) = vector {
                            let bytes = vector_bytes(vector);
                            let old_bytes: Vec<u8> =
                                get_vector.query_row([slot], |r| r.get(0)).map_err(err)?;
                            let same = if old_bytes.len() == IN_FILE_ROW_BYTES {
                                old_bytes == crc32fast::hash(&bytes).to_le_bytes()
                            } else {
                                old_bytes == bytes
                            };
                            if !same {
                                put_vector
                                    .execute(params![slot, generation as i64, bytes])
                                    .map_err(err)?;
                                summary.vectors_replaced += 1;
                            }
                        }
                        if old != *paper {
                            update_paper
                                .execute(params![slot, key, &hash[..], Self::encode(paper)])
                                .map_err(err)?;
                            if old.title != paper.title {
                                text_rows.dropped_titles.push(slot);
                                text_rows.titles.push((slot, &paper.title));
                            }
                            if old.title != paper.title || old.abstract_text != paper.abstract_text
                            {
                                text_rows.dropped_texts.push(slot);
                                text_rows
                                    .texts
                                    .push((slot, &paper.title, &paper.abstract_text));
                            }
                            if !text_changed {
                                summary.metadata_changed += 1;
                            }
                        } else if !text_changed {
                            summary.unchanged += 1;
                        }
                    }
                }
            }
            text_rows.write(&tx).map_err(err)?;
        }
        if let (Some(sink), false) = (to_file.as_mut(), file_bytes.is_empty()) {
            sink(first_new_slot, &file_bytes)?;
        }
        let changed = summary.added
            + summary.text_changed
            + summary.metadata_changed
            + summary.vectors_replaced;
        if changed == 0 {
            // The generation stays, so the vector file stays valid; only
            // newly recorded sources need a commit.
            if sources_added > 0 {
                tx.commit().map_err(err)?;
            }
            return Ok(summary);
        }
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'generation'",
            [generation as i64],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![TEXT_GENERATION_KEY, generation as i64],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        summary.generation = generation;
        Ok(summary)
    }

    /// The slots whose vectors were stored after generation `since`, in
    /// ascending order.
    pub fn slots_stored_after(&self, since: u64) -> Result<Vec<u32>> {
        let err = |e| self.err("read which vectors changed", e);
        let mut stmt = self
            .conn
            .prepare("SELECT slot FROM vectors WHERE generation > ?1")
            .map_err(err)?;
        // Without `ORDER BY slot` SQLite reads the generation index; with
        // it, it would read the whole table in slot order (a second or more
        // at a million papers) to save a sort of the few slots found.
        let mut slots = stmt
            .query_map([since as i64], |r| r.get::<_, u32>(0))
            .map_err(err)?
            .collect::<rusqlite::Result<Vec<u32>>>()
            .map_err(err)?;
        slots.sort_unstable();
        Ok(slots)
    }

    /// The paper with this id and its slot.
    pub fn paper_by_id(&self, id: &str) -> Result<Option<(u32, Paper)>> {
        let found = self
            .conn
            .prepare_cached("SELECT slot, record FROM papers WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([id], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))
                    .optional()
            })
            .map_err(|e| self.err("look up a paper", e))?;
        found
            .map(|(slot, record)| Ok((slot, self.decode(&record)?)))
            .transpose()
    }

    /// The CRC-32 each of `slots`' vector should have, from its row: the
    /// checksum a row keeps, or that of the vector a row holds. `None` for
    /// a slot without a row, or whose row was written after generation
    /// `at_most` (a vector a newer file will hold).
    pub fn vector_checksums(&self, slots: &[u32], at_most: u64) -> Result<Vec<Option<u32>>> {
        let err = |e| self.err("read vectors", e);
        let mut find = self
            .conn
            .prepare_cached("SELECT generation, vector FROM vectors WHERE slot = ?1")
            .map_err(err)?;
        slots
            .iter()
            .map(|slot| {
                let row = find
                    .query_row([slot], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                    })
                    .optional()
                    .map_err(err)?;
                Ok(match row {
                    Some((generation, _)) if generation as u64 > at_most => None,
                    Some((_, bytes)) if bytes.len() == IN_FILE_ROW_BYTES => {
                        Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
                    }
                    Some((_, bytes)) => Some(crc32fast::hash(&bytes)),
                    None => None,
                })
            })
            .collect()
    }

    /// Papers whose id contains `fragment` (ASCII case aside), with their
    /// slots; at most `limit`. It reads every id: for the rare lookup that
    /// found nothing faster.
    pub fn papers_with_id_containing(
        &self,
        fragment: &str,
        limit: usize,
    ) -> Result<Vec<(u32, Paper)>> {
        let escaped: String = fragment
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let err = |e| self.err("look up papers", e);
        let mut find = self
            .conn
            .prepare_cached(
                "SELECT slot, record FROM papers WHERE id LIKE ?1 ESCAPE '\\' ORDER BY slot LIMIT ?2",
            )
            .map_err(err)?;
        let rows = find
            .query_map(
                rusqlite::params![format!("%{escaped}%"), limit as i64],
                |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)),
            )
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (slot, record) = row.map_err(err)?;
            out.push((slot, self.decode(&record)?));
        }
        Ok(out)
    }

    /// The papers in these slots, in the same order.
    pub fn papers_by_slots(&self, slots: &[u32]) -> Result<Vec<Paper>> {
        let err = |e| self.err("look up papers", e);
        let mut get = self
            .conn
            .prepare_cached("SELECT record FROM papers WHERE slot = ?1")
            .map_err(err)?;
        slots
            .iter()
            .map(|&slot| {
                let record: Option<String> =
                    get.query_row([slot], |r| r.get(0)).optional().map_err(err)?;
                match record {
                    Some(record) => self.decode(&record),
                    None => Err(Error::InvalidArgument {
                        name: "slot".into(),
                        problem: format!(
                            "no paper is stored in slot {slot}; slots come from this library's vector view"
                        ),
                    }),
                }
            })
            .collect()
    }

    /// Papers whose normalised title is exactly `key`.
    pub fn papers_by_title_key(&self, key: &str) -> Result<Vec<Paper>> {
        self.records(
            "SELECT record FROM papers WHERE title_key = ?1 ORDER BY slot LIMIT 50",
            key,
        )
    }

    /// `(slot, title)` of papers found by an FTS5 query on titles, best
    /// ranked first.
    pub fn titles_by_words(&self, fts_query: &str, limit: usize) -> Result<Vec<(u32, String)>> {
        let err = |e| self.err("search titles", e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT rowid, title FROM title_words WHERE title_words MATCH ?1 ORDER BY rank LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![fts_query, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err);
        rows
    }

    fn records(&self, sql: &str, arg: &str) -> Result<Vec<Paper>> {
        let err = |e| self.err("search titles", e);
        let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
        let rows = stmt
            .query_map([arg], |r| r.get::<_, String>(0))
            .map_err(err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err)?;
        rows.iter().map(|r| self.decode(r)).collect()
    }

    /// Calls `each` with every paper in slot order.
    pub fn for_each_paper(&self, mut each: impl FnMut(u32, Paper)) -> Result<()> {
        let err = |e| self.err("read papers", e);
        let mut stmt = self
            .conn
            .prepare("SELECT slot, record FROM papers ORDER BY slot")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            let slot: u32 = row.get(0).map_err(err)?;
            let record: String = row.get(1).map_err(err)?;
            each(slot, self.decode(&record)?);
        }
        Ok(())
    }

    /// The abstracts of the papers in `slots`, in slot order.
    pub fn abstracts_in(&self, slots: std::ops::Range<u32>) -> Result<Vec<String>> {
        let err = |e| self.err("read papers", e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT slot, record FROM papers WHERE slot >= ?1 AND slot < ?2 ORDER BY slot",
            )
            .map_err(err)?;
        let mut rows = stmt.query(params![slots.start, slots.end]).map_err(err)?;
        let mut out = Vec::with_capacity(slots.len());
        while let Some(row) = rows.next().map_err(err)? {
            let slot: u32 = row.get(0).map_err(err)?;
            if slot != slots.start + out.len() as u32 {
                break;
            }
            out.push(
                self.decode(&row.get::<_, String>(1).map_err(err)?)?
                    .abstract_text,
            );
        }
        if out.len() != slots.len() {
            return Err(self.corrupt(&format!(
                "slot {} holds no paper, though the vectors run past it",
                slots.start as usize + out.len()
            )));
        }
        Ok(out)
    }

    /// Runs `read`, whose statements then share one read transaction: one
    /// consistent state, and one lock taken rather than one per statement.
    /// `read` must not start a transaction of its own.
    pub fn read_together<T>(&self, read: impl FnOnce() -> Result<T>) -> Result<T> {
        let tx = self.begin_read()?;
        let out = read()?;
        tx.end()?;
        Ok(out)
    }

    /// Opens a read transaction with cached statements (a server begins
    /// one per request, and parsing `BEGIN` each time showed in profiles).
    fn begin_read(&self) -> Result<ReadTransaction<'_>> {
        self.conn
            .prepare_cached("BEGIN DEFERRED")
            .and_then(|mut begin| begin.execute([]))
            .map_err(|e| self.err("begin a read", e))?;
        Ok(ReadTransaction {
            db: self,
            open: true,
        })
    }

    /// Runs `read` on one consistent snapshot of the database.
    pub fn snapshot<T>(&self, read: impl FnOnce(&Snapshot) -> Result<T>) -> Result<T> {
        let tx = self.begin_read()?;
        let meta = self.meta()?;
        let count = self.count()?;
        let out = read(&Snapshot {
            db: self,
            meta,
            count,
        })?;
        tx.end()?;
        Ok(out)
    }
}

/// A read transaction that ends when dropped, on an early return or an
/// unwinding panic alike, so a pooled connection is never handed on with
/// a transaction still open.
struct ReadTransaction<'a> {
    db: &'a Database,
    open: bool,
}

impl ReadTransaction<'_> {
    fn end(mut self) -> Result<()> {
        self.open = false;
        self.db
            .conn
            .prepare_cached("COMMIT")
            .and_then(|mut commit| commit.execute([]))
            .map(|_| ())
            .map_err(|e| self.db.err("end a read", e))
    }
}

impl Drop for ReadTransaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing was written, so ending the transaction cannot lose
            // anything; a failure here leaves SQLite to roll it back.
            let _ = self.db.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Snapshot<'_> {
    /// Calls `each(slot, vector bytes)` in slot order for every vector
    /// stored after generation `since` (all vectors when `None`).
    pub fn for_each_vector(
        &self,
        since: Option<u64>,
        mut each: impl FnMut(usize, StoredVector) -> Result<()>,
    ) -> Result<()> {
        let db = self.db;
        let err = |e| db.err("read vectors", e);
        let want = self.meta.dim * 4;
        let mut check = |slot: i64, value: rusqlite::types::ValueRef<'_>| -> Result<()> {
            let bytes = value
                .as_blob()
                .map_err(|_| db.corrupt(&format!("the vector in slot {slot} is not a BLOB")))?;
            let stored = match bytes.len() {
                n if n == want => StoredVector::Row(bytes),
                IN_FILE_ROW_BYTES => StoredVector::InFile {
                    crc: u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
                },
                _ => {
                    return Err(db.corrupt(&format!(
                        "the vector in slot {slot} has {} bytes, expected {want} or a \
                         {IN_FILE_ROW_BYTES}-byte checksum",
                        bytes.len()
                    )))
                }
            };
            if slot < 0 || slot as usize >= self.count {
                return Err(db.corrupt(&format!(
                    "a vector is stored in slot {slot}, past the {} papers",
                    self.count
                )));
            }
            each(slot as usize, stored)
        };
        // A few changed vectors are looked up by slot; many are read in one
        // pass over the table, as all of them are.
        let changed = match since {
            Some(g) => Some(db.slots_stored_after(g)?),
            None => None,
        };
        if let Some(slots) = changed.as_ref().filter(|s| s.len() * 8 < self.count) {
            let mut stmt = db
                .conn
                .prepare_cached("SELECT vector FROM vectors WHERE slot = ?1")
                .map_err(err)?;
            for &slot in slots {
                let mut rows = stmt.query([slot]).map_err(err)?;
                let row = rows.next().map_err(err)?.ok_or_else(|| {
                    db.corrupt(&format!(
                        "the vector in slot {slot} vanished while being read"
                    ))
                })?;
                check(i64::from(slot), row.get_ref(0).map_err(err)?)?;
            }
            return Ok(());
        }
        let mut stmt = db
            .conn
            .prepare("SELECT slot, vector FROM vectors WHERE generation > ?1 ORDER BY slot")
            .map_err(err)?;
        // Every vector when `since` is `None` (generations start at 1).
        let mut rows = stmt.query([since.map_or(-1, |g| g as i64)]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            check(row.get(0).map_err(err)?, row.get_ref(1).map_err(err)?)?;
        }
        Ok(())
    }
}

fn read_meta(conn: &Connection) -> rusqlite::Result<Option<Meta>> {
    let get = |key: &str| {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
            r.get::<_, rusqlite::types::Value>(0)
        })
        .optional()
    };
    use rusqlite::types::Value::{Integer, Text};
    let (Some(Integer(version)), Some(Text(model_id)), Some(Integer(dim))) =
        (get("format_version")?, get("model_id")?, get("dim")?)
    else {
        return Ok(None);
    };
    let (Some(Integer(library_id)), Some(Integer(generation))) =
        (get("library_id")?, get("generation")?)
    else {
        return Ok(None);
    };
    let model_fingerprint = match get("model_fingerprint")? {
        Some(Text(fingerprint)) => Some(fingerprint),
        _ => None,
    };
    Ok(Some(Meta {
        format_version: u32::try_from(version).unwrap_or(u32::MAX),
        model_id,
        model_fingerprint,
        dim: usize::try_from(dim).unwrap_or(0),
        library_id: library_id as u64,
        generation: generation as u64,
    }))
}

fn count(conn: &Connection) -> rusqlite::Result<usize> {
    // Slots are dense, so the highest slot gives the count without a scan.
    conn.query_row("SELECT COALESCE(MAX(slot) + 1, 0) FROM papers", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as usize)
}

fn corrupt(path: &Path, problem: &str) -> Error {
    Error::StoreCorrupt {
        path: path.to_path_buf(),
        problem: problem.to_string(),
        fix: "Restore the library from a backup, or move it away and ingest the papers again"
            .into(),
    }
}

/// Turns a SQLite failure into an error naming the database file; damage
/// is reported as such, with what to do about it.
pub(crate) fn db_error(path: &Path, action: &'static str, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e.sqlite_error_code() {
        Some(DatabaseCorrupt | NotADatabase) => Error::StoreCorrupt {
            path: path.to_path_buf(),
            problem: format!("the database is damaged ({action} failed: {e})"),
            fix: "Restore the library from a backup, or move it away and ingest the papers again"
                .into(),
        },
        _ => Error::Database {
            path: path.to_path_buf(),
            action,
            cause: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Database {
        fn upsert_plain(&mut self, batch: &[(Paper, Option<Vec<f32>>)]) -> Result<UpsertSummary> {
            self.upsert(batch, None, None)
        }
    }
    use crate::store::manifest::ModelInfo;

    fn db() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Database::open(&dir.path().join("l.sqlite"), true).unwrap();
        let model = ModelInfo {
            id: "m".into(),
            dim: 2,
            fingerprint: None,
        };
        db.initialise(&Manifest::new(&model), 42).unwrap();
        (dir, db)
    }

    fn paper(id: &str, title: &str) -> Paper {
        Paper {
            id: id.into(),
            title: title.into(),
            ..Paper::default()
        }
    }

    #[test]
    fn slots_are_dense_and_vectors_are_tagged_with_their_generation() {
        let (_dir, mut db) = db();
        assert!(db.is_initialised().unwrap());
        let s = db
            .upsert_plain(&[
                (paper("a", "A"), Some(vec![1.0, 0.0])),
                (paper("b", "B"), Some(vec![0.0, 1.0])),
            ])
            .unwrap();
        assert_eq!((s.added, s.generation), (2, 1));
        let s = db
            .upsert_plain(&[
                (paper("c", "C"), Some(vec![0.5, 0.5])),
                (paper("a", "A changed"), Some(vec![0.6, 0.8])),
            ])
            .unwrap();
        assert_eq!((s.added, s.text_changed, s.generation), (1, 1, 2));
        assert_eq!(db.count().unwrap(), 3);
        assert_eq!(db.paper_by_id("c").unwrap().unwrap().0, 2);

        let changed = db
            .snapshot(|snap| {
                assert_eq!(snap.meta.generation, 2);
                let mut seen = Vec::new();
                snap.for_each_vector(Some(1), |slot, stored| {
                    let StoredVector::Row(bytes) = stored else {
                        panic!("slot {slot} is not kept in its row");
                    };
                    seen.push((slot, bytes.len()));
                    Ok(())
                })?;
                Ok(seen)
            })
            .unwrap();
        assert_eq!(changed, [(0, 8), (2, 8)]);
    }

    #[test]
    fn duplicate_ids_in_one_batch_keep_the_last_version() {
        let (_dir, mut db) = db();
        let s = db
            .upsert_plain(&[
                (paper("a", "First"), Some(vec![1.0, 0.0])),
                (paper("a", "Second"), Some(vec![0.0, 1.0])),
            ])
            .unwrap();
        assert_eq!((s.added, s.text_changed), (1, 1));
        assert_eq!(db.count().unwrap(), 1);
        assert_eq!(db.paper_by_id("a").unwrap().unwrap().1.title, "Second");
        let second = db.titles_by_words("\"second\"", 5).unwrap();
        assert_eq!(second, [(0, "Second".to_string())]);
        assert!(db.titles_by_words("\"first\"", 5).unwrap().is_empty());
    }

    fn with_abstract(id: &str, title: &str, abstract_text: &str) -> Paper {
        Paper {
            abstract_text: abstract_text.into(),
            ..paper(id, title)
        }
    }

    fn slots(hits: Vec<(u32, f64)>) -> Vec<u32> {
        hits.into_iter().map(|h| h.0).collect()
    }

    #[test]
    fn a_paper_given_twice_in_one_batch_leaves_only_its_last_words() {
        let (_dir, mut db) = db();
        let titled = |db: &Database, word: &str| -> i64 {
            db.conn
                .query_row(
                    "SELECT count(*) FROM title_words WHERE title_words MATCH ?1",
                    [word],
                    |r| r.get(0),
                )
                .unwrap()
        };
        db.upsert_plain(&[
            (
                with_abstract("a", "Bandits", "We study FedBuff."),
                Some(vec![1.0, 0.0]),
            ),
            (
                with_abstract("a", "Provers", "Lean proofs."),
                Some(vec![0.0, 1.0]),
            ),
        ])
        .unwrap();
        assert_eq!((titled(&db, "bandits"), titled(&db, "provers")), (0, 1));
        assert!(db.text_search("\"fedbuff\"", 10).unwrap().is_empty());
        assert_eq!(slots(db.text_search("\"lean\"", 10).unwrap()), [0]);
        // A stored paper re-titled, beside a new one.
        db.upsert_plain(&[
            (
                with_abstract("a", "Solvers", "Lean proofs."),
                Some(vec![0.0, 1.0]),
            ),
            (
                with_abstract("b", "Bandits", "Regret bounds."),
                Some(vec![1.0, 0.0]),
            ),
        ])
        .unwrap();
        assert_eq!((titled(&db, "provers"), titled(&db, "solvers")), (0, 1));
        assert_eq!(slots(db.text_search("\"solvers\"", 10).unwrap()), [0]);
        assert_eq!(slots(db.text_search("\"regret\"", 10).unwrap()), [1]);
        assert_eq!(db.text_index_state().unwrap(), TextIndexState::Current);
    }

    #[test]
    fn the_text_index_follows_inserts_and_text_changes() {
        let (_dir, mut db) = db();
        assert_eq!(db.text_index_state().unwrap(), TextIndexState::Current);
        db.upsert_plain(&[
            (
                with_abstract("a", "Bandits", "We study FedBuff."),
                Some(vec![1.0, 0.0]),
            ),
            (
                with_abstract("b", "Provers", "Lean proofs."),
                Some(vec![0.0, 1.0]),
            ),
        ])
        .unwrap();
        assert_eq!(slots(db.text_search("\"fedbuff\"", 10).unwrap()), [0]);
        assert_eq!(slots(db.text_search("\"provers\"", 10).unwrap()), [1]);
        // A changed abstract replaces the old words; a metadata change keeps them.
        db.upsert_plain(&[(
            with_abstract("a", "Bandits", "We study FedAvg."),
            Some(vec![0.6, 0.8]),
        )])
        .unwrap();
        assert!(db.text_search("\"fedbuff\"", 10).unwrap().is_empty());
        assert_eq!(slots(db.text_search("\"fedavg\"", 10).unwrap()), [0]);
        let mut dated = with_abstract("b", "Provers", "Lean proofs.");
        dated.date = Some("2024".into());
        db.upsert_plain(&[(dated, None)]).unwrap();
        assert_eq!(slots(db.text_search("\"lean\"", 10).unwrap()), [1]);
        assert_eq!(db.text_index_state().unwrap(), TextIndexState::Current);
    }

    #[test]
    fn a_library_without_the_text_index_gets_it_filled_once() {
        let (_dir, mut db) = db();
        db.upsert_plain(&[(
            with_abstract("a", "Bandits", "We study FedBuff."),
            Some(vec![1.0, 0.0]),
        )])
        .unwrap();
        // As a library made before the index: no table, no meta entry.
        db.conn
            .execute_batch(
                "DROP TABLE paper_text; DELETE FROM meta WHERE key = 'text_index_generation';",
            )
            .unwrap();
        assert_eq!(db.text_index_state().unwrap(), TextIndexState::Missing);
        assert!(db.ensure_text_index().unwrap());
        assert_eq!(db.text_index_state().unwrap(), TextIndexState::Current);
        assert_eq!(slots(db.text_search("\"fedbuff\"", 10).unwrap()), [0]);
        assert!(
            !db.ensure_text_index().unwrap(),
            "nothing to do the second time"
        );
        // Changed by a build that does not keep the index: behind, refilled.
        db.conn
            .execute_batch("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
            .unwrap();
        assert_eq!(db.text_index_state().unwrap(), TextIndexState::Behind);
        assert!(db.ensure_text_index().unwrap());
        assert_eq!(slots(db.text_search("\"fedbuff\"", 10).unwrap()), [0]);
    }
}
