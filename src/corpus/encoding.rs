//! Reading text in other encodings as UTF-8, as it is streamed, so that
//! every reader sees UTF-8:
//!
//! - a file that starts with a UTF-16 byte-order mark (as Excel's "Unicode
//!   text" and some Windows tools save tables) is decoded from UTF-16; a
//!   lone surrogate or an odd last byte becomes U+FFFD;
//! - a file whose start is not UTF-8 and holds no UTF-8 sequence of several
//!   bytes at all (so a single-byte encoding, as older Windows and Excel
//!   exports are) is decoded as Windows-1252, the superset of Latin-1 those
//!   tools write.

use std::io::{self, Read};

/// Byte-order marks of UTF-16: little-endian, then big-endian.
const LITTLE_ENDIAN_MARK: [u8; 2] = [0xFF, 0xFE];
const BIG_ENDIAN_MARK: [u8; 2] = [0xFE, 0xFF];
/// Bytes read from the source at a time.
const CHUNK: usize = 16 * 1024;

/// Whether text starting with `head` is UTF-16 and, if so, big-endian.
pub(crate) fn utf16_order(head: &[u8]) -> Option<bool> {
    if head.starts_with(&LITTLE_ENDIAN_MARK) {
        Some(false)
    } else if head.starts_with(&BIG_ENDIAN_MARK) {
        Some(true)
    } else {
        None
    }
}

/// A reader of UTF-8 over a UTF-16 source (byte-order mark removed).
pub(crate) struct Utf16ToUtf8<R> {
    inner: R,
    big_endian: bool,
    /// Bytes read but not yet decoded: an odd byte, or the two bytes of a
    /// high surrogate waiting for its pair.
    pending: Vec<u8>,
    decoded: Vec<u8>,
    handed: usize,
    mark_seen: bool,
    done: bool,
}

impl<R: Read> Utf16ToUtf8<R> {
    pub(crate) fn new(inner: R, big_endian: bool) -> Self {
        Utf16ToUtf8 {
            inner,
            big_endian,
            pending: Vec::new(),
            decoded: Vec::new(),
            handed: 0,
            mark_seen: false,
            done: false,
        }
    }

    /// Decodes the next chunk of the source into `decoded`.
    fn fill(&mut self) -> io::Result<()> {
        self.decoded.clear();
        self.handed = 0;
        let mut chunk = [0u8; CHUNK];
        let n = match self.inner.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        };
        if n == 0 {
            self.done = true;
            if !self.pending.is_empty() {
                self.pending.clear();
                self.push('\u{fffd}');
            }
            return Ok(());
        }
        self.pending.extend_from_slice(&chunk[..n]);
        let whole = self.pending.len() / 2 * 2;
        let mut units: Vec<u16> = self.pending[..whole]
            .chunks_exact(2)
            .map(|pair| {
                let pair = [pair[0], pair[1]];
                if self.big_endian {
                    u16::from_be_bytes(pair)
                } else {
                    u16::from_le_bytes(pair)
                }
            })
            .collect();
        let mut keep = whole;
        // A high surrogate at the end waits for the low one after it.
        if units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
            units.pop();
            keep -= 2;
        }
        self.pending.drain(..keep);
        if !self.mark_seen && !units.is_empty() {
            self.mark_seen = true;
            if units[0] == 0xFEFF {
                units.remove(0);
            }
        }
        for c in char::decode_utf16(units) {
            self.push(c.unwrap_or('\u{fffd}'));
        }
        Ok(())
    }

    fn push(&mut self, c: char) {
        let mut bytes = [0u8; 4];
        self.decoded
            .extend_from_slice(c.encode_utf8(&mut bytes).as_bytes());
    }
}

impl<R: Read> Read for Utf16ToUtf8<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.handed == self.decoded.len() {
            if self.done {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = buf.len().min(self.decoded.len() - self.handed);
        buf[..n].copy_from_slice(&self.decoded[self.handed..self.handed + n]);
        self.handed += n;
        Ok(n)
    }
}

/// Characters of Windows-1252's bytes 0x80 to 0x9F (the five it leaves
/// undefined keep their Latin-1 control characters).
const WINDOWS_1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

