//! The flat vector file: every stored vector as contiguous little-endian f32
//! in slot order behind a 64-byte header, memory-mapped for queries. From
//! format version 3 on it is where new papers' vectors live: a batch writes
//! them at their slots and makes them durable before the database commits
//! rows that keep only their CRC-32 (see [`write_rows`]), and the header is
//! moved on after the commit ([`extend_header`]). The database keeps the
//! whole vector only for vectors that replace stored ones, until the file
//! has them. So the database decides which bytes are valid: the header is
//! a fast path, stamped with the database's generation, and a file may be
//! longer than its header says (rows written by a batch that had not
//! committed, or committed after the header was written); the bytes past
//! it are checked against the rows' checksums before they are used.
//!
//! Vectors are never changed in place where a mapped view could see them:
//! a file whose stored vectors changed is replaced whole (temp file, fsync,
//! rename; see [`crate::atomic_file`]), copying the rows it had; a file
//! whose papers were only added is grown in place ([`VectorFileAppender`]).

//! Header layout (all integers little-endian):
//! `magic[8] = "RLTVECS\0"`, `version: u32`, `dim: u32`, `count: u64`,
//! `generation: u64`, `library_id: u64`, `checksum_mark[4] = "CRC1"`,
//! `body_crc32: u32`, `header_mark[4] = "HCK1"`, `header_crc32: u32` (of
//! the 48 bytes before the mark), then zero padding up to 64 bytes.
//!
//! The header is rewritten in place when papers are added, so a reader
//! can meet it half written; its own checksum tells such a read apart, and
//! the read is tried again. Headers written before it have zeros there.
//!
//! The checksum is the CRC-32 (IEEE) of every byte after the header. Files
//! written before it existed have zeros where the mark goes; they are read
//! as before and gain a checksum when the file is next written. Checking a
//! checksum reads the whole body: [`VectorView::map`] does so for files of
//! up to [`VERIFY_ON_OPEN_BYTES`], and `relate info --check` for any size.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use memmap2::Mmap;

use crate::atomic_file::AtomicFile;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"RLTVECS\0";
const FILE_VERSION: u32 = 1;
/// Bytes before the first vector.
pub(crate) const HEADER_LEN: u64 = 64;
/// Says that the header records a checksum of the body.
const CHECKSUM_MARK: &[u8; 4] = b"CRC1";
/// Says that the header records a checksum of its own first 48 bytes.
const HEADER_CHECK_MARK: &[u8; 4] = b"HCK1";
/// Bytes of the header its own checksum covers.
const HEADER_CHECKED_LEN: usize = 48;
/// Reads of a header that fails its own checksum (being rewritten, or
/// damaged) before it is taken as unreadable.
const HEADER_READ_TRIES: usize = 8;
/// Bodies up to this size have their checksum verified whenever they are
/// mapped (about 44,000 vectors of 384 dimensions); larger ones only by
/// [`verify_body`].
pub(crate) const VERIFY_ON_OPEN_BYTES: u64 = 64 << 20;
/// Bytes read at a time when checksumming a file.
const CHECKSUM_CHUNK: usize = 1 << 20;

/// What the header of a vector file says about its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub dim: usize,
    pub count: usize,
    pub generation: u64,
    pub library_id: u64,
    /// CRC-32 of the body; `None` in files written before checksums.
    pub checksum: Option<u32>,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0u8; HEADER_LEN as usize];
        out[0..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&FILE_VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&(self.dim as u32).to_le_bytes());
        out[16..24].copy_from_slice(&(self.count as u64).to_le_bytes());
        out[24..32].copy_from_slice(&self.generation.to_le_bytes());
        out[32..40].copy_from_slice(&self.library_id.to_le_bytes());
        if let Some(crc) = self.checksum {
            out[40..44].copy_from_slice(CHECKSUM_MARK);
            out[44..48].copy_from_slice(&crc.to_le_bytes());
        }
        let own = crc32fast::hash(&out[..HEADER_CHECKED_LEN]);
        out[48..52].copy_from_slice(HEADER_CHECK_MARK);
        out[52..56].copy_from_slice(&own.to_le_bytes());
        out
    }

    /// The header in `bytes`; `None` when they are not a vector file's
    /// header, or one that fails its own checksum (half rewritten, or
    /// damaged).
    fn decode(bytes: &[u8]) -> Option<Header> {
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
        if bytes.len() < HEADER_LEN as usize || &bytes[0..8] != MAGIC || u32_at(8) != FILE_VERSION {
            return None;
        }
        if &bytes[48..52] == HEADER_CHECK_MARK
            && crc32fast::hash(&bytes[..HEADER_CHECKED_LEN]) != u32_at(52)
        {
            return None;
        }
        Some(Header {
            dim: u32_at(12) as usize,
            count: usize::try_from(u64_at(16)).ok()?,
            generation: u64_at(24),
            library_id: u64_at(32),
            checksum: (&bytes[40..44] == CHECKSUM_MARK).then(|| u32_at(44)),
        })
    }

    /// Size in bytes of a complete file with this header.
    fn file_len(&self) -> Option<u64> {
        (self.count as u64)
            .checked_mul(self.dim as u64)?
            .checked_mul(4)?
            .checked_add(HEADER_LEN)
    }
}

