//! `relate similar` and `relate search`: the nearest papers to a stored
//! paper or to a free text, as a table or as JSON.

use std::io::Write;

use anyhow::Context;
use clap::Args;
use relate::embed::Embedder;
use relate::lexical::Rank;
use relate::library_topics::TopicPath;
use relate::query::{self, Answer, SearchMethod, Searcher, MAX_RESULTS};
use relate::store::Library;

use super::model_args::ModelArgs;
use super::store_args::StoreArgs;
use super::table;
use super::Outcome;

#[derive(Debug, Clone, Args)]
pub struct SearchFlags {
    /// Number of results, 1 to 10,000
    #[arg(short, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=MAX_RESULTS as i64))]
    pub k: u32,

    /// Print {"query": {...}, "results": [...]} as JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Compare with every stored vector, even where the saved HNSW index
    /// would be used
    #[arg(long, conflicts_with = "hnsw")]
    pub exact: bool,

    /// Use the saved HNSW index (build it with `relate index`), even for a
    /// small library; an error when it is missing or older than the library
    #[arg(long)]
    pub hnsw: bool,

    /// Only papers of saved topic ID, or subtopic ID such as 3.1 (as `relate topics`
    /// numbers them; the topics must be current)
    #[arg(long, value_name = "ID")]
    pub topic: Option<TopicPath>,

    /// How results are ranked: hybrid (fused with BM25 over titles and
    /// abstracts, which finds exact terms; the default when the library has its
    /// full-text index) or dense (embeddings only)
    #[arg(long, value_name = "RANK")]
    pub rank: Option<Rank>,

    #[command(flatten)]
    pub store: StoreArgs,
}

impl SearchFlags {
    fn method(&self) -> SearchMethod {
        if self.hnsw {
            SearchMethod::Hnsw
        } else if self.exact {
            SearchMethod::Exact
        } else {
            SearchMethod::Auto
        }
    }

    fn open(&self) -> anyhow::Result<(Library, Searcher)> {
        let dir = self.store.dir()?;
        let library = Library::open(&dir)?;
        let searcher = Searcher::open(&library, self.method())
            .with_context(|| format!("cannot search the library at {}", dir.display()))?;
        Ok((library, searcher))
    }
}

#[derive(Debug, Args)]
#[command(
    after_help = "QUERY is a paper id, or a title: an exact (case-insensitive) title, \
else the closest unique match; an ambiguous title lists the candidates. The paper itself is \
left out of the results. Scores are cosine similarities (higher is closer). A library of \
20,000 papers or more is searched with its HNSW index when `relate index` has built one for its \
current contents and tuned it to recall@10 0.90 or more; otherwise every stored vector is compared (--exact and --hnsw force either).\n\n\
Exit status: 0 on success, 1 on error (no library, no such paper, no current index with --hnsw), \
2 on bad usage."
)]
pub struct SimilarArgs {
    /// Paper id or title
    #[arg(value_name = "QUERY", value_parser = not_blank)]
    pub query: String,

    #[command(flatten)]
    pub flags: SearchFlags,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Embeds the text with the library's model and lists the closest papers. \
Scores are cosine similarities (higher is closer). A library of 20,000 papers or more is \
searched with its HNSW index when `relate index` has built one for its current contents and \
tuned it to recall@10 0.90 or more; otherwise every stored vector is compared (--exact and --hnsw force either).\n\n\
Exit status: 0 on success, 1 on error (no library, no model, no current index with --hnsw), \
2 on bad usage."
)]
pub struct SearchArgs {
    /// What the papers should be about
    #[arg(value_name = "TEXT", value_parser = not_blank)]
    pub text: String,

    #[command(flatten)]
    pub flags: SearchFlags,

    #[command(flatten)]
    pub model: ModelArgs,
}

/// Refuses an empty or blank query as bad usage (exit status 2).
fn not_blank(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        Err("is empty; give a paper id or title, or the text to search for".to_string())
    } else {
        Ok(text.to_string())
    }
}

pub fn run_similar(args: SimilarArgs) -> anyhow::Result<Outcome> {
    let (library, searcher) = args.flags.open()?;
    let rank = relate::lexical::choose(args.flags.rank, &library)?;
    let answer = query::similar_in(
        &library,
        &searcher,
        &args.query,
        args.flags.k as usize,
        args.flags.topic,
        rank,
    )?;
    print(&answer, args.flags.json)
}

pub fn run_search(args: SearchArgs) -> anyhow::Result<Outcome> {
    let (library, searcher) = args.flags.open()?;
    let embedder = Embedder::load(args.model.options())?;
    library.check_model(&relate::store::ModelInfo {
        id: embedder.model_id(),
        dim: embedder.dim(),
        fingerprint: Some(embedder.fingerprint()?),
    })?;
    if let Some(path) = args.flags.topic {
        query::topic_filter(&library, path)?;
    }
    let rank = relate::lexical::choose(args.flags.rank, &library)?;
    if rank == Rank::Hybrid {
        // Before the model is run.
        library.require_text_index()?;
    }
    let answer = query::search_in(
        &library,
        &searcher,
        &embedder,
        &args.text,
        args.flags.k as usize,
        args.flags.topic,
        rank,
    )?;
    print(&answer, args.flags.json)
}

fn print(answer: &Answer, json: bool) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, answer)?;
        writeln!(out)?;
    } else {
        if let (Some(id), Some(title)) = (&answer.query.id, &answer.query.title) {
            writeln!(
                out,
                "papers related to {id}: {}",
                table::fit(title, table::width().saturating_sub(22 + id.len()))
            )?;
        }
        out.write_all(table::render(answer, table::width()).as_bytes())?;
    }
    out.flush()?;
    Ok(Outcome::Complete)
}
