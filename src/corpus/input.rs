//! Opening an input for reading: a file, standard input (`-`), or anything
//! that is not a regular file (a pipe, a FIFO, `/dev/stdin`, a process
//! substitution's `/dev/fd/N`). Every input is read as a stream from its
//! first byte to its last and never sized from file metadata, which says 0
//! for a pipe; the size of a regular file serves only to show how far
//! reading has got ([`ReadPosition`]).
//!
//! Compressed input (gzip, zstd, xz) is decompressed as it is read. It is
//! recognised by its first bytes whatever its name; a name ending in `.gz`,
//! `.zst` or `.xz` whose content does not start that way is an error rather
//! than being read as text. The name without that ending (`papers.jsonl`
//! for `papers.jsonl.gz`) is what format detection looks at.
//!
//! Text in UTF-16 or in a single-byte encoding is decoded to UTF-8 as it
//! is read ([`Input::decode_utf16`], [`Input::decode_single_byte`]).
//!
//! An input that must be read twice (`ingest --strict` checks every record
//! before storing any) is a [`ReplayableInput`]: a regular file is opened
//! again, anything else is first copied to an unnamed temporary file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::{Error, Result};

/// How the input is read in: buffer size of the stream handed to readers.
const BUFFER_BYTES: usize = 64 * 1024;

/// The name standard input is shown under in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// A compression an input can arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Xz,
}

impl Compression {
    /// The file-name ending that announces this compression.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
            Compression::Xz => "xz",
        }
    }

    /// The compression a file-name ending (`gz`, `zst`, `xz`) announces.
    pub fn from_extension(extension: &str) -> Option<Compression> {
        match extension.to_ascii_lowercase().as_str() {
            "gz" | "gzip" => Some(Compression::Gzip),
            "zst" | "zstd" => Some(Compression::Zstd),
            "xz" => Some(Compression::Xz),
            _ => None,
        }
    }

    /// The compression whose magic bytes `head` starts with.
    fn from_magic(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else {
            None
        }
    }
}

/// How far reading an input has got: the bytes taken from the file (as
/// stored, so before decompression) out of its size, when it has one.
/// Clones share the count, so another thread can watch a reader's progress.
#[derive(Debug, Clone, Default)]
pub struct ReadPosition {
    read: Arc<AtomicU64>,
    total: Option<u64>,
}

impl ReadPosition {
    /// Bytes read from the file so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// The file's size; `None` for standard input and pipes.
    pub fn total_bytes(&self) -> Option<u64> {
        self.total
    }

    /// Says how far a reader that does not read front to back has got.
    pub(crate) fn set(&self, bytes: u64) {
        self.read.store(bytes, Ordering::Relaxed);
    }
}

/// Counts the bytes that pass through into a [`ReadPosition`].
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An opened input: a buffered stream of its (decompressed) bytes.
pub struct Input {
    reader: Box<dyn BufRead + Send>,
    shown: String,
    name: Option<PathBuf>,
    compression: Option<Compression>,
    position: ReadPosition,
    /// The path of a regular, uncompressed file, which a reader that needs
    /// to seek (Parquet) opens again.
    file: Option<PathBuf>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("shown", &self.shown)
            .field("name", &self.name)
            .field("compression", &self.compression)
            .finish()
    }
}

impl Input {
    /// An input of bytes already in memory, uncompressed; `name` stands for
    /// its path in messages and when its format is told from its name.
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Input {
        let position = ReadPosition {
            read: Arc::default(),
            total: Some(bytes.len() as u64),
        };
        let reader = Counted {
            inner: Cursor::new(bytes),
            read: position.read.clone(),
        };
        Input {
            reader: Box::new(BufReader::new(reader)),
            shown: name.to_string(),
            name: Some(PathBuf::from(name)),
            compression: None,
            position,
            file: None,
        }
    }

    /// The input as messages name it: the path, or `<stdin>`.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The name formats are told from: the path without a compression
    /// ending; `None` for standard input.
    pub fn name(&self) -> Option<&Path> {
        self.name.as_deref()
    }

