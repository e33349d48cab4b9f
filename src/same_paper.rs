//! Copies of one paper under different ids. A library fed from several
//! sources holds the same paper more than once: a digest page gives it an id
//! made from its title, the arXiv snapshot its arXiv id, a BibTeX export its
//! DOI. Answers show such copies once: a result that is a copy of a paper
//! already listed, or of the paper asked about (a liked one), is left out,
//! and its id is listed with the copy that is shown.
//!
//! Two records are copies when their titles are the same letters and digits
//! (case, spacing and punctuation aside) and either both have abstracts and
//! their vectors are close ([`COPY_COSINE`]: a revised abstract stays close,
//! another paper that happens to share a title does not), or one has no
//! abstract and the title is long enough to name one paper
//! ([`SPECIFIC_TITLE_WORDS`]): a title alone embeds far from title and
//! abstract, so vectors cannot decide that case.

use std::collections::HashMap;

use crate::corpus::{Paper, TITLE_ID_PREFIX};

/// Least cosine between two records with the same title and both abstracts
/// for them to count as one paper.
pub const COPY_COSINE: f32 = 0.95;

/// Least words in a title for a record without abstract to count as the
/// same paper as another with that title.
pub const SPECIFIC_TITLE_WORDS: usize = 4;

/// What decides whether two records are one paper, besides their vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperKey {
    /// The title's letters and digits, lowercased, words joined by a space.
    title: String,
    words: usize,
    has_abstract: bool,
}

impl PaperKey {
    /// The key of a stored or read paper.
    pub fn of(paper: &Paper) -> PaperKey {
        PaperKey::new(&paper.title, &paper.abstract_text)
    }

    /// The key of a record with this title and abstract.
    pub fn new(title: &str, abstract_text: &str) -> PaperKey {
        let words: Vec<String> = title
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        PaperKey {
            words: words.len(),
            title: words.join(" "),
            has_abstract: !abstract_text.trim().is_empty(),
        }
    }

    /// The key of a record whose abstract is not at hand: it counts as
    /// having one, so that only close vectors make it a copy.
    pub fn from_title(title: &str) -> PaperKey {
        PaperKey::new(title, "(abstract not read)")
    }

    /// Whether a record with this key and vector `a` is the same paper as
    /// one with key `other` and vector `b` (both unit length).
    pub fn same_paper(&self, a: &[f32], other: &PaperKey, b: &[f32]) -> bool {
        if self.title.is_empty() || self.title != other.title {
            return false;
        }
        if self.has_abstract && other.has_abstract {
            a.len() == b.len() && crate::simd::dot(a, b) >= COPY_COSINE
        } else {
            self.words >= SPECIFIC_TITLE_WORDS
        }
    }
}

/// Papers an ingest added that are copies of papers stored before them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopiesAdded {
    /// How many of the added papers are copies.
    pub count: usize,
    /// The first few, as (the added paper's id, the stored paper's id).
    pub examples: Vec<(String, String)>,
}

/// The papers from `first_slot` on (those an ingest added) that are copies
/// of papers stored before them, under other ids: the same title, case and
/// spacing aside, compared with the earliest paper of that title by
/// [`PaperKey::same_paper`]. `examples` of them are named.
pub fn copies_added(
    library: &crate::store::Library,
    first_slot: u32,
    examples: usize,
) -> crate::Result<CopiesAdded> {
    let pairs = library.earlier_same_titles(first_slot)?;
    if pairs.is_empty() {
        return Ok(CopiesAdded::default());
    }
    let vectors = library.vectors()?;
    let mut found = CopiesAdded::default();
    for chunk in pairs.chunks(1024) {
        let slots: Vec<u32> = chunk.iter().flat_map(|&(a, b)| [a, b]).collect();
        let papers = library.papers_by_slots(&slots)?;
        for (pair, both) in chunk.iter().zip(papers.chunks(2)) {
            let (Some(a), Some(b)) = (vectors.vector(pair.0), vectors.vector(pair.1)) else {
                continue;
            };
            let [added, stored] = both else { continue };
            if PaperKey::of(added).same_paper(a, &PaperKey::of(stored), b) {
                found.count += 1;
                if found.examples.len() < examples {
                    found.examples.push((added.id.clone(), stored.id.clone()));
                }
            }
        }
    }
    Ok(found)
}

