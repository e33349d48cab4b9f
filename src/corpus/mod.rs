//! Paper records and the readers that turn paper sources (digest pages,
//! JSONL, CSV, arXiv metadata, BibTeX, RIS and MEDLINE, RSS and Atom feeds,
//! EndNote XML, Parquet) into them.
//!
//! [`read_papers`] opens a source (a file, standard input or a pipe,
//! possibly compressed; see [`open_input`]) and returns a [`PaperReader`], an iterator
//! of [`ReadEvent`]s: papers, warnings about accepted papers, and rejected
//! records, each with its file and line. Every reader normalises whitespace
//! (see [`normalize_text`]) and gives each paper a stable id: the source's
//! own (arXiv id; DOI, else citation key, for BibTeX; DOI, else the
//! record's own id, for RIS and MEDLINE; the `id` field, else the `doi`
//! field, for JSON lines and CSV), else one derived from the title
//! by [`title_id`], the same for the same title whatever its spacing, case
//! or punctuation.

mod arxiv;
mod bibtex;
mod csv_table;
mod digest;
mod digest_detail;
mod encoding;
mod endnote;
mod event;
mod feed;
mod folder;
mod format;
mod input;
mod json_document;
mod json_object;
mod jsonl;
mod latex;
mod lines;
mod normalize;
mod paper;
mod paper_id;
mod parquet_table;
mod reader;
mod record;
mod ris;
mod xml_records;

pub use digest::{ABSTRACT_MIN_CHARS, SHORT_ABSTRACT_MIN_WORDS};
pub use event::{Problem, ReadEvent};
pub use folder::{is_paper_file_name, paper_files_in, FolderFiles, PAPER_EXTENSIONS};
pub use format::{detect_format, Format};
pub use input::{
    is_stdin, open_input, Compression, Input, ReadPosition, ReplayableInput, STDIN_NAME,
};
pub use latex::latex_to_text;
pub use lines::{read_line_limited, LineRead, MAX_LINE_BYTES};
pub(crate) use normalize::month_number;
pub use normalize::normalize_text;
pub use paper::{compose_text, Paper};
pub use paper_id::{
    canonical_id, id_spellings, normalize_doi, source_id, title_id, TITLE_ID_PREFIX,
};
pub use reader::{read_input, read_papers, PaperReader};
pub use record::{split_authors, split_categories};
