//! Answers to the library's questions: papers related to a given paper
//! (`similar`) and papers about a free text (`search`). This module resolves
//! what the user typed to a paper, picks exact or HNSW search, and turns
//! hits into result rows (with each paper's saved topic when it is
//! current); it prints nothing. With [`Rank::Hybrid`] the dense hits are
//! fused with BM25 hits over titles and abstracts (see [`crate::lexical`]):
//! `similar` searches the paper's title words, `search` the text's words.
//! Each paper is listed once: copies of it under other ids (from other
//! sources) are named in its row, not listed (see [`crate::same_paper`]).

use serde::Serialize;

use crate::corpus::Paper;
use crate::embed::Embedder;
use crate::index::{prefer_exact, search_view, ExactSearch, HnswIndex, NeighbourSearch};
use crate::lexical::{self, Rank, FUSION_DEPTH};
use crate::library_topics::{self, SavedTopics, TopicPath, TopicTag};
use crate::same_paper::{made_from_title, DistinctRows, NamesCopies, PaperKey, Shown};
use crate::store::{Library, TitleMatch, VectorView};
use crate::{Error, Result};

/// Most results one query may ask for.
pub const MAX_RESULTS: usize = 10_000;

/// How nearest neighbours are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMethod {
    /// Exact search below [`EXACT_SEARCH_CROSSOVER`](crate::index::EXACT_SEARCH_CROSSOVER)
    /// papers; above it the saved HNSW index when it is up to date and its
    /// tuned recall reaches [`AUTO_MIN_RECALL`](crate::index::AUTO_MIN_RECALL),
    /// else exact search (a stale, missing or unreadable index costs only
    /// speed).
    #[default]
    Auto,
    /// Compare the query with every stored vector.
    Exact,
    /// Use the saved HNSW index (an error when there is none).
    Hnsw,
}

/// One result row.
#[derive(Debug, Clone, Serialize)]
pub struct ResultRow {
    pub rank: usize,
    pub id: String,
    pub title: String,
    /// Cosine similarity to the query (for `recommend`, the profile
    /// score); higher is closer.
    pub score: f32,
    /// With `--rank hybrid`: the paper's rank by BM25 over titles and
    /// abstracts (absent when it did not match or was not among the best).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lexical_rank: Option<usize>,
    /// With `--rank hybrid`: the fused score the results are ordered by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fused: Option<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The paper's topic, when `relate topics` saved an assignment for the
    /// library as it is now (never a stale one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicTag>,
    /// Ids of other copies of this paper in the library (the same title
    /// and close vectors, from another source), which the results leave
    /// out (see [`crate::same_paper`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<String>,
}

impl NamesCopies for ResultRow {
    fn ids_mut(&mut self) -> (&mut String, &mut Vec<String>) {
        (&mut self.id, &mut self.copies)
    }
}

impl ResultRow {
    /// The row for `paper` at `rank`, with its score and (saved) topic.
    pub fn from_paper(rank: usize, paper: Paper, score: f32, topic: Option<TopicTag>) -> ResultRow {
        ResultRow {
            rank,
            id: paper.id,
            title: paper.title,
            score,
            lexical_rank: None,
            fused: None,
            authors: paper.authors,
            date: paper.date,
            url: paper.url,
            topic,
            copies: Vec::new(),
        }
    }
}

/// What the query was, as resolved.
#[derive(Debug, Clone, Serialize)]
pub struct QueryInfo {
    /// `similar` or `search`.
    pub kind: &'static str,
    /// The text the user typed.
    pub input: String,
    /// The paper the input resolved to (`similar` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// How the paper was found: `id`, `title`, or `closest title`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<&'static str>,
    /// `exact` or `hnsw`.
    pub method: &'static str,
    /// `dense` or `hybrid`.
    pub rank: &'static str,
    pub k: usize,
}

/// A query and its results, best first.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub query: QueryInfo,
    pub results: Vec<ResultRow>,
}

/// The stored vectors with the search structure chosen for them, and the
/// saved topic assignment when it belongs to those vectors.
pub struct Searcher {
    view: VectorView,
    hnsw: Option<HnswIndex>,
    topics: Option<SavedTopics>,
    /// Whether an exact search keeps the vector file's pages resident
    /// (a server answering many queries) rather than handing them back
    /// block by block (a one-shot command; see [`search_view`]).
    keep_pages: bool,
}