/// Reads the header of the vector file at `path` and checks that the file
/// is at least as long as the header says. `None` when the file is missing,
/// foreign, truncated or otherwise unusable. A header read while a writer
/// rewrites it fails its own checksum and is read again.
pub(crate) fn read_header(path: &Path) -> Option<(File, Header)> {
    let file = File::open(path).ok()?;
    let header = read_header_of(&file)?;
    let len = file.metadata().ok()?.len();
    (Some(len) >= header.file_len()).then_some((file, header))
}

/// The header at the start of `file`, read again (up to
/// [`HEADER_READ_TRIES`] times) while it fails its own checksum.
fn read_header_of(file: &File) -> Option<Header> {
    let mut bytes = [0u8; HEADER_LEN as usize];
    for _ in 0..HEADER_READ_TRIES {
        read_bytes_at(file, 0, &mut bytes).ok()?;
        if let Some(header) = Header::decode(&bytes) {
            return Some(header);
        }
        if &bytes[0..8] != MAGIC || &bytes[48..52] != HEADER_CHECK_MARK {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    None
}

/// The rows a vector file holds, whatever its header says: what a rebuild
/// copies and checks against the database's checksums.
pub(crate) struct Body {
    pub file: File,
    /// Whole vectors in the file past the header's 64 bytes.
    pub rows: usize,
}

impl Body {
    /// The vector file at `path` for a library of `dim`-float vectors with
    /// id `library_id`. `None` when there is no file, or its header names
    /// another library or dimension; a header that cannot be read at all
    /// (torn by a crash, or damaged) still gives the rows behind it.
    pub fn open(path: &Path, dim: usize, library_id: u64) -> Option<Body> {
        let file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        let header = read_header_of(&file);
        if header.is_some_and(|h| h.dim != dim || h.library_id != library_id) {
            return None;
        }
        Some(Body {
            file,
            rows: rows_in(len, dim),
        })
    }

    /// The rows behind the already opened vector file `file` (at `path`).
    pub fn of(file: &File, path: &Path, dim: usize) -> Result<Body> {
        let io = |e| Error::io("read", path, e);
        Ok(Body {
            rows: rows_in(file.metadata().map_err(io)?.len(), dim),
            file: file.try_clone().map_err(io)?,
        })
    }

    /// Whether the file holds, in `slot`, the vector whose CRC-32 the
    /// database keeps as `crc`; `row` (`dim * 4` long) receives its bytes.
    pub fn holds(&self, slot: usize, crc: u32, row: &mut [u8]) -> bool {
        self.read_row(slot, row) && crc32fast::hash(row) == crc
    }

    /// Reads the bytes of the vector in `slot` into `out` (`dim * 4` long);
    /// false when the file does not hold that slot or cannot be read.
    pub fn read_row(&self, slot: usize, out: &mut [u8]) -> bool {
        slot < self.rows
            && read_bytes_at(&self.file, HEADER_LEN + (slot * out.len()) as u64, out).is_ok()
    }
}

/// Whole vectors of `dim` floats in a vector file of `len` bytes.
fn rows_in(len: u64, dim: usize) -> usize {
    let rows = len.saturating_sub(HEADER_LEN) / (dim.max(1) as u64 * 4);
    usize::try_from(rows).unwrap_or(usize::MAX)
}

/// Writes the vectors of slots `first_slot..` (`bytes`, `dim` little-endian
/// f32 each) into the vector file at `path`, past every row a reader can be
/// mapping, and makes them durable.
pub(crate) fn write_rows(path: &Path, dim: usize, first_slot: usize, bytes: &[u8]) -> Result<()> {
    let io = |e| Error::io("write vectors to", path, e);
    let file = File::options().write(true).open(path).map_err(io)?;
    write_bytes_at(&file, HEADER_LEN + (first_slot * dim * 4) as u64, bytes).map_err(io)?;
    file.sync_data().map_err(io)
}

/// Writes `new` as the header of the vector file at `path`, once the
/// database committed the rows it adds (its checksum continued over them).
/// A crash before it leaves the header behind, which the next writer brings
/// up to date.
pub(crate) fn extend_header(path: &Path, new: Header) -> Result<()> {
    let io = |e| Error::io("write the header of", path, e);
    let file = File::options().write(true).open(path).map_err(io)?;
    write_bytes_at(&file, 0, &new.encode()).map_err(io)?;
    file.sync_data().map_err(io)
}

/// What checking a vector file's body against its recorded checksum found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyCheck {
    Matches,
    /// The file predates checksums.
    NotRecorded,
    Mismatch {
        recorded: u32,
        found: u32,
    },
}

impl BodyCheck {
    fn of(recorded: Option<u32>, found: impl FnOnce() -> Result<u32>) -> Result<BodyCheck> {
        let Some(recorded) = recorded else {
            return Ok(BodyCheck::NotRecorded);
        };
        let found = found()?;
        Ok(if found == recorded {
            BodyCheck::Matches
        } else {
            BodyCheck::Mismatch { recorded, found }
        })
    }
}

/// The error for a vector file whose body does not match its checksum.
pub(crate) fn damaged(path: &Path, recorded: u32, found: u32) -> Error {
    Error::StoreCorrupt {
        path: path.to_path_buf(),
        problem: format!(
            "its vectors do not match their checksum (recorded {recorded:08x}, found {found:08x}), \
             so the file was damaged on disk"
        ),
        fix: "Run `relate repair` to rebuild it from the database".into(),
    }
}

/// Reads the body of the vector file at `path` that `header` counts and
/// compares it with the recorded checksum.
pub(crate) fn verify_body(path: &Path, header: &Header) -> Result<BodyCheck> {
    BodyCheck::of(header.checksum, || {
        let io = |e| Error::io("read", path, e);
        let mut file = File::open(path).map_err(io)?;
        file.seek(SeekFrom::Start(HEADER_LEN)).map_err(io)?;
        // Rows past the header's count (a batch's, not yet counted) are
        // not part of the body it vouches for.
        let body = header.file_len().unwrap_or(u64::MAX) - HEADER_LEN;
        checksum_of(&mut file.take(body)).map_err(io)
    })
}

/// CRC-32 of everything `reader` yields.
fn checksum_of(reader: &mut impl Read) -> std::io::Result<u32> {
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; CHECKSUM_CHUNK];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(hasher.finalize()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A read-only view of every stored vector: `len()` vectors of `dim()`
/// floats, vector `i` belonging to the paper in slot `i`. It owns its
/// mapping, so it stays valid (and unchanged) after the library is updated
/// or dropped.
pub struct VectorView {
    data: ViewData,
    dim: usize,
    len: usize,
    generation: u64,
}

enum ViewData {
    Mapped(MappedFile),
    /// Big-endian targets convert the little-endian file once; readers that
    /// find the file behind read the database.
    Owned(Vec<f32>),
}

/// A vector file's mapping, and the file itself for positional reads of
/// single vectors.
struct MappedFile {
    map: Mmap,
    file: File,
    path: std::path::PathBuf,
}

impl crate::index::VectorSlice for VectorView {
    fn as_slice(&self) -> &[f32] {
        VectorView::as_slice(self)
    }

    fn read_slot(&self, slot: u32, out: &mut [f32]) -> Option<Result<()>> {
        VectorView::read_slot(self, slot, out)
    }
}

/// Vectors a scan of every vector (exact search, `recommend`) reads at a
/// time with [`VectorView::for_each_block`]: 96 MiB of 384-dimension
/// vectors, so that the whole file is never resident at once.
pub const SCAN_BLOCK_ROWS: usize = 65_536;

impl VectorView {
    /// Maps the file behind `file`, whose header was read as `header`.
    pub(crate) fn map(file: &File, path: &Path, header: Header) -> Result<VectorView> {
        // SAFETY: the library never writes to a vector file once it is in
        // place; it replaces the file by renaming a new one over it, which
        // leaves this mapping's inode untouched.
        let len = header
            .file_len()
            .and_then(|len| usize::try_from(len).ok())
            .ok_or_else(|| Error::StoreCorrupt {
                path: path.to_path_buf(),
                problem: format!("its header counts {} vectors, too many", header.count),
                fix: "Run `relate repair`".into(),
            })?;
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(file) }
            .map_err(|e| Error::io("map", path, e))?;
        if file.metadata().map(|m| m.len()).ok() < header.file_len() {
            return Err(Error::StoreCorrupt {
                path: path.to_path_buf(),
                problem: "it changed size while being opened".into(),
                fix: "Make sure no other program writes into the library folder".into(),
            });
        }
        if header.file_len().unwrap_or(u64::MAX) - HEADER_LEN <= VERIFY_ON_OPEN_BYTES {
            let body = &map[HEADER_LEN as usize..];
            if let BodyCheck::Mismatch { recorded, found } =
                BodyCheck::of(header.checksum, || Ok(crc32fast::hash(body)))?
            {
                return Err(damaged(path, recorded, found));
            }
        }
        let data = if cfg!(target_endian = "little") {
            ViewData::Mapped(MappedFile {
                map,
                file: file.try_clone().map_err(|e| Error::io("open", path, e))?,
                path: path.to_path_buf(),
            })
        } else {
            ViewData::Owned(
                map[HEADER_LEN as usize..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
            )
        };
        Ok(VectorView {
            data,
            dim: header.dim,
            len: header.count,
            generation: header.generation,
        })
    }

    /// A view of vectors held in memory (`dim` floats per slot), for a
    /// reader that finds the vector file behind and may not rewrite it.
    pub(crate) fn in_memory(values: Vec<f32>, dim: usize, generation: u64) -> VectorView {
        VectorView {
            len: values.len().checked_div(dim).unwrap_or(0),
            data: ViewData::Owned(values),
            dim,
            generation,
        }
    }

    /// Length of each vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of vectors, which is the number of papers; slots run `0..len()`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the library holds no papers.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The library generation these vectors belong to.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// All vectors, contiguous: slot `i` is `[i * dim .. (i + 1) * dim]`.
    pub fn as_slice(&self) -> &[f32] {
        match &self.data {
            ViewData::Mapped(MappedFile { map, .. }) => {
                let bytes = &map[HEADER_LEN as usize..];
                let n = self.len * self.dim;
                assert!(bytes.len() == n * 4 && (bytes.as_ptr() as usize).is_multiple_of(4));
                // SAFETY: the mapping is page-aligned and the header is 64
                // bytes, so the data is 4-aligned (checked above); it holds
                // exactly n little-endian f32 on a little-endian target, and
                // every bit pattern is a valid f32.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), n) }
            }
            ViewData::Owned(values) => values,
        }
    }

    /// Calls `each` with consecutive blocks of up to `rows` whole vectors
    /// ([`SCAN_BLOCK_ROWS`] for a scan of every vector) in slot order (the
    /// block's first slot and its values). After each
    /// block of a mapped file, its pages are handed back to the page cache
    /// (`MADV_DONTNEED` on Unix; they are read again from the cache if
    /// touched), so a scan of every vector does not keep the whole file
    /// resident in this process: at a million papers, 1.5 GB.
    pub fn for_each_block(
        &self,
        rows: usize,
        mut each: impl FnMut(usize, &[f32]) -> Result<()>,
    ) -> Result<()> {
        let rows = rows.max(1);
        for (index, block) in self.as_slice().chunks(rows * self.dim.max(1)).enumerate() {
            each(index * rows, block)?;
            #[cfg(unix)]
            if let ViewData::Mapped(MappedFile { map, .. }) = &self.data {
                let offset = HEADER_LEN as usize + index * rows * self.dim * 4;
                // SAFETY: the mapping is of a file opened read-only that is
                // never written in place (see `map`), so dropping its pages
                // loses nothing: a later read faults them in from the file
                // with the same bytes. A failure only leaves them resident.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        offset,
                        std::mem::size_of_val(block),
                    )
                };
            }
        }
        Ok(())
    }

    /// The vector in `slot`, or `None` past the end.
    pub fn vector(&self, slot: u32) -> Option<&[f32]> {
        let start = (slot as usize).checked_mul(self.dim)?;
        self.as_slice().get(start..start + self.dim)
    }

    /// The file and the bytes of the vector in `slot`, when this view maps
    /// a file whose body was too large to be checked whole when it was
    /// mapped (see [`VERIFY_ON_OPEN_BYTES`]): such rows are checked one by
    /// one where answers use them (see [`crate::store::Library::check_vector_rows`]).
    pub(crate) fn unverified_row(&self, slot: u32) -> Option<(&Path, &[u8])> {
        let ViewData::Mapped(mapped) = &self.data else {
            return None;
        };
        let row = self.dim * 4;
        if ((self.len * row) as u64) <= VERIFY_ON_OPEN_BYTES {
            return None;
        }
        let at = HEADER_LEN as usize + (slot as usize).checked_mul(row)?;
        Some((&mapped.path, mapped.map.get(at..at + row)?))
    }

    /// Reads the vector in `slot` (`out` is `dim` long and `slot` below
    /// `len`) from the file with one positional read, bypassing the
    /// mapping; `None` for vectors held in memory. See
    /// [`crate::index::VectorSlice::read_slot`] for when that is cheaper.
    pub fn read_slot(&self, slot: u32, out: &mut [f32]) -> Option<Result<()>> {
        let ViewData::Mapped(mapped) = &self.data else {
            return None;
        };
        debug_assert!(out.len() == self.dim && (slot as usize) < self.len);
        let at = HEADER_LEN + slot as u64 * self.dim as u64 * 4;
        Some(read_f32s_at(&mapped.file, at, out).map_err(|e| Error::io("read", &mapped.path, e)))
    }
}

