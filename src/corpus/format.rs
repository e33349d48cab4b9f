//! The paper source formats, their names on the command line, and how a
//! file's format is told from its extension and, when that is not enough,
//! from the start of its content.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::input::open_input;
use crate::{Error, Result};

/// How many bytes of a file are looked at to tell its format.
pub(crate) const SNIFF_BYTES: usize = 64 * 1024;

/// A paper source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A daily-papers digest page saved as text: some page chrome, then
    /// title and abstract paragraphs separated by blank lines.
    Digest,
    /// JSON lines: one object per line with `title` and optional `id`,
    /// `abstract`, `authors`, `date`/`year`, `categories`, `url`.
    Jsonl,
    /// A CSV (or, by extension `.tsv`, tab-separated) table with a header
    /// row naming the same fields as [`Format::Jsonl`].
    Csv,
    /// The arXiv metadata snapshot: JSON lines with `id`, `title`,
    /// `abstract`, `authors`, space-separated `categories`, `update_date`, …
    Arxiv,
    /// A BibTeX file as exported by Zotero or Google Scholar.
    Bibtex,
    /// A tagged reference list: RIS (Zotero, EndNote, Mendeley, Web of
    /// Science, Scopus), PubMed's MEDLINE text or Web of Science's plain
    /// text.
    Ris,
    /// A web feed: RSS 2.0 or 1.0 (arXiv's daily listings, journals'
    /// feeds) or Atom (the arXiv API's answers).
    Feed,
    /// EndNote's XML export (`<xml><records><record>…`).
    Endnote,
    /// A Parquet table with a row per paper and columns named like the
    /// fields of [`Format::Jsonl`], an `embedding` column included (what
    /// `relate export` writes).
    Parquet,
}

impl Format {
    /// Every format, in the order they are listed to users.
    pub const ALL: [Format; 9] = [
        Format::Digest,
        Format::Jsonl,
        Format::Csv,
        Format::Arxiv,
        Format::Bibtex,
        Format::Ris,
        Format::Feed,
        Format::Endnote,
        Format::Parquet,
    ];

    /// The name used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Digest => "digest",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Arxiv => "arxiv",
            Format::Bibtex => "bibtex",
            Format::Ris => "ris",
            Format::Feed => "feed",
            Format::Endnote => "endnote",
            Format::Parquet => "parquet",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = Error;

    /// Parses a format name, case-insensitively. Besides the names of
    /// [`Format::name`], `json`/`ndjson`, `tsv`, `bib` and `medline`/`nbib`
    /// are accepted.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "digest" => Ok(Format::Digest),
            "jsonl" | "json" | "ndjson" => Ok(Format::Jsonl),
            "csv" | "tsv" => Ok(Format::Csv),
            "arxiv" => Ok(Format::Arxiv),
            "bibtex" | "bib" => Ok(Format::Bibtex),
            "ris" | "medline" | "nbib" | "pubmed" => Ok(Format::Ris),
            "feed" | "rss" | "atom" => Ok(Format::Feed),
            "endnote" => Ok(Format::Endnote),
            "parquet" => Ok(Format::Parquet),
            _ => Err(Error::InvalidArgument {
                name: "format".to_string(),
                problem: format!(
                    "unknown format '{s}'; use one of digest, jsonl, csv, arxiv, bibtex, ris, feed, endnote, parquet"
                ),
            }),
        }
    }
}

/// Tells the format of the file at `path` (`-` for standard input, which
/// is then consumed; a compressed file is looked at decompressed).
///
/// The extension decides first: `.txt` is a digest page (unless its first
/// line plainly starts JSON lines, BibTeX, a CSV header or a RIS or MEDLINE
/// record), `.csv`/`.tsv` a table, `.bib`/`.bibtex` BibTeX,
/// `.ris`/`.nbib`/`.medline` a tagged reference list, `.rss`/`.atom` a
/// feed, `.xml` EndNote's export or a feed (by its first elements),
/// `.parquet` (or content starting with
/// Parquet's `PAR1`) a Parquet table, and `.jsonl`/`.ndjson`/`.json` JSON lines,
/// which are then told apart from the arXiv snapshot by the first record's
/// fields (`submitter`, `update_date`, `versions` or `authors_parsed` mean
/// arXiv). Any other extension is decided by the start of the content. A
/// compression ending (`.gz`, `.zst`, `.xz`) is looked through:
/// `papers.csv.gz` is a table.
///
/// Fails with [`Error::Io`] when the file cannot be read and with
/// [`Error::UnknownFormat`] when the content fits no format (an empty file
/// with an unknown extension included).
pub fn detect_format(path: &Path) -> Result<Format> {
    let mut input = open_input(path)?;
    input.decode_utf16()?;
    let head = input.peek(SNIFF_BYTES)?;
    detect_from(input.name(), &head).map_err(|problem| Error::UnknownFormat {
        path: PathBuf::from(input.shown()),
        problem,
    })
}

