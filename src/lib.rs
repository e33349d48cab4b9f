//! `relate` recommends research papers by meaning.
//!
//! A sentence-embedding model ([`embed`]) turns each paper's title and abstract
//! into a unit vector; the library of papers and vectors lives on disk; an
//! index answers nearest-neighbour queries. Each module owns one step of that
//! flow and hands plain Rust values to the next.

pub mod atomic_file;
pub mod corpus;
pub mod embed;
pub mod error;
pub mod export;
pub mod index;
pub mod ingest;
pub mod lexical;
pub mod library_check;
pub mod library_index;
pub mod library_info;
pub mod library_repair;
pub mod library_topics;
pub mod markup;
pub mod paper_filter;
pub mod query;
pub mod recommend;
pub mod same_paper;
pub mod serve;
pub mod simd;
pub mod store;
pub mod topics;
pub mod vector_rows;
pub mod wording;

pub use error::{Error, Result};