impl Searcher {
    /// Prepares search over `library`'s current vectors.
    pub fn open(library: &Library, method: SearchMethod) -> Result<Searcher> {
        let view = library.vectors()?;
        let hnsw = match method {
            SearchMethod::Exact => None,
            SearchMethod::Hnsw => Some(crate::library_index::load(library)?),
            SearchMethod::Auto if prefer_exact(view.len()) => None,
            // An index that is stale, missing, damaged or of another
            // version only costs speed here: search exactly instead.
            // So does one whose graph its tuning found too poor to use
            // (see `crate::index::AUTO_MIN_RECALL`).
            SearchMethod::Auto => match crate::library_index::load(library) {
                Ok(index) => Some(index).filter(HnswIndex::worth_using),
                Err(Error::IndexStale { .. } | Error::IndexFile { .. }) => None,
                Err(e) => return Err(e),
            },
        };
        // Topics saved for another generation than these vectors are never
        // shown.
        let topics =
            library_topics::load_any(library).filter(|t| t.generation == view.generation());
        Ok(Searcher {
            view,
            hnsw,
            topics,
            keep_pages: false,
        })
    }

    /// The library generation the vectors (and index) belong to.
    pub fn generation(&self) -> u64 {
        self.view.generation()
    }

    /// The saved topic assignment of these vectors, if there is one.
    pub fn topics(&self) -> Option<&SavedTopics> {
        self.topics.as_ref()
    }

    /// Keeps the vector file's pages resident between exact searches, for
    /// a process that answers many queries (a one-shot command hands them
    /// back block by block, so that it never holds the whole file).
    pub fn keep_pages_resident(&mut self) {
        self.keep_pages = true;
    }

    /// Walks the HNSW graph, when there is one, with int8 copies of the
    /// vectors (see [`crate::index::HnswIndex::quantize_traversal`]): for a
    /// process that answers many queries.
    pub fn quantize_traversal(&mut self) {
        if let Some(index) = &mut self.hnsw {
            index.quantize_traversal();
        }
    }

    /// Whether the index searched with (if any) reaches the tuned recall
    /// a query that may choose asks of it (see
    /// [`AUTO_MIN_RECALL`](crate::index::AUTO_MIN_RECALL)).
    pub fn index_worth_using(&self) -> bool {
        self.hnsw.as_ref().is_none_or(HnswIndex::worth_using)
    }

    /// `exact` or `hnsw`.
    pub fn method_name(&self) -> &'static str {
        if self.hnsw.is_some() {
            "hnsw"
        } else {
            "exact"
        }
    }

    /// Number of searchable papers.
    pub fn len(&self) -> usize {
        self.view.len()
    }

    /// True when the library is empty.
    pub fn is_empty(&self) -> bool {
        self.view.is_empty()
    }

    /// The stored vectors searched.
    pub fn vectors(&self) -> &VectorView {
        &self.view
    }

    /// The stored vector of `slot`.
    pub fn vector(&self, slot: u32) -> Option<&[f32]> {
        self.view.vector(slot)
    }

    /// The `k` nearest slots to `query`, best first, leaving out `exclude`.
    pub fn nearest(
        &self,
        query: &[f32],
        k: usize,
        exclude: Option<u32>,
    ) -> Result<Vec<(u32, f32)>> {
        self.nearest_where(query, k, exclude, &|_| true)
    }

    /// [`nearest`](Self::nearest) among the slots for which `keep` holds.
    pub fn nearest_where(
        &self,
        query: &[f32],
        k: usize,
        exclude: Option<u32>,
        keep: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<(u32, f32)>> {
        let skip = |slot: u32| Some(slot) == exclude || !keep(slot);
        let hits = match &self.hnsw {
            Some(index) => index.search(query, k, &skip)?,
            None if self.keep_pages => {
                ExactSearch::new(self.view.as_slice(), self.view.dim())?.search(query, k, &skip)?
            }
            None => search_view(&self.view, query, k, &skip)?,
        };
        Ok(hits.into_iter().map(|h| (h.slot, h.score)).collect())
    }
}

/// A paper found from what the user typed.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub slot: u32,
    pub paper: Paper,
    pub matched_by: &'static str,
}