/// Fills `out` with the bytes at `at` of `file`.
#[cfg(unix)]
fn read_bytes_at(file: &File, at: u64, out: &mut [u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(out, at)
}

/// Fills `out` with the bytes at `at` of `file`.
#[cfg(not(unix))]
fn read_bytes_at(file: &File, at: u64, out: &mut [u8]) -> std::io::Result<()> {
    let mut file = file;
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(out)
}

/// Writes `bytes` at `at` of `file`.
#[cfg(unix)]
fn write_bytes_at(file: &File, at: u64, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, at)
}

/// Writes `bytes` at `at` of `file`.
#[cfg(not(unix))]
fn write_bytes_at(file: &File, at: u64, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = file;
    file.seek(SeekFrom::Start(at))?;
    file.write_all(bytes)
}

/// Fills `out` with the little-endian f32 at byte `at` of `file`.
fn read_f32s_at(file: &File, at: u64, out: &mut [f32]) -> std::io::Result<()> {
    // The view is only mapped on little-endian targets (see `map`), so the
    // bytes are already in order.
    read_bytes_at(file, at, bytemuck::cast_slice_mut(out))
}

impl std::fmt::Debug for VectorView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorView")
            .field("len", &self.len)
            .field("dim", &self.dim)
            .field("generation", &self.generation)
            .finish()
    }
}