/// Whether `id` was made from a paper's title (see
/// [`crate::corpus::title_id`]) rather than given by its source.
pub fn made_from_title(id: &str) -> bool {
    id.starts_with(TITLE_ID_PREFIX)
}

/// Of two ids of one paper, the one to show first and the other: the id
/// its source gave it (an arXiv id, a DOI, a key) before one made from its
/// title, else `shown` as it is.
pub fn preferred_id(shown: String, copy: String) -> (String, String) {
    if made_from_title(&shown) && !made_from_title(&copy) {
        (copy, shown)
    } else {
        (shown, copy)
    }
}

/// The papers an answer has already shown (or was asked about), to leave
/// out later copies of them; looked up by title, so that a long answer
/// stays linear.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    len: usize,
    /// Each recorded paper's index, key and vector, by title.
    by_title: HashMap<String, Vec<(usize, PaperKey, Vec<f32>)>>,
}

impl Shown {
    pub fn new() -> Shown {
        Shown::default()
    }

    /// How many papers are recorded.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records a paper; returns its index, which [`Shown::copy_of`] reports.
    pub fn add(&mut self, key: PaperKey, vector: &[f32]) -> usize {
        let index = self.len;
        self.len += 1;
        self.by_title
            .entry(key.title.clone())
            .or_default()
            .push((index, key, vector.to_vec()));
        index
    }

    /// The first recorded paper that the record `key` with `vector` is a
    /// copy of.
    pub fn copy_of(&self, key: &PaperKey, vector: &[f32]) -> Option<usize> {
        self.by_title
            .get(&key.title)?
            .iter()
            .find(|(_, k, v)| k.same_paper(v, key, vector))
            .map(|(index, _, _)| *index)
    }
}

/// A row of an answer, which names the copies of its paper left out.
pub trait NamesCopies {
    /// The row's paper id and the ids of its copies.
    fn ids_mut(&mut self) -> (&mut String, &mut Vec<String>);
}

/// An answer's rows, each paper once, in the order offered: a paper that
/// copies one asked about is left out, one that copies a row is named in
/// that row's copies, and the rest become rows until `k` are listed.
#[derive(Debug)]
pub struct DistinctRows<T> {
    rows: Vec<T>,
    /// The papers asked about, then the rows' papers.
    shown: Shown,
    asked: usize,
    k: usize,
}

impl<T: NamesCopies> DistinctRows<T> {
    /// No rows yet; `asked` holds the papers the answer is about.
    pub fn new(asked: Shown, k: usize) -> DistinctRows<T> {
        DistinctRows {
            rows: Vec::with_capacity(k.min(1024)),
            asked: asked.len(),
            shown: asked,
            k,
        }
    }

    /// Whether `k` rows are listed.
    pub fn is_full(&self) -> bool {
        self.rows.len() >= self.k
    }

    /// Offers the paper with `key`, `vector` and `id`. When it is none of
    /// the papers above and there is room, `row(id, rank)` makes its row
    /// (rank from 1). A copy of a row shows, of the two ids, the one its
    /// source gave first (see [`preferred_id`]).
    pub fn offer(
        &mut self,
        key: PaperKey,
        vector: &[f32],
        id: String,
        row: impl FnOnce(String, usize) -> T,
    ) {
        match self.shown.copy_of(&key, vector) {
            Some(i) if i < self.asked => {}
            Some(i) => {
                let (shown_id, copies) = self.rows[i - self.asked].ids_mut();
                let (shown, copy) = preferred_id(std::mem::take(shown_id), id);
                *shown_id = shown;
                copies.push(copy);
            }
            None if self.is_full() => {}
            None => {
                self.shown.add(key, vector);
                let rank = self.rows.len() + 1;
                self.rows.push(row(id, rank));
            }
        }
    }