/// Resolves a paper id (as stored, else in another spelling: see
/// [`crate::corpus::id_spellings`]), or else a title (exact,
/// case-insensitive; else the closest unique match). An ambiguous title lists the candidates.
pub fn resolve_paper(library: &Library, input: &str) -> Result<Resolved> {
    let input = input.trim();
    if input.is_empty() {
        return Err(Error::InvalidArgument {
            name: "query".into(),
            problem: "is empty; give a paper id or title".into(),
        });
    }
    if let Some((slot, paper)) = find_by_id(library, input)? {
        return Ok(Resolved {
            slot,
            paper,
            matched_by: "id",
        });
    }
    match library.find_by_title(input)? {
        TitleMatch::Exact(paper) => found(library, paper, "title"),
        TitleMatch::Closest(paper) => found(library, paper, "closest title"),
        TitleMatch::Ambiguous(candidates) => match one_paper(library, &candidates)? {
            Some(i) => found(library, candidates[i].clone(), "title"),
            None => Err(Error::AmbiguousPaper {
                query: input.to_string(),
                candidates: candidates.into_iter().map(|p| (p.id, p.title)).collect(),
            }),
        },
        TitleMatch::NotFound => Err(Error::PaperNotFound {
            query: input.to_string(),
        }),
    }
}

/// Most stored ids read when looking for another spelling of an arXiv id
/// or DOI.
const SPELLINGS_READ: usize = 50;

/// The paper with the id `input` and its slot: the id as stored, else in
/// another spelling (see [`crate::corpus::id_spellings`]), else, for an
/// arXiv id or a DOI, a stored id that names it in another form (an
/// address, a prefix, a version: `arXiv:2301.00001v2` for `2301.00001`).
/// Ids are stored as their sources give them, so the last step reads every
/// id, and only when the faster ones found nothing.
pub fn find_by_id(library: &Library, input: &str) -> Result<Option<(u32, Paper)>> {
    let input = input.trim();
    if let Some(found) = library.slot_and_paper(input)? {
        return Ok(Some(found));
    }
    for spelling in crate::corpus::id_spellings(input) {
        if let Some(found) = library.slot_and_paper(&spelling)? {
            return Ok(Some(found));
        }
    }
    let Some(wanted) = crate::corpus::source_id(input) else {
        return Ok(None);
    };
    Ok(library
        .papers_with_id_containing(&wanted, SPELLINGS_READ)?
        .into_iter()
        .find(|(_, paper)| crate::corpus::canonical_id(&paper.id) == wanted))
}

/// When every candidate is a copy of one paper (see [`crate::same_paper`]),
/// the one to answer for: the first whose id its source gave (an arXiv id,
/// a DOI) rather than one made from its title.
fn one_paper(library: &Library, candidates: &[Paper]) -> Result<Option<usize>> {
    let Some(first) = candidates.first() else {
        return Ok(None);
    };
    let view = library.vectors()?;
    let mut vectors = Vec::with_capacity(candidates.len());
    for paper in candidates {
        match library
            .slot_of(&paper.id)?
            .and_then(|slot| view.vector(slot))
        {
            Some(v) => vectors.push(v),
            None => return Ok(None),
        }
    }
    let key = PaperKey::of(first);
    let all_copies = candidates
        .iter()
        .zip(&vectors)
        .skip(1)
        .all(|(paper, v)| key.same_paper(vectors[0], &PaperKey::of(paper), v));
    if !all_copies {
        return Ok(None);
    }
    Ok(Some(
        candidates
            .iter()
            .position(|p| !made_from_title(&p.id))
            .unwrap_or(0),
    ))
}

fn found(library: &Library, paper: Paper, matched_by: &'static str) -> Result<Resolved> {
    let slot = library
        .slot_of(&paper.id)?
        .ok_or_else(|| Error::PaperNotFound {
            query: paper.id.clone(),
        })?;
    Ok(Resolved {
        slot,
        paper,
        matched_by,
    })
}

/// The saved topics that `--topic path` filters by: they must exist, be
/// current and hold `path`.
pub fn topic_filter(library: &Library, path: TopicPath) -> Result<SavedTopics> {
    let bad = |problem: String| Error::InvalidArgument {
        name: format!("--topic {path}"),
        problem,
    };
    let Some(saved) = library_topics::load_any(library) else {
        return Err(bad(
            "the library has no saved topics: run `relate topics` first".into(),
        ));
    };
    if saved.generation != library.generation()? {
        return Err(bad(
            "the saved topics are older than the library (papers were added or changed since): \
             run `relate topics` again"
                .into(),
        ));
    }
    saved.check(path)?;
    Ok(saved)
}