    /// The compression the input arrived in, if any.
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// How far reading has got (shared with the reader).
    pub fn position(&self) -> ReadPosition {
        self.position.clone()
    }

    /// The input's path when it is a regular file, not compressed.
    pub(crate) fn regular_file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The input's bytes, decompressed.
    pub fn into_reader(self) -> Box<dyn BufRead + Send> {
        self.reader
    }

    /// Reads the input as UTF-8 from here on when it is UTF-16: it starts
    /// with a UTF-16 byte-order mark (see [`super::encoding`]).
    pub(crate) fn decode_utf16(&mut self) -> Result<()> {
        let head = self.peek(2)?;
        if let Some(big_endian) = super::encoding::utf16_order(&head) {
            self.decode_with(|raw| Box::new(super::encoding::Utf16ToUtf8::new(raw, big_endian)));
        }
        Ok(())
    }

    /// Reads the input as UTF-8 from here on when its start, `head` (as
    /// peeked), is in a single-byte encoding (see [`super::encoding`]);
    /// returns a warning to show then, as accented letters may be wrong.
    /// Only for text formats.
    pub(crate) fn decode_single_byte(&mut self, head: &[u8]) -> Option<String> {
        if !super::encoding::is_single_byte_text(head) {
            return None;
        }
        self.decode_with(|raw| Box::new(super::encoding::Windows1252ToUtf8::new(raw)));
        Some(
            "the file is not UTF-8 and was read as Windows-1252 (Latin-1): check accented \
             letters, or save the file as UTF-8"
                .to_string(),
        )
    }

    /// Puts a decoder between the stream and its readers.
    fn decode_with(
        &mut self,
        decoder: impl FnOnce(Box<dyn BufRead + Send>) -> Box<dyn Read + Send>,
    ) {
        let raw = std::mem::replace(&mut self.reader, Box::new(io::empty()));
        self.reader = Box::new(BufReader::with_capacity(BUFFER_BYTES, decoder(raw)));
        // Positions in the text are no longer positions in the file.
        self.file = None;
    }

    /// Splits the stream into its first `max` bytes (fewer when it is
    /// shorter) and itself, unchanged, for reading from the start.
    pub(crate) fn peek(&mut self, max: usize) -> Result<Vec<u8>> {
        let mut head = Vec::new();
        (&mut self.reader)
            .take(max as u64)
            .read_to_end(&mut head)
            .map_err(|e| read_error(&self.shown, e))?;
        let rest = std::mem::replace(&mut self.reader, Box::new(io::empty()));
        self.reader = Box::new(BufReader::with_capacity(
            BUFFER_BYTES,
            Cursor::new(head.clone()).chain(rest),
        ));
        Ok(head)
    }
}

/// Whether `path` names standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Opens `path` (`-` for standard input) as a stream, decompressing it when
/// its first bytes say it is gzip, zstd or xz.
///
/// Fails with [`Error::Io`] when it cannot be opened or read and with
/// [`Error::BadInput`] when its name says it is compressed but its content
/// is not, or its content cannot be decompressed.
pub fn open_input(path: &Path) -> Result<Input> {
    if is_stdin(path) {
        return decode(Box::new(io::stdin()), None, path);
    }
    let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let size = regular_file_size(&file);
    decode(Box::new(file), size, path)
}