/// A new vector file being written under a scratch name; it takes the real
/// name only in [`VectorFileWriter::commit`], after everything is on disk.
pub(crate) struct VectorFileWriter {
    out: BufWriter<AtomicFile>,
    temp: std::path::PathBuf,
    header: Header,
    written: usize,
}

impl VectorFileWriter {
    /// Starts a new version of the vector file at `path`, with `header`.
    pub fn create(path: &Path, header: Header) -> Result<VectorFileWriter> {
        let file = AtomicFile::create(path)?;
        let temp = file.temp_path().to_path_buf();
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&header.encode())
            .map_err(|e| Error::io("write", &temp, e))?;
        Ok(VectorFileWriter {
            out,
            temp,
            header,
            written: 0,
        })
    }

    fn vector_bytes(&self) -> usize {
        self.header.dim * 4
    }

    /// Appends the first `count` vectors of an older vector file of the same
    /// dimension (read from just past its header).
    pub fn copy_prefix(&mut self, base: &mut File, base_path: &Path, count: usize) -> Result<()> {
        let bytes = (count * self.vector_bytes()) as u64;
        base.seek(SeekFrom::Start(HEADER_LEN))
            .map_err(|e| Error::io("seek", base_path, e))?;
        let copied = std::io::copy(&mut base.take(bytes), &mut self.out)
            .map_err(|e| Error::io("copy vectors from", base_path, e))?;
        if copied != bytes {
            return Err(Error::io(
                "copy vectors from",
                base_path,
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        self.written += count;
        Ok(())
    }

    /// Writes one vector (`dim` little-endian f32) into `slot`. Slots up to
    /// the number already written are overwritten; the next one appends.
    pub fn put(&mut self, slot: usize, bytes: &[u8]) -> Result<()> {
        debug_assert_eq!(bytes.len(), self.vector_bytes());
        let io = |e| Error::io("write", &self.temp, e);
        if slot == self.written {
            self.out.write_all(bytes).map_err(io)?;
            self.written += 1;
        } else if slot < self.written {
            let at = HEADER_LEN + (slot * self.vector_bytes()) as u64;
            self.out.seek(SeekFrom::Start(at)).map_err(io)?;
            self.out.write_all(bytes).map_err(io)?;
            let end = HEADER_LEN + (self.written * self.vector_bytes()) as u64;
            self.out.seek(SeekFrom::Start(end)).map_err(io)?;
        } else {
            return Err(Error::StoreCorrupt {
                path: self.temp.clone(),
                problem: format!("slot {slot} comes before slot {} was written", self.written),
                fix: "The database skips a slot; restore it from a backup or ingest again".into(),
            });
        }
        Ok(())
    }

    /// Checks that every slot was written, records the body's checksum in
    /// the header, makes the file durable and renames it over the vector
    /// file.
    pub fn commit(self) -> Result<()> {
        if self.written != self.header.count {
            return Err(Error::StoreCorrupt {
                path: self.temp.clone(),
                problem: format!(
                    "the database lists {} papers but yielded {} vectors",
                    self.header.count, self.written
                ),
                fix: "Restore the library from a backup or ingest again".into(),
            });
        }
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| Error::io("write", &self.temp, e.into_error()))?;
        // Slots may have been patched after they were first written, so the
        // checksum is taken from the finished file.
        let io = |e| Error::io("checksum", &self.temp, e);
        file.seek(SeekFrom::Start(HEADER_LEN)).map_err(io)?;
        let header = Header {
            checksum: Some(checksum_of(&mut file).map_err(io)?),
            ..self.header
        };
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&header.encode()).map_err(io)?;
        file.commit()
    }
}

