//! Text normalisation shared by every reader: whitespace is collapsed and
//! trimmed, and nothing else is changed, so abstracts stay exactly as their
//! source wrote them (LaTeX remnants such as `varepsilon` or `$\alpha$`
//! included) and embeddings match those made from the source text.

/// The UTF-8 byte order mark some editors put at the start of a file.
pub(crate) const BOM: &str = "\u{feff}";

/// Collapses every run of whitespace (Unicode white space, including line
/// breaks, tabs and no-break spaces) and every control character into one
/// space, trims both ends, and composes characters (Unicode NFC), so that
/// `e` followed by a combining acute accent is the one character `é`.
///
/// ```
/// use relate::corpus::normalize_text;
/// assert_eq!(normalize_text("  A\r\n title\twith\u{a0}gaps "), "A title with gaps");
/// assert_eq!(normalize_text("Cafe\u{301}"), "Caf\u{e9}");
/// ```
pub fn normalize_text(text: &str) -> String {
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    let composed: String;
    let text = if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        text
    } else {
        composed = text.nfc().collect();
        &composed
    };
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() || c == '\u{feff}' {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// The number (1–12) of the English month a word names: the whole name or
/// its first three letters or more (`Mar`, `Sept.`), any case.
pub(crate) fn month_number(word: &str) -> Option<u8> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let word = word.trim_end_matches('.').to_lowercase();
    if word.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(&word))
        .map(|i| i as u8 + 1)
}

/// Removes a leading byte order mark, if any.
pub(crate) fn strip_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

/// Describes where `bytes` stop being UTF-8: the 0-based line (counted by
/// `\n`) and a message naming the byte and its column, with what to do.
pub(crate) fn describe_utf8_error(bytes: &[u8], error: &std::str::Utf8Error) -> (usize, String) {
    let at = error.valid_up_to();
    let before = &bytes[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let byte = bytes.get(at).copied().unwrap_or(0);
    // A UTF-16 byte-order mark: the whole file is UTF-16, not Latin-1.
    if line == 0 && (bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF])) {
        return (
            line,
            "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8, \
             for example with `iconv -f utf-16 -t utf-8`"
                .to_string(),
        );
    }
    let message = format!(
        "not valid UTF-8 (byte 0x{byte:02X} at column {}); save the file as UTF-8, \
         for example with `iconv -f latin1 -t utf-8`",
        at - line_start + 1
    );
    (line, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_and_trims_whitespace_only() {
        assert_eq!(normalize_text("\u{feff} a  b\n\nc\t"), "a b c");
        assert_eq!(normalize_text(""), "");
        assert_eq!(normalize_text(" \r\n "), "");
        let latex = r"rate of Obig(big[sqrt{d}{nvarepsilon}big]^{2/3}big) and $\alpha$";
        assert_eq!(normalize_text(latex), latex);
    }

    #[test]
    fn strips_only_a_leading_bom() {
        assert_eq!(strip_bom("\u{feff}x\u{feff}"), "x\u{feff}");
        assert_eq!(strip_bom("x"), "x");
    }

    #[test]
    fn utf8_errors_name_line_and_column() {
        let bytes = b"ok\nab\xE9c\n".to_vec();
        let error = std::str::from_utf8(&bytes).unwrap_err();
        let (line, message) = describe_utf8_error(&bytes, &error);
        assert_eq!(line, 1);
        assert!(message.contains("0xE9 at column 3"), "{message}");
        let utf16 = b"\xff\xfe{\x00\"\x00".to_vec();
        let error = std::str::from_utf8(&utf16).unwrap_err();
        let (line, message) = describe_utf8_error(&utf16, &error);
        assert_eq!(line, 0);
        assert!(message.contains("iconv -f utf-16"), "{message}");
    }
}