/// The size of `file` when it is a regular file (a pipe's says nothing).
fn regular_file_size(file: &File) -> Option<u64> {
    file.metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// Wraps the raw bytes of the input named `path` (of `size` bytes, when
/// known) in the decompressor its first bytes call for.
fn decode(raw: Box<dyn Read + Send>, size: Option<u64>, path: &Path) -> Result<Input> {
    let position = ReadPosition {
        read: Arc::default(),
        total: size,
    };
    let mut raw: Box<dyn Read + Send> = Box::new(Counted {
        inner: raw,
        read: position.read.clone(),
    });
    let stdin = is_stdin(path);
    let shown = if stdin {
        STDIN_NAME.to_string()
    } else {
        path.display().to_string()
    };
    let mut magic = Vec::with_capacity(6);
    (&mut raw)
        .take(6)
        .read_to_end(&mut magic)
        .map_err(|e| read_error(&shown, e))?;
    let found = Compression::from_magic(&magic);
    let named = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Compression::from_extension)
        .filter(|_| !stdin);
    if let Some(named) = named {
        if found != Some(named) && !magic.is_empty() {
            return Err(Error::BadInput {
                path: shown,
                problem: format!(
                    "the name ends in .{} but the content is {}; rename the file to say what it \
                     holds",
                    named.extension(),
                    match found {
                        Some(other) => format!("{other:?}-compressed").to_lowercase(),
                        None => "not compressed".to_string(),
                    }
                ),
            });
        }
    }
    let name = if stdin {
        None
    } else if named.is_some() {
        Some(path.with_extension(""))
    } else {
        Some(path.to_path_buf())
    };
    let bytes = Cursor::new(magic).chain(raw);
    let decoded: Box<dyn Read + Send> = match found {
        None => Box::new(bytes),
        Some(Compression::Gzip) => Box::new(Decompressed(flate2::read::MultiGzDecoder::new(bytes))),
        Some(Compression::Zstd) => Box::new(Decompressed(
            zstd::stream::read::Decoder::new(bytes).map_err(|e| Error::BadInput {
                path: shown.clone(),
                problem: format!("cannot start reading zstd data ({e})"),
            })?,
        )),
        Some(Compression::Xz) => Box::new(Decompressed(
            liblzma::read::XzDecoder::new_multi_decoder(bytes),
        )),
    };
    let file = (size.is_some() && found.is_none() && !stdin).then(|| path.to_path_buf());
    Ok(Input {
        reader: Box::new(BufReader::with_capacity(BUFFER_BYTES, decoded)),
        shown,
        name,
        compression: found,
        position,
        file,
    })
}

/// A decompressing reader whose errors say what they mean for the text
/// already read: a damaged stream is often found only at its checksum, after
/// the damaged text was handed on.
struct Decompressed<R>(R);

impl<R: Read> Read for Decompressed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                return e;
            }
            io::Error::new(
                e.kind(),
                format!(
                    "{e}: the compressed data is damaged or cut short, so the papers read \
                     before this point may hold damaged text too; get a fresh copy of the \
                     file, or ingest it with --strict to store nothing from a damaged file"
                ),
            )
        })
    }
}

fn read_error(shown: &str, e: io::Error) -> Error {
    Error::io("cannot read", PathBuf::from(shown), e)
}

/// An input that can be opened more than once, for a caller that reads it
/// twice. A regular file is opened again by name; standard input, a pipe
/// or a FIFO is first copied whole (as it arrived, still compressed) to a
/// temporary file that is removed from its folder as soon as it is created,
/// so nothing is left behind whatever happens.
pub struct ReplayableInput {
    path: PathBuf,
    spool: Option<File>,
}

impl ReplayableInput {
    /// Prepares `path` (`-` for standard input) for reading more than once.
    pub fn new(path: &Path) -> Result<ReplayableInput> {
        let regular = !is_stdin(path) && std::fs::metadata(path).is_ok_and(|m| m.is_file());
        if regular {
            return Ok(ReplayableInput {
                path: path.to_path_buf(),
                spool: None,
            });
        }
        let mut source: Box<dyn Read> = if is_stdin(path) {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path).map_err(|e| Error::io("cannot open", path, e))?)
        };
        let mut spool = anonymous_temp_file()?;
        io::copy(&mut source, &mut spool).map_err(|e| {
            let shown = if is_stdin(path) {
                STDIN_NAME.to_string()
            } else {
                path.display().to_string()
            };
            Error::io(
                "cannot copy to a temporary file (needed to read it twice)",
                PathBuf::from(shown),
                e,
            )
        })?;
        Ok(ReplayableInput {
            path: path.to_path_buf(),
            spool: Some(spool),
        })
    }

    /// Opens the input from its start.
    pub fn open(&self) -> Result<Input> {
        match &self.spool {
            None => open_input(&self.path),
            Some(spool) => {
                let mut file = spool
                    .try_clone()
                    .map_err(|e| Error::io("reopen", std::env::temp_dir(), e))?;
                file.seek(SeekFrom::Start(0))
                    .map_err(|e| Error::io("rewind", std::env::temp_dir(), e))?;
                let size = regular_file_size(&file);
                decode(Box::new(file), size, &self.path)
            }
        }
    }
}