/// Tells a format from a name's extension (`None` for standard input) and
/// the first bytes of the content; the error says why none fits.
pub(crate) fn detect_from(name: Option<&Path>, head: &[u8]) -> std::result::Result<Format, String> {
    let extension = name
        .and_then(|n| n.extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("txt") => return Ok(sniff_text_file(&String::from_utf8_lossy(head))),
        Some("csv" | "tsv") => return Ok(Format::Csv),
        Some("bib" | "bibtex") => return Ok(Format::Bibtex),
        Some("ris" | "nbib" | "medline") => return Ok(Format::Ris),
        Some("rss" | "atom") => return Ok(Format::Feed),
        Some("parquet") => return Ok(Format::Parquet),
        _ => {}
    }
    if head.starts_with(b"PAR1") {
        return Ok(Format::Parquet);
    }
    // Bytes that are not UTF-8 are reported later, by the reader, with
    // their line.
    let text = String::from_utf8_lossy(head);
    let head = super::normalize::strip_bom(&text);
    if matches!(extension.as_deref(), Some("jsonl" | "ndjson" | "json")) {
        return sniff_json(head);
    }
    if extension.as_deref() == Some("xml") {
        // EndNote's export, else a feed (whose reader says what the first
        // element of another kind of XML is, and what it should be).
        return Ok(if super::endnote::looks_like_endnote(head) {
            Format::Endnote
        } else {
            Format::Feed
        });
    }
    sniff(head)
}

/// Decides a format from the start of a file's content; the error says why
/// none fits.
pub(crate) fn sniff(head: &str) -> std::result::Result<Format, String> {
    let trimmed = head.trim_start();
    if trimmed.is_empty() {
        return Err("the file is empty".to_string());
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return sniff_json(head);
    }
    if super::feed::looks_like_feed(head) {
        return Ok(Format::Feed);
    }
    if super::endnote::looks_like_endnote(head) {
        return Ok(Format::Endnote);
    }
    if head.lines().any(is_bibtex_entry_start) {
        return Ok(Format::Bibtex);
    }
    if super::ris::looks_like_tagged_list(head) {
        return Ok(Format::Ris);
    }
    if looks_like_csv_header(head) {
        return Ok(Format::Csv);
    }
    // Paragraphs separated by blank lines: a digest page.
    if trimmed.lines().any(|l| l.trim().is_empty()) {
        return Ok(Format::Digest);
    }
    Err(
        "it is not JSON lines, CSV with a title column, BibTeX, RIS or MEDLINE, an RSS or Atom \
         feed, or paragraphs of text"
            .to_string(),
    )
}

/// The format of a `.txt` file: a digest page, unless its first line
/// plainly starts another format (a JSON object, a BibTeX entry, a RIS or
/// MEDLINE record, a feed, a CSV header with a `title` column), as when an
/// export was saved as text.
fn sniff_text_file(head: &str) -> Format {
    let head = super::normalize::strip_bom(head);
    let first = head
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('%'))
        .unwrap_or("");
    if first.starts_with('{') {
        sniff_json(head).unwrap_or(Format::Jsonl)
    } else if is_bibtex_entry_start(first) {
        Format::Bibtex
    } else if super::ris::looks_like_tagged_list(head) {
        Format::Ris
    } else if super::feed::looks_like_feed(head) {
        Format::Feed
    } else if super::endnote::looks_like_endnote(head) {
        Format::Endnote
    } else if looks_like_csv_header(head) {
        Format::Csv
    } else {
        Format::Digest
    }
}

/// Tells JSON (lines, an array, or objects over several lines) from the
/// arXiv snapshot by the first record's fields.
fn sniff_json(head: &str) -> std::result::Result<Format, String> {
    let Some(line) = head.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Ok(Format::Jsonl);
    };
    // An array, or an object over several lines: its first record spans
    // more than the first line.
    let line = if super::json_document::is_json_document(head) {
        head
    } else {
        line
    };
    const ARXIV_FIELDS: [&str; 4] = ["submitter", "update_date", "versions", "authors_parsed"];
    let is_arxiv = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line) {
        Ok(object) => {
            object.contains_key("id") && ARXIV_FIELDS.iter().any(|f| object.contains_key(*f))
        }
        // The first line may be cut off by the sniffing limit; look for the keys.
        Err(_) => {
            line.contains("\"id\"")
                && ARXIV_FIELDS
                    .iter()
                    .any(|f| line.contains(&format!("\"{f}\"")))
        }
    };
    Ok(if is_arxiv {
        Format::Arxiv
    } else {
        Format::Jsonl
    })
}

/// Whether a line opens a BibTeX entry: `@name{` or `@name(`.
pub(crate) fn is_bibtex_entry_start(line: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix('@') else {
        return false;
    };
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    name_len > 0 && rest[name_len..].trim_start().starts_with(['{', '('])
}