    /// The rows listed, best first.
    pub fn into_rows(self) -> Vec<T> {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn same_title_and_close_vectors_are_one_paper() {
        let a = PaperKey::new("Attention Is All You Need", "We propose the Transformer.");
        let b = PaperKey::new("attention is all you need!", "We propose a new network.");
        let v = unit(&[1.0, 0.0, 0.1]);
        let close = unit(&[1.0, 0.1, 0.1]);
        let far = unit(&[0.2, 1.0, 0.0]);
        assert!(a.same_paper(&v, &b, &close));
        assert!(
            !a.same_paper(&v, &b, &far),
            "a shared title with another abstract"
        );
        let related = unit(&[1.0, 0.4, 0.1]);
        assert!(crate::simd::dot(&v, &related) > 0.9);
        assert!(
            !a.same_paper(&v, &b, &related),
            "an abstract on the same subject is not a copy"
        );
        let other = PaperKey::new(
            "Attention Is Not All You Need",
            "We propose the Transformer.",
        );
        assert!(!a.same_paper(&v, &other, &v), "another title");
    }

    #[test]
    fn a_record_without_abstract_needs_a_specific_title() {
        let v = unit(&[1.0, 0.0]);
        let far = unit(&[0.0, 1.0]);
        let full = PaperKey::new("Graph Attention Networks at Scale", "Abstract.");
        let bare = PaperKey::new("Graph attention networks at scale", "");
        assert!(full.same_paper(&v, &bare, &far));
        let short = PaperKey::new("Introduction", "An abstract.");
        let short_bare = PaperKey::new("Introduction", " ");
        assert!(!short.same_paper(&v, &short_bare, &v));
        let untitled = PaperKey::new("--", "");
        assert!(!untitled.same_paper(&v, &untitled, &v));
    }

    #[test]
    fn an_id_from_the_source_is_shown_before_one_made_from_the_title() {
        let title = "title:0123456789abcdef".to_string();
        let arxiv = "2301.00001".to_string();
        assert_eq!(
            preferred_id(title.clone(), arxiv.clone()),
            (arxiv.clone(), title.clone())
        );
        assert_eq!(
            preferred_id(arxiv.clone(), title.clone()),
            (arxiv.clone(), title.clone())
        );
        let doi = "10.1/x".to_string();
        assert_eq!(preferred_id(arxiv.clone(), doi.clone()), (arxiv, doi));
    }

    #[derive(Debug, PartialEq)]
    struct Row {
        id: String,
        rank: usize,
        copies: Vec<String>,
    }

    impl NamesCopies for Row {
        fn ids_mut(&mut self) -> (&mut String, &mut Vec<String>) {
            (&mut self.id, &mut self.copies)
        }
    }

    #[test]
    fn distinct_rows_list_each_paper_once_and_leave_out_those_asked_about() {
        let v = unit(&[1.0, 0.0]);
        let w = unit(&[0.0, 1.0]);
        let mut asked = Shown::new();
        asked.add(PaperKey::new("The paper asked about here", "a"), &v);
        let mut rows = DistinctRows::new(asked, 2);
        let mut offer = |title: &str, vector: &[f32], id: &str| {
            let key = PaperKey::new(title, "abstract");
            rows.offer(key, vector, id.to_string(), |id, rank| Row {
                id,
                rank,
                copies: Vec::new(),
            });
        };
        offer("The paper asked about here", &v, "2301.00009");
        offer("A first result", &w, "title:00000000000000aa");
        offer("A first result", &w, "2301.00001");
        offer("A first result", &w, "10.1/first");
        offer("A second result", &v, "b");
        offer("A third result", &v, "c");
        let rows = rows.into_rows();
        assert_eq!(
            rows,
            [
                Row {
                    id: "2301.00001".into(),
                    rank: 1,
                    copies: vec!["title:00000000000000aa".into(), "10.1/first".into()],
                },
                Row {
                    id: "b".into(),
                    rank: 2,
                    copies: Vec::new(),
                },
            ]
        );
    }

    #[test]
    fn shown_reports_the_first_paper_copied() {
        let mut shown = Shown::new();
        let v = unit(&[1.0, 0.0]);
        shown.add(PaperKey::new("One paper about graphs", "x"), &v);
        shown.add(PaperKey::new("Another paper about sets", "y"), &v);
        assert_eq!(
            shown.copy_of(&PaperKey::new("Another Paper About Sets.", "z"), &v),
            Some(1)
        );
        assert_eq!(shown.copy_of(&PaperKey::new("A third", "z"), &v), None);
    }
}
