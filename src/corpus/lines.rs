//! Reading input a line at a time with a ceiling on how long one line may
//! be ([`MAX_LINE_BYTES`], 16 MiB). A longer line is never held in memory:
//! its bytes are skipped up to the next line break and the caller learns
//! only its length, so one damaged or hostile line of many gigabytes costs
//! no more memory than the limit. [`read_line_limited`] serves readers that
//! go line by line; [`LineLimited`] serves those that need a plain byte
//! stream (CSV, whole-file formats), replacing each over-long line with an
//! empty one and remembering its number.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};
use std::sync::{Arc, Mutex};

/// The longest line, in bytes without its line break, that any input
/// reader accepts: 16 MiB.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// What [`read_line_limited`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineRead {
    /// The input has no more lines.
    End,
    /// A line was read into the buffer (with its `\n`, if it had one).
    Line,
    /// A line of `bytes` bytes (without its line break), over the limit; it
    /// was skipped and the buffer is empty.
    TooLong { bytes: u64 },
}

/// Reads the next line of `reader` into `buf` (cleared first), keeping its
/// `\n`, like [`BufRead::read_until`], unless the line is longer than
/// `limit` bytes without its line break: then the rest of it is skipped
/// unread into memory and [`LineRead::TooLong`] says how long it was.
pub fn read_line_limited<R: BufRead + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<LineRead> {
    buf.clear();
    let mut total: u64 = 0;
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if too_long {
                LineRead::TooLong { bytes: total }
            } else if total == 0 {
                LineRead::End
            } else {
                LineRead::Line
            });
        }
        let (take, ends) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        let content = take - usize::from(ends);
        total += content as u64;
        if !too_long && buf.len() + content > limit {
            too_long = true;
            buf.clear();
            buf.shrink_to(limit.min(1 << 16));
        }
        if !too_long {
            buf.extend_from_slice(&available[..take]);
        }
        reader.consume(take);
        if ends {
            return Ok(if too_long {
                LineRead::TooLong { bytes: total }
            } else {
                LineRead::Line
            });
        }
    }
}

/// The message a reader gives for a line over the limit.
pub(crate) fn too_long_message(bytes: u64, limit: usize) -> String {
    const MIB: usize = 1024 * 1024;
    let limit = if limit >= MIB && limit.is_multiple_of(MIB) {
        format!("{} MiB", limit / MIB)
    } else {
        format!("{limit} bytes")
    };
    format!(
        "this line is {bytes} bytes long, more than the limit of {limit} on one line; it was \
         skipped without being read"
    )
}

/// Line numbers (1-based) and lengths of the lines a [`LineLimited`] left
/// out, shared with whoever reports them.
pub(crate) type SkippedLines = Arc<Mutex<VecDeque<(usize, u64)>>>;

/// A byte stream with every line longer than the limit replaced by an empty
/// line, so the lines after it keep their numbers; each replaced line is
/// recorded in [`LineLimited::skipped`].
pub(crate) struct LineLimited<R> {
    inner: R,
    limit: usize,
    line: Vec<u8>,
    pos: usize,
    line_no: usize,
    skipped: SkippedLines,
}

impl<R: BufRead> LineLimited<R> {
    pub(crate) fn new(inner: R, limit: usize) -> Self {
        LineLimited {
            inner,
            limit,
            line: Vec::new(),
            pos: 0,
            line_no: 0,
            skipped: SkippedLines::default(),
        }
    }

    /// The lines left out so far (shared: it fills as reading goes on).
    pub(crate) fn skipped(&self) -> SkippedLines {
        Arc::clone(&self.skipped)
    }
}

impl<R: BufRead> BufRead for LineLimited<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.line.len() {
            self.pos = 0;
            match read_line_limited(&mut self.inner, &mut self.line, self.limit)? {
                LineRead::End => self.line.clear(),
                LineRead::Line => self.line_no += 1,
                LineRead::TooLong { bytes } => {
                    self.line_no += 1;
                    if let Ok(mut skipped) = self.skipped.lock() {
                        skipped.push_back((self.line_no, bytes));
                    }
                    self.line.push(b'\n');
                }
            }
        }
        Ok(&self.line[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.line.len());
    }
}

impl<R: BufRead> Read for LineLimited<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `chunk` bytes per call, like a pipe.
    struct Trickle<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(self.chunk).min(out.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn long_lines_are_skipped_and_measured_short_ones_kept() {
        let input = b"short\nthis one is too long\nok\nxxxxxxxxxxxx";
        for chunk in [1, 3, 64] {
            let mut reader = io::BufReader::with_capacity(4, Trickle { data: input, chunk });
            let mut buf = Vec::new();
            let mut seen = Vec::new();
            loop {
                match read_line_limited(&mut reader, &mut buf, 10).unwrap() {
                    LineRead::End => break,
                    LineRead::Line => seen.push(String::from_utf8(buf.clone()).unwrap()),
                    LineRead::TooLong { bytes } => {
                        assert!(buf.is_empty());
                        seen.push(format!("<{bytes}>"));
                    }
                }
            }
            assert_eq!(seen, ["short\n", "<20>", "ok\n", "<12>"], "chunk {chunk}");
        }
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_kept() {
        let mut buf = Vec::new();
        let mut reader = &b"0123456789\n"[..];
        assert_eq!(
            read_line_limited(&mut reader, &mut buf, 10).unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"0123456789\n");
    }

    #[test]
    fn limited_stream_blanks_long_lines_and_records_them() {
        let input = &b"a,b\nthis line is far too long\n1,2\n"[..];
        let mut limited = LineLimited::new(input, 8);
        let skipped = limited.skipped();
        let mut out = String::new();
        limited.read_to_string(&mut out).unwrap();
        assert_eq!(out, "a,b\n\n1,2\n");
        assert_eq!(
            skipped.lock().unwrap().iter().copied().collect::<Vec<_>>(),
            [(2, 25)]
        );
    }
}
