//! Reading UTF-16 text as UTF-8: a file that starts with a UTF-16
//! byte-order mark (as Excel's "Unicode text" and some Windows tools save
//! tables) is decoded as it is streamed, so every reader sees UTF-8. A
//! lone surrogate or an odd last byte becomes U+FFFD.

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