/// Papers related to the paper named by `input`, the paper itself excluded.
pub fn similar(library: &Library, searcher: &Searcher, input: &str, k: usize) -> Result<Answer> {
    similar_in(library, searcher, input, k, None, Rank::Dense)
}

/// [`similar`] restricted to the members of a saved topic or subtopic.
pub fn similar_in(
    library: &Library,
    searcher: &Searcher,
    input: &str,
    k: usize,
    topic: Option<TopicPath>,
    rank: Rank,
) -> Result<Answer> {
    let filter = topic.map(|t| topic_filter(library, t)).transpose()?;
    let resolved = resolve_paper(library, input)?;
    library.check_vector_rows(searcher.vectors(), &[resolved.slot])?;
    let vector = searcher
        .vector(resolved.slot)
        .ok_or_else(|| Error::PaperNotFound {
            query: resolved.paper.id.clone(),
        })?;
    let keep = |slot: u32| match (&filter, topic) {
        (Some(saved), Some(path)) => saved.contains(path, slot),
        _ => true,
    };
    // Copies of the paper asked about (under other ids) are not related
    // papers: they are left out like the paper itself.
    let mut asked = Shown::new();
    asked.add(PaperKey::of(&resolved.paper), vector);
    let results = distinct_rows(
        library,
        searcher,
        Wanted {
            vector,
            text: &resolved.paper.title,
            k,
            exclude: Some(resolved.slot),
            keep: &keep,
            rank,
            lexical_weight: lexical::PAPER_QUERY_WEIGHT,
        },
        asked,
    )?;
    Ok(Answer {
        query: QueryInfo {
            kind: "similar",
            input: input.to_string(),
            id: Some(resolved.paper.id),
            title: Some(resolved.paper.title),
            matched_by: Some(resolved.matched_by),
            method: searcher.method_name(),
            rank: rank.name(),
            k,
        },
        results,
    })
}

/// Papers about a free text.
pub fn search(
    library: &Library,
    searcher: &Searcher,
    embedder: &Embedder,
    text: &str,
    k: usize,
) -> Result<Answer> {
    search_in(library, searcher, embedder, text, k, None, Rank::Dense)
}

/// [`search`] restricted to the members of a saved topic or subtopic.
pub fn search_in(
    library: &Library,
    searcher: &Searcher,
    embedder: &Embedder,
    text: &str,
    k: usize,
    topic: Option<TopicPath>,
    rank: Rank,
) -> Result<Answer> {
    check_search_text(text)?;
    let vector = embedder.embed_one(text)?;
    search_vector_in(library, searcher, text, &vector, k, topic, rank)
}

/// Refuses an empty search text.
pub fn check_search_text(text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::InvalidArgument {
            name: "query".into(),
            problem: "is empty; describe what the papers should be about".into(),
        });
    }
    Ok(())
}

/// Papers about a free text whose vector (from the library's model) is
/// `vector`: [`search`] once the text is embedded.
pub fn search_vector(
    library: &Library,
    searcher: &Searcher,
    text: &str,
    vector: &[f32],
    k: usize,
) -> Result<Answer> {
    search_vector_in(library, searcher, text, vector, k, None, Rank::Dense)
}

/// [`search_vector`] restricted to the members of a saved topic or subtopic.
pub fn search_vector_in(
    library: &Library,
    searcher: &Searcher,
    text: &str,
    vector: &[f32],
    k: usize,
    topic: Option<TopicPath>,
    rank: Rank,
) -> Result<Answer> {
    let filter = topic.map(|t| topic_filter(library, t)).transpose()?;
    let keep = |slot: u32| match (&filter, topic) {
        (Some(saved), Some(path)) => saved.contains(path, slot),
        _ => true,
    };
    let wanted = Wanted {
        vector,
        text,
        k,
        exclude: None,
        keep: &keep,
        rank,
        lexical_weight: lexical::TEXT_QUERY_WEIGHT,
    };
    let results = distinct_rows(library, searcher, wanted, Shown::new())?;
    Ok(Answer {
        query: QueryInfo {
            kind: "search",
            input: text.to_string(),
            id: None,
            title: None,
            matched_by: None,
            method: searcher.method_name(),
            rank: rank.name(),
            k,
        },
        results,
    })
}

/// A hit: slot, dense cosine, and with hybrid ranking its BM25 rank and
/// fused score.
struct Hit {
    slot: u32,
    score: f32,
    lexical_rank: Option<usize>,
    fused: Option<f32>,
}