/// Papers added to the library since its vector file was written: their
/// vectors appended to that file in place, so a large library is not
/// copied for a few new papers. The header, rewritten last, takes the new
/// count, generation and a checksum continued from the old one (so damage
/// the old body already had is still caught).
pub(crate) struct VectorFileAppender {
    out: BufWriter<File>,
    path: std::path::PathBuf,
    header: Header,
    next_slot: usize,
    crc: crc32fast::Hasher,
}

impl VectorFileAppender {
    /// Opens the vector file at `path`, whose header is `old`, to grow it
    /// to `new`. `None` when it cannot be grown: it records no checksum to
    /// continue, has another shape, or is not as long as `old` says.
    pub fn open(path: &Path, old: Header, new: Header) -> Result<Option<VectorFileAppender>> {
        let (Some(checksum), Some(end)) = (old.checksum, old.file_len()) else {
            return Ok(None);
        };
        if old.library_id != new.library_id
            || old.dim != new.dim
            || old.count > new.count
            || old.generation >= new.generation
        {
            return Ok(None);
        }
        let io = |e| Error::io("open for appending", path, e);
        let mut file = File::options()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        if file.metadata().map_err(io)?.len() < end {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(end)).map_err(io)?;
        Ok(Some(VectorFileAppender {
            out: BufWriter::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            header: Header {
                checksum: None,
                ..new
            },
            next_slot: old.count,
            crc: crc32fast::Hasher::new_with_initial(checksum),
        }))
    }