/// A new, empty temporary file, already removed from its folder where the
/// platform allows (it lives until closed).
fn anonymous_temp_file() -> Result<File> {
    let dir = std::env::temp_dir();
    for attempt in 0..100u32 {
        let path = dir.join(format!(
            ".relate-input-{}-{}-{attempt}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        match File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                let _ = std::fs::remove_file(&path);
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("create a temporary file in", dir, e)),
        }
    }
    Err(Error::io(
        "create a temporary file in",
        dir,
        io::ErrorKind::AlreadyExists.into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(input: Input) -> String {
        let mut text = String::new();
        input.into_reader().read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn compressed_files_are_read_by_magic_and_named_without_the_ending() {
        let dir = tempfile::tempdir().unwrap();
        let text = "{\"title\": \"A\"}\n".repeat(1000);
        let gz = dir.path().join("p.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let zst = dir.path().join("p.jsonl.zst");
        std::fs::write(&zst, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
        let xz = dir.path().join("p.jsonl.xz");
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
        enc.write_all(text.as_bytes()).unwrap();
        std::fs::write(&xz, enc.finish().unwrap()).unwrap();
        // Compressed content under a plain name is still recognised.
        let hidden = dir.path().join("p.data");
        std::fs::copy(&gz, &hidden).unwrap();

        for (path, compression) in [
            (&gz, Compression::Gzip),
            (&zst, Compression::Zstd),
            (&xz, Compression::Xz),
            (&hidden, Compression::Gzip),
        ] {
            let input = open_input(path).unwrap();
            assert_eq!(input.compression(), Some(compression), "{path:?}");
            if path != &hidden {
                assert_eq!(input.name(), Some(dir.path().join("p.jsonl").as_path()));
            }
            assert_eq!(read_all(input), text, "{path:?}");
        }
    }

    #[test]
    fn damaged_compressed_data_warns_about_the_text_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..2000)
            .map(|i| format!("{{\"title\": \"Paper {i}\"}}\n"))
            .collect();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        let mut bytes = enc.finish().unwrap();
        // The stored checksum no longer matches what the data decodes to.
        let end = bytes.len();
        bytes[end - 8] ^= 0xff;
        let path = dir.path().join("p.jsonl.gz");
        std::fs::write(&path, bytes).unwrap();
        let mut out = String::new();
        let err = open_input(&path)
            .unwrap()
            .into_reader()
            .read_to_string(&mut out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("damaged") && err.contains("--strict"), "{err}");
    }

    #[test]
    fn a_compressed_name_on_plain_content_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl.gz");
        std::fs::write(&path, "{\"title\": \"A\"}\n").unwrap();
        let err = open_input(&path).unwrap_err().to_string();
        assert!(
            err.contains(".gz") && err.contains("not compressed"),
            "{err}"
        );
    }

    #[test]
    fn peeking_leaves_the_stream_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.txt");
        std::fs::write(&path, "hello, world\n").unwrap();
        let mut input = open_input(&path).unwrap();
        assert_eq!(input.peek(5).unwrap(), b"hello");
        assert_eq!(read_all(input), "hello, world\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_streamed_and_can_be_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("feed.jsonl");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, "line one\nline two\n").unwrap())
        };
        let replay = ReplayableInput::new(&fifo).unwrap();
        writer.join().unwrap();
        for _ in 0..2 {
            let input = replay.open().unwrap();
            assert_eq!(input.name(), Some(fifo.as_path()));
            assert_eq!(read_all(input), "line one\nline two\n");
        }
    }
}