/// Whether a text starts like a CSV table: a header row with a `title`
/// column and more than one column (after Excel's `sep=` line, if any).
fn looks_like_csv_header(head: &str) -> bool {
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    match super::csv_table::excel_separator(first) {
        Some(_) => super::csv_table::names_a_title_column(lines.next().unwrap_or("")),
        None => super::csv_table::names_a_title_column(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for format in Format::ALL {
            assert_eq!(format.to_string().parse::<Format>().unwrap(), format);
        }
        assert_eq!("BIB".parse::<Format>().unwrap(), Format::Bibtex);
        assert_eq!("ndjson".parse::<Format>().unwrap(), Format::Jsonl);
        let err = "xml".parse::<Format>().unwrap_err().to_string();
        assert!(err.contains("xml") && err.contains("bibtex"), "{err}");
    }

    #[test]
    fn parquet_is_told_by_its_extension_or_its_magic_bytes() {
        let named = Path::new("papers.parquet");
        assert_eq!(detect_from(Some(named), b"anything"), Ok(Format::Parquet));
        assert_eq!(
            detect_from(Some(Path::new("table.bin")), b"PAR1\x15\x04"),
            Ok(Format::Parquet)
        );
        assert_eq!(detect_from(None, b"PAR1\x15\x04"), Ok(Format::Parquet));
    }

    #[test]
    fn sniffs_each_format_from_content() {
        assert_eq!(sniff("{\"title\": \"x\"}\n"), Ok(Format::Jsonl));
        assert_eq!(
            sniff("{\"id\": \"0704.0001\", \"submitter\": \"A\", \"title\": \"x\"}\n"),
            Ok(Format::Arxiv)
        );
        assert_eq!(
            sniff("% comment\n\n@Article{key,\n title={x}}\n"),
            Ok(Format::Bibtex)
        );
        assert_eq!(sniff("id,\"Title\",abstract\n1,x,y\n"), Ok(Format::Csv));
        assert_eq!(
            sniff("TY  - JOUR\r\nTI  - x\r\nER  - \r\n"),
            Ok(Format::Ris)
        );
        assert_eq!(sniff("PMID- 1\nTI  - x\n"), Ok(Format::Ris));
        assert_eq!(
            sniff("<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel>"),
            Ok(Format::Feed)
        );
        assert_eq!(
            sniff("<feed xmlns=\"http://www.w3.org/2005/Atom\">"),
            Ok(Format::Feed)
        );
        assert_eq!(sniff("id\ttitle\n1\tx\n"), Ok(Format::Csv));
        assert_eq!(
            sniff("new\n\nA title\n\nAn abstract.\n"),
            Ok(Format::Digest)
        );
        assert!(sniff("  \n").unwrap_err().contains("empty"));
        assert_eq!(sniff("[{\"title\": \"x\"}]"), Ok(Format::Jsonl));
        assert_eq!(
            sniff("[\n  {\n    \"id\": \"0704.0001\",\n    \"versions\": []\n  }\n]"),
            Ok(Format::Arxiv)
        );
        assert!(sniff("one line only").is_err());
    }

    #[test]
    fn a_txt_file_is_a_digest_page_unless_it_plainly_starts_another_format() {
        let txt = Some(Path::new("saved.txt"));
        let digest = "Daily papers\n\nA title\n\nIts abstract, with {braces} and @handles.\n";
        assert_eq!(detect_from(txt, digest.as_bytes()), Ok(Format::Digest));
        assert_eq!(detect_from(txt, b"{\"title\": \"x\"}\n"), Ok(Format::Jsonl));
        assert_eq!(
            detect_from(
                txt,
                b"{\"id\": \"0704.0001\", \"versions\": [], \"title\": \"x\"}\n"
            ),
            Ok(Format::Arxiv)
        );
        assert_eq!(
            detect_from(txt, b"% exported\n@article{k,\n title={x}}\n"),
            Ok(Format::Bibtex)
        );
        assert_eq!(
            detect_from(txt, b"\xef\xbb\xbfid;Title;Abstract\n1;x;y\n"),
            Ok(Format::Csv)
        );
        assert_eq!(
            detect_from(Some(Path::new("pubmed-set.txt")), b"\nPMID- 1\nTI  - x\n"),
            Ok(Format::Ris)
        );
        assert_eq!(
            detect_from(Some(Path::new("refs.nbib")), b"PMID- 1\n"),
            Ok(Format::Ris)
        );
        assert_eq!(
            detect_from(
                Some(Path::new("savedrecs.txt")),
                "\u{feff}FN Clarivate Analytics Web of Science\nVR 1.0\nPT J\n".as_bytes()
            ),
            Ok(Format::Ris)
        );
        assert_eq!(
            detect_from(None, b"sep=;\r\nID;Title;Abstract\r\n1;x;y\r\n"),
            Ok(Format::Csv)
        );
    }

    #[test]
    fn bibtex_entry_start_needs_name_and_brace() {
        assert!(is_bibtex_entry_start("@article{key,"));
        assert!(is_bibtex_entry_start("  @String (x = \"y\")"));
        assert!(!is_bibtex_entry_start("@ article{"));
        assert!(!is_bibtex_entry_start("mail me @home"));
        assert!(!is_bibtex_entry_start("@handle said"));
    }
}