    /// Appends the vector of `slot` (`dim` little-endian f32), which must
    /// be the next slot after those already in the file.
    pub fn put(&mut self, slot: usize, bytes: &[u8]) -> Result<()> {
        debug_assert_eq!(bytes.len(), self.header.dim * 4);
        if slot != self.next_slot {
            return Err(self.out_of_order(slot));
        }
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io("append to", &self.path, e))?;
        self.crc.update(bytes);
        self.next_slot += 1;
        Ok(())
    }

    fn out_of_order(&self, slot: usize) -> Error {
        Error::StoreCorrupt {
            path: self.path.clone(),
            problem: format!("slot {slot} comes where slot {} belongs", self.next_slot),
            fix: "The database skips a slot; restore it from a backup or ingest again".into(),
        }
    }

    /// Takes the vector of `slot`, the next slot, as the file already holds
    /// it (written there before the database committed it), after checking
    /// it against the checksum `crc` the database keeps. False when it does
    /// not match or is missing: the vector was lost.
    pub fn keep(&mut self, slot: usize, crc: u32) -> Result<bool> {
        if slot != self.next_slot {
            return Err(self.out_of_order(slot));
        }
        let io = |e| Error::io("read", &self.path, e);
        self.out.flush().map_err(io)?;
        let mut row = vec![0u8; self.header.dim * 4];
        let at = HEADER_LEN + (slot * row.len()) as u64;
        if read_bytes_at(self.out.get_ref(), at, &mut row).is_err() || crc32fast::hash(&row) != crc
        {
            return Ok(false);
        }
        self.out
            .seek(SeekFrom::Start(at + row.len() as u64))
            .map_err(io)?;
        self.crc.update(&row);
        self.next_slot += 1;
        Ok(true)
    }

    /// Checks that every new slot came, makes the appended vectors durable,
    /// then writes and syncs the new header.
    pub fn commit(self) -> Result<()> {
        if self.next_slot != self.header.count {
            return Err(Error::StoreCorrupt {
                path: self.path.clone(),
                problem: format!(
                    "the database lists {} papers but the file reached {}",
                    self.header.count, self.next_slot
                ),
                fix: "Restore the library from a backup or ingest again".into(),
            });
        }
        let io = |e| Error::io("append to", &self.path, e);
        let mut file = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_data().map_err(io)?;
        let header = Header {
            checksum: Some(self.crc.finalize()),
            ..self.header
        };
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&header.encode()).map_err(io)?;
        file.sync_data().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn written_file_maps_back_with_patches_applied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let header = Header {
            dim: 2,
            count: 3,
            generation: 5,
            library_id: 9,
            checksum: None,
        };
        let mut w = VectorFileWriter::create(&path, header).unwrap();
        w.put(0, &le(&[1.0, 2.0])).unwrap();
        w.put(1, &le(&[3.0, 4.0])).unwrap();
        w.put(0, &le(&[5.0, 6.0])).unwrap();
        w.put(2, &le(&[7.0, 8.0])).unwrap();
        w.commit().unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );

        let (file, read) = read_header(&path).unwrap();
        let expected = crc32fast::hash(&le(&[5.0, 6.0, 3.0, 4.0, 7.0, 8.0]));
        assert_eq!(
            read,
            Header {
                checksum: Some(expected),
                ..header
            }
        );
        assert_eq!(verify_body(&path, &read).unwrap(), BodyCheck::Matches);
        let view = VectorView::map(&file, &path, read).unwrap();
        assert_eq!(view.as_slice(), &[5.0, 6.0, 3.0, 4.0, 7.0, 8.0]);
        assert_eq!(view.vector(2), Some(&[7.0, 8.0][..]));
        assert_eq!(view.vector(3), None);

        // A copy of the first two vectors plus one appended.
        let (mut base, _) = read_header(&path).unwrap();
        let header2 = Header {
            count: 3,
            generation: 6,
            ..header
        };
        let mut w = VectorFileWriter::create(&path, header2).unwrap();
        w.copy_prefix(&mut base, &path, 2).unwrap();
        w.put(2, &le(&[0.5, 0.25])).unwrap();
        w.commit().unwrap();
        let (file, read) = read_header(&path).unwrap();
        let view2 = VectorView::map(&file, &path, read).unwrap();
        assert_eq!(view2.as_slice(), &[5.0, 6.0, 3.0, 4.0, 0.5, 0.25]);
        // The first view still sees its own generation's contents.
        assert_eq!(view.as_slice(), &[5.0, 6.0, 3.0, 4.0, 7.0, 8.0]);
    }

    #[test]
    fn incomplete_writer_is_refused_and_truncated_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let header = Header {
            dim: 2,
            count: 2,
            generation: 1,
            library_id: 1,
            checksum: None,
        };
        let mut w = VectorFileWriter::create(&path, header).unwrap();
        w.put(0, &le(&[1.0, 2.0])).unwrap();
        assert!(w.put(5, &le(&[1.0, 2.0])).is_err());
        assert!(w.commit().is_err());
        assert!(!path.exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no temp left"
        );

        std::fs::write(&path, header.encode()).unwrap();
        assert!(read_header(&path).is_none(), "header promises more data");
        std::fs::write(
            &path,
            b"not a vector file at all, not at all, no, not at all......!",
        )
        .unwrap();
        assert!(read_header(&path).is_none());
    }

    #[test]
    fn flipped_byte_is_caught_and_old_files_without_checksum_still_map() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let header = Header {
            dim: 2,
            count: 2,
            generation: 3,
            library_id: 4,
            checksum: None,
        };
        let mut w = VectorFileWriter::create(&path, header).unwrap();
        w.put(0, &le(&[0.6, 0.8])).unwrap();
        w.put(1, &le(&[1.0, 0.0])).unwrap();
        w.commit().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let intact = bytes.clone();
        bytes[HEADER_LEN as usize + 5] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let (file, read) = read_header(&path).unwrap();
        assert!(matches!(
            verify_body(&path, &read).unwrap(),
            BodyCheck::Mismatch { .. }
        ));
        let err = VectorView::map(&file, &path, read).unwrap_err().to_string();
        assert!(err.contains("relate repair"), "{err}");

        // A file as written before checksums: zeros where the marks go.
        let mut old = intact;
        old[40..56].fill(0);
        std::fs::write(&path, &old).unwrap();
        let (file, read) = read_header(&path).unwrap();
        assert_eq!(read.checksum, None);
        assert_eq!(verify_body(&path, &read).unwrap(), BodyCheck::NotRecorded);
        let view = VectorView::map(&file, &path, read).unwrap();
        assert_eq!(view.as_slice(), &[0.6, 0.8, 1.0, 0.0]);
    }

    #[test]
    fn a_mapped_file_read_in_blocks_reads_the_same_before_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let count = 5_000;
        let header = Header {
            dim: 4,
            count,
            generation: 1,
            library_id: 2,
            checksum: None,
        };
        let values: Vec<f32> = (0..count * 4).map(|i| i as f32 * 0.5).collect();
        let mut w = VectorFileWriter::create(&path, header).unwrap();
        for (slot, row) in values.chunks(4).enumerate() {
            w.put(slot, &le(row)).unwrap();
        }
        w.commit().unwrap();
        let (file, read) = read_header(&path).unwrap();
        let view = VectorView::map(&file, &path, read).unwrap();
        let mut seen = Vec::new();
        let mut starts = Vec::new();
        view.for_each_block(1_024, |first, block| {
            starts.push(first);
            seen.extend_from_slice(block);
            Ok(())
        })
        .unwrap();
        assert_eq!(starts, [0, 1_024, 2_048, 3_072, 4_096]);
        assert_eq!(seen, values);
        // The pages handed back are read again from the file, unchanged.
        assert_eq!(view.as_slice(), &values[..]);
    }

    #[test]
    fn a_header_half_rewritten_is_never_taken_for_a_whole_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let small = Header {
            dim: 2,
            count: 1,
            generation: 1,
            library_id: 4,
            checksum: Some(0x1111_1111),
        };
        let large = Header {
            count: 2,
            generation: 2,
            checksum: Some(0x2222_2222),
            ..small
        };
        let mut bytes = large.encode().to_vec();
        bytes.extend(le(&[0.6, 0.8, 1.0, 0.0]));
        std::fs::write(&path, &bytes).unwrap();

        // Any mix of the two headers' bytes (as a reader racing a rewrite
        // sees) is refused, not read as a header that was never written.
        let (a, b) = (small.encode(), large.encode());
        for cut in 1..HEADER_CHECKED_LEN {
            let mut torn = b;
            torn[cut..].copy_from_slice(&a[cut..]);
            if torn != a && torn != b {
                assert_eq!(Header::decode(&torn), None, "torn at byte {cut}");
            }
        }

        // A writer rewriting the header over and over while it is read.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let file = File::options().write(true).open(&path).unwrap();
                let mut turn = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let header = if turn.is_multiple_of(2) { small } else { large };
                    write_bytes_at(&file, 0, &header.encode()).unwrap();
                    turn += 1;
                }
            })
        };
        for _ in 0..2_000 {
            let (_, read) = read_header(&path).expect("a whole header");
            assert!(read == small || read == large, "{read:?}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();

        // A damaged header is unreadable; the rows behind it still count.
        let mut damaged = bytes;
        damaged[20] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        assert!(read_header(&path).is_none());
        assert_eq!(Body::open(&path, 2, 4).unwrap().rows, 2);
    }
}