/// Whether text starting with `head` is in a single-byte encoding: it is
/// not UTF-8, and no byte above 0x7F in it starts a valid UTF-8 sequence.
pub(crate) fn is_single_byte_text(head: &[u8]) -> bool {
    if std::str::from_utf8(head).is_ok() {
        return false;
    }
    let mut at = 0;
    while at < head.len() {
        let byte = head[at];
        let width = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 1,
        };
        if width > 1 {
            if let Some(sequence) = head.get(at..at + width) {
                if std::str::from_utf8(sequence).is_ok() {
                    return false;
                }
            }
        }
        at += 1;
    }
    true
}

/// A reader of UTF-8 over Windows-1252 text.
pub(crate) struct Windows1252ToUtf8<R> {
    inner: R,
    decoded: Vec<u8>,
    handed: usize,
}

impl<R: Read> Windows1252ToUtf8<R> {
    pub(crate) fn new(inner: R) -> Self {
        Windows1252ToUtf8 {
            inner,
            decoded: Vec::new(),
            handed: 0,
        }
    }
}

impl<R: Read> Read for Windows1252ToUtf8<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.handed == self.decoded.len() {
            let mut chunk = [0u8; CHUNK];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                return Ok(0);
            }
            self.decoded.clear();
            self.handed = 0;
            for &byte in &chunk[..n] {
                let c = match byte {
                    0x80..=0x9F => WINDOWS_1252_HIGH[usize::from(byte - 0x80)],
                    _ => char::from(byte),
                };
                let mut bytes = [0u8; 4];
                self.decoded
                    .extend_from_slice(c.encode_utf8(&mut bytes).as_bytes());
            }
        }
        let n = buf.len().min(self.decoded.len() - self.handed);
        buf[..n].copy_from_slice(&self.decoded[self.handed..self.handed + n]);
        self.handed += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str, big_endian: bool) -> Vec<u8> {
        let mut bytes = if big_endian {
            BIG_ENDIAN_MARK.to_vec()
        } else {
            LITTLE_ENDIAN_MARK.to_vec()
        };
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        bytes
    }

    /// Reads through a source that hands out `step` bytes at a time, so
    /// pairs and surrogates are split between reads.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(self.0.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn decodes_both_byte_orders_across_split_reads() {
        let text = "id\ttitle\r\n1\tCafé 🚀 naïve — 数据\r\n";
        for big_endian in [false, true] {
            let bytes = encode(text, big_endian);
            assert_eq!(utf16_order(&bytes), Some(big_endian));
            for step in [1, 3, 4, 7, 1000] {
                let mut out = String::new();
                Utf16ToUtf8::new(Trickle(&bytes, step), big_endian)
                    .read_to_string(&mut out)
                    .unwrap();
                assert_eq!(out, text, "step {step}");
            }
        }
        assert_eq!(utf16_order(b"\xef\xbb\xbfid"), None);
    }

    #[test]
    fn broken_units_become_replacement_characters() {
        // A lone high surrogate, then an odd last byte.
        let bytes = [0xFF, 0xFE, b'a', 0, 0x00, 0xD8, b'b', 0, b'c'];
        let mut out = String::new();
        Utf16ToUtf8::new(&bytes[..], false)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "a\u{fffd}b\u{fffd}");
    }
}

#[cfg(test)]
mod single_byte_tests {
    use super::*;

    #[test]
    fn single_byte_text_is_told_from_damaged_utf8_and_decoded() {
        let latin1 = b"title\nM\xfcller \x96 na\xefve \x80 caf\xe9\n";
        assert!(is_single_byte_text(latin1));
        // UTF-8 with one bad byte is damaged UTF-8, not Latin-1.
        assert!(!is_single_byte_text(
            &[&b"M\xc3\xbcller"[..], b"\xff"].concat()
        ));
        assert!(!is_single_byte_text(b"plain ascii"));
        let mut out = String::new();
        Windows1252ToUtf8::new(&latin1[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "title\nMüller – naïve € café\n");
    }
}
