//! Paper records and the readers that turn paper sources (digest pages,
//! JSONL, CSV, arXiv metadata, BibTeX) into them.

mod paper;

pub use paper::{compose_text, Paper};