/// The best `k` slots for what `wanted` asks (its own `k` aside: see
/// [`distinct_rows`]).
fn ranked_hits(
    library: &Library,
    searcher: &Searcher,
    wanted: &Wanted,
    k: usize,
) -> Result<Vec<Hit>> {
    let Wanted {
        vector,
        text,
        exclude,
        keep,
        rank,
        lexical_weight,
        ..
    } = *wanted;
    let plain = |(slot, score): (u32, f32)| Hit {
        slot,
        score,
        lexical_rank: None,
        fused: None,
    };
    if rank == Rank::Dense {
        let hits = searcher.nearest_where(vector, k, exclude, keep)?;
        return Ok(hits.into_iter().map(plain).collect());
    }
    let depth = FUSION_DEPTH.max(k);
    let dense = searcher.nearest_where(vector, depth, exclude, keep)?;
    let lexical: Vec<u32> = match lexical::fts_query(&lexical::terms(text)) {
        // Read past the papers the filters drop.
        Some(q) => library
            .text_search(&q, depth * 2 + 1)?
            .into_iter()
            .map(|(slot, _)| slot)
            .filter(|&slot| Some(slot) != exclude && keep(slot) && searcher.vector(slot).is_some())
            .take(depth)
            .collect(),
        // Still check that the index exists, so that the mode never
        // depends on the words typed.
        None => {
            library.require_text_index()?;
            Vec::new()
        }
    };
    let cosine: std::collections::HashMap<u32, f32> = dense.iter().copied().collect();
    let dense_slots: Vec<u32> = dense.iter().map(|h| h.0).collect();
    Ok(lexical::fuse(&dense_slots, &lexical, lexical_weight)
        .into_iter()
        .take(k)
        .map(|f| Hit {
            slot: f.slot,
            score: cosine.get(&f.slot).copied().unwrap_or_else(|| {
                searcher
                    .vector(f.slot)
                    .map_or(f32::NAN, |v| crate::simd::dot(v, vector))
            }),
            lexical_rank: f.lexical_rank,
            fused: Some(f.score),
        })
        .collect())
}

/// What a query asks the index for: the best `k` slots for `vector` (and,
/// with hybrid ranking, for the words of `text`, whose BM25 ranking counts
/// `lexical_weight` in the fusion), leaving out `exclude` and slots `keep`
/// refuses.
#[derive(Clone, Copy)]
struct Wanted<'a> {
    vector: &'a [f32],
    text: &'a str,
    k: usize,
    exclude: Option<u32>,
    keep: &'a dyn Fn(u32) -> bool,
    rank: Rank,
    lexical_weight: f32,
}

/// Hits asked for beyond `k`, so that leaving out copies of a paper
/// rarely needs a second search.
const COPIES_MARGIN: usize = 8;

/// The rows of the best `wanted.k` papers, each paper once: a hit that is a
/// copy of a row above it (see [`crate::same_paper`]) is named in that
/// row's `copies`, and one that is a copy of a paper in `asked` (the paper
/// a query is about) is left out. Searches deeper while copies leave fewer
/// than `k` rows and more papers are left.
fn distinct_rows(
    library: &Library,
    searcher: &Searcher,
    wanted: Wanted,
    asked: Shown,
) -> Result<Vec<ResultRow>> {
    let k = wanted.k;
    let mut depth = k.saturating_add(COPIES_MARGIN);
    loop {
        let hits = ranked_hits(library, searcher, &wanted, depth)?;
        let slots: Vec<u32> = hits.iter().map(|h| h.slot).collect();
        library.check_vector_rows(searcher.vectors(), &slots)?;
        let papers = library.papers_by_slots(&slots)?;
        let topics = searcher.topics();
        let mut rows = DistinctRows::new(asked.clone(), k);
        for (mut paper, hit) in papers.into_iter().zip(&hits) {
            let key = PaperKey::of(&paper);
            let vector = searcher.vector(hit.slot).unwrap_or(&[]);
            let id = std::mem::take(&mut paper.id);
            rows.offer(key, vector, id, |id, rank| ResultRow {
                lexical_rank: hit.lexical_rank,
                fused: hit.fused,
                ..ResultRow::from_paper(
                    rank,
                    Paper { id, ..paper },
                    hit.score,
                    topics.and_then(|t| t.tag(hit.slot)),
                )
            });
        }
        if rows.is_full() || hits.len() < depth || depth >= searcher.len() {
            return Ok(rows.into_rows());
        }
        depth = depth.saturating_mul(2);
    }
}
