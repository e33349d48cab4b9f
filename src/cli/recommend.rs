//! `relate recommend`: parses the liked and unliked papers, texts and files,
//! the candidates and filters, runs the recommendation and prints it as a
//! table with a short reason per paper, or as JSON.

use std::cell::OnceCell;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{ArgGroup, Args};
use relate::corpus::{canonical_id, Problem};
use relate::embed::Embedder;
use relate::lexical::Rank;
use relate::library_topics::TopicPath;
use relate::query::MAX_RESULTS;
use relate::recommend::{
    self, check_weight, Candidates, Example, ExampleSource, Filters, Profile, Recommendation,
    Request, Scorer, SourceFilter, TextEmbedder, TopicFilter,
};
use relate::store::{Library, ModelInfo};
use relate::wording::count;

use super::filter_args::FilterArgs;
use super::ingest::{self, IngestArgs};
use super::model_args::ModelArgs;
use super::store_args::{StoreArgs, WaitArgs};
use super::table::{self, SideColumn};
use super::Outcome;

/// Widest "because" column in the table.
const MAX_BECAUSE_WIDTH: usize = 40;

#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("positive").required(true).multiple(true).args(["like", "like_text", "like_file"])),
    after_help = "Give at least one positive (--like, --like-text or --like-file). PAPER is a library \
paper id or title, resolved as `relate similar` does. FILE is a file of papers in any format \
`relate ingest` reads; its papers are used with their stored vector when the library holds them \
unchanged, else embedded, and are not stored. Bad records are reported with file and line and \
skipped (exit status 3).\n\n\
Weights: append @N to any PAPER, TEXT or FILE to count it N times (X@2, X@0.5); only a trailing \
@ followed by a number is a weight, so a title that itself ends in @<number> is written with @1 \
after it.\n\n\
Candidates: the library (the examples left out), or the papers of --from files, ranked without \
being stored unless --ingest is given. Filters apply before ranking: --since/--until keep papers \
whose date overlaps the range (YYYY, YYYY-MM or YYYY-MM-DD); --category keeps papers with a \
category starting with one of the values (ignoring case, so `cs.` keeps all of computer science). \
A paper without a date is dropped once --since or --until is given, one without categories once \
--category is given.\n\n\
Scorers: centroid (default) scores a paper by its cosine with the weighted mean of the positives \
minus half the mean of the negatives; multi by its closest positives (a soft maximum) minus half \
its closeness to the negatives, and shares the results among the reading list's \
interests (positives at cosine 0.25 or more, or chains of them, are one interest) by weight: \
for a reading list on several subjects."
)]
pub struct RecommendArgs {
    /// A paper you like: id or title (repeatable; PAPER@2 counts twice)
    #[arg(long, value_name = "PAPER", value_parser = parse_weighted)]
    pub like: Vec<Weighted>,

    /// A paper you do not want more of: id or title (repeatable)
    #[arg(long, value_name = "PAPER", value_parser = parse_weighted)]
    pub unlike: Vec<Weighted>,

    /// A text describing what you like (repeatable)
    #[arg(long, value_name = "TEXT", value_parser = parse_weighted)]
    pub like_text: Vec<Weighted>,

    /// A text describing what you do not want (repeatable)
    #[arg(long, value_name = "TEXT", value_parser = parse_weighted)]
    pub unlike_text: Vec<Weighted>,

    /// A file of papers you like, in any format ingest reads (repeatable)
    #[arg(long, value_name = "FILE", value_parser = parse_weighted)]
    pub like_file: Vec<Weighted>,

    /// A file of papers you do not want more of (repeatable)
    #[arg(long, value_name = "FILE", value_parser = parse_weighted)]
    pub unlike_file: Vec<Weighted>,

    /// Rank the papers of this file (any format ingest reads) instead of the library
    #[arg(long, value_name = "FILE")]
    pub from: Vec<PathBuf>,

    /// Also store the --from papers in the library, as `relate ingest` does
    #[arg(long, requires = "from")]
    pub ingest: bool,

    #[command(flatten)]
    pub filter: FilterArgs,

    /// Leave out the paper with this id (repeatable)
    #[arg(long, value_name = "ID")]
    pub exclude: Vec<String>,

    /// Only papers ingested from FILE ('-': standard input; repeatable: any
    /// of them). Papers ingested before sources were recorded have none
    #[arg(long, value_name = "FILE")]
    pub source: Vec<PathBuf>,

    /// Only papers of saved topic ID, or subtopic ID such as 3.1 (as `relate
    /// topics` numbers them; the topics must be current; not with --from)
    #[arg(long, value_name = "ID")]
    pub topic: Option<TopicPath>,

    /// How papers are scored: centroid or multi
    #[arg(long, default_value_t = Scorer::default(), value_name = "SCORER")]
    pub scorer: Scorer,

    /// How results are ranked: hybrid (fused with BM25 over titles and abstracts
    /// for the liked papers' key terms; the default for library candidates when
    /// the library has its full-text index) or dense (the scorer alone)
    #[arg(long, value_name = "RANK")]
    pub rank: Option<Rank>,

    /// Number of results, 1 to 10,000
    #[arg(short, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=MAX_RESULTS as i64))]
    pub k: u32,

    /// Print {"query": {...}, "results": [...]} as JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Also show the sentence of each result's abstract that fits the profile best (runs the model)
    #[arg(long)]
    pub explain: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    /// With --ingest: how long to wait for another writer
    #[command(flatten)]
    pub wait: WaitArgs,

    #[command(flatten)]
    pub model: ModelArgs,
}

/// A flag value with its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Weighted {
    pub value: String,
    pub weight: f32,
}

/// Splits a trailing `@<number>` off as a weight; anything else (an `@`
/// inside a title, a trailing `@word`) is part of the value.
fn parse_weighted(s: &str) -> Result<Weighted, String> {
    if let Some((value, tail)) = s.rsplit_once('@') {
        // Digits and dots, or anything Rust reads as a number (a sign, an
        // exponent, NaN, infinity): a weight, checked as one.
        let numeric = !tail.is_empty()
            && tail.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && tail.bytes().any(|b| b.is_ascii_digit());
        if numeric || tail.parse::<f64>().is_ok() {
            let weight: f32 = tail
                .parse()
                .map_err(|_| format!("{tail:?} in {s:?} is not a weight: write X@2 or X@0.5"))?;
            check_weight(weight).map_err(|problem| format!("in {s:?}: {problem}"))?;
            if value.trim().is_empty() {
                return Err(format!("{s:?} has a weight but nothing to weigh"));
            }
            return Ok(Weighted {
                value: value.to_string(),
                weight,
            });
        }
    }
    if s.trim().is_empty() {
        return Err("is empty".into());
    }
    Ok(Weighted {
        value: s.to_string(),
        weight: 1.0,
    })
}

/// Loads the model on first use and checks it against the library.
struct LazyModel<'a> {
    args: &'a ModelArgs,
    library: &'a Library,
    embedder: OnceCell<Embedder>,
}

impl TextEmbedder for LazyModel<'_> {
    fn embed_texts(&self, texts: &[String]) -> relate::Result<Vec<Vec<f32>>> {
        if self.embedder.get().is_none() {
            let embedder = Embedder::load(self.args.options())?;
            self.library.check_model(&ModelInfo {
                id: embedder.model_id(),
                dim: embedder.dim(),
                fingerprint: Some(embedder.fingerprint()?),
            })?;
            let _ = self.embedder.set(embedder);
        }
        let embedder = self.embedder.get().expect("loaded above");
        embedder.embed_texts(texts)
    }
}

pub fn run(args: RecommendArgs) -> anyhow::Result<Outcome> {
    let record = args.filter.filter();
    if args.topic.is_some() && !args.from.is_empty() {
        bail!(
            "--topic keeps library papers of a saved topic, and papers from --from have none: \
             leave out --from, or ingest the file, run `relate topics` and recommend from the library"
        );
    }
    let mut skipped = false;
    if args.ingest {
        let outcome = ingest::run(IngestArgs {
            paths: args.from.clone(),
            format: None,
            strict: false,
            model_id: None,
            vectors: None,
            // Every paper is stored; the filters choose among them below.
            filter: FilterArgs::default(),
            json: false,
            no_index_update: false,
            store: args.store.clone(),
            wait: args.wait.clone(),
            model: args.model.clone(),
        })?;
        skipped |= outcome == Outcome::SomeSkipped;
    }
    let dir = args.store.dir()?;
    let library = Library::open(&dir)?;

    // A file's bad records are reported once, though it may be read as
    // examples and as candidates (and by the ingest above).
    let same_file =
        |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut reported: HashSet<PathBuf> = HashSet::new();
    if args.ingest {
        reported.extend(args.from.iter().map(|p| same_file(p)));
    }
    let mut report = |path: &Path, rejected: &[Problem]| {
        if reported.insert(same_file(path)) {
            for problem in rejected {
                eprintln!("relate: {problem}; record skipped");
            }
        }
        !rejected.is_empty()
    };

    let mut profile = Profile::default();
    let examples = [
        (
            &args.like,
            &args.like_text,
            &args.like_file,
            &mut profile.positives,
        ),
        (
            &args.unlike,
            &args.unlike_text,
            &args.unlike_file,
            &mut profile.negatives,
        ),
    ];
    for (papers, texts, files, out) in examples {
        for w in papers {
            out.push(Example {
                source: ExampleSource::Paper(w.value.clone()),
                weight: w.weight,
            });
        }
        for w in texts {
            out.push(Example {
                source: ExampleSource::Text(w.value.clone()),
                weight: w.weight,
            });
        }
        for w in files {
            let path = PathBuf::from(&w.value);
            let read = recommend::read_paper_file(&path)?;
            skipped |= report(&path, &read.rejected);
            if read.papers.is_empty() {
                bail!(
                    "{} holds no readable paper: give a file of papers in a format `relate ingest` reads",
                    path.display()
                );
            }
            out.extend(read.papers.into_iter().map(|(paper, origin)| Example {
                source: ExampleSource::External {
                    paper: Box::new(paper),
                    origin,
                },
                weight: w.weight,
            }));
        }
    }

    let candidates = if args.from.is_empty() {
        Candidates::Library
    } else {
        let mut papers = Vec::new();
        for path in &args.from {
            let read = recommend::read_paper_file(path)?;
            // An ingest has reported the file's bad records already (and
            // counted them).
            let rejected = report(path, &read.rejected);
            skipped |= rejected && !args.ingest;
            papers.extend(read.papers.into_iter().map(|(paper, _)| paper));
        }
        if args.ingest {
            Candidates::Stored(papers.into_iter().map(|p| p.id).collect())
        } else {
            Candidates::Papers(papers)
        }
    };

    // An excluded id that names no candidate is most likely mistyped. (It
    // is looked for in any spelling, as `recommend` leaves it out.)
    for id in &args.exclude {
        let known = match &candidates {
            Candidates::Papers(papers) => {
                let wanted = canonical_id(id);
                papers.iter().any(|p| canonical_id(&p.id) == wanted)
            }
            _ => relate::query::find_by_id(&library, id)?.is_some(),
        };
        if !known {
            eprintln!(
                "relate: warning: --exclude {id}: no {} has this id, so it leaves nothing out",
                if args.from.is_empty() || args.ingest {
                    "paper of the library"
                } else {
                    "paper of the --from files"
                }
            );
        }
    }
    let request = Request {
        profile,
        candidates,
        filters: Filters {
            record,
            exclude: args.exclude.clone(),
            sources: SourceFilter::new(&library, &args.source)?,
            topic: args
                .topic
                .map(|path| TopicFilter::new(&library, path))
                .transpose()?,
        },
        k: args.k as usize,
        scorer: args.scorer,
        rank: match args.rank {
            // Papers from files are ranked densely unless hybrid is asked for
            // (and refused).
            None if !args.from.is_empty() && !args.ingest => Rank::Dense,
            asked => relate::lexical::choose(asked, &library)?,
        },
        explain: args.explain,
    };
    let model = LazyModel {
        args: &args.model,
        library: &library,
        embedder: OnceCell::new(),
    };
    let answer = recommend::recommend(&library, &model, &request)
        .with_context(|| format!("cannot recommend from the library at {}", dir.display()))?;
    print(&answer, args.json)?;
    Ok(if skipped {
        Outcome::SomeSkipped
    } else {
        Outcome::Complete
    })
}

fn print(answer: &Recommendation, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, answer)?;
        writeln!(out)?;
    } else {
        let q = &answer.query;
        writeln!(
            out,
            "{} for {} liked{} ({} scorer{}, {})",
            count(answer.results.len(), "paper"),
            q.positives.len(),
            if q.negatives.is_empty() {
                String::new()
            } else {
                format!(", {} unliked", q.negatives.len())
            },
            q.scorer,
            if q.rank == "hybrid" {
                ", hybrid ranking"
            } else {
                ""
            },
            count(q.scored, "candidate")
        )?;
        let rows: Vec<_> = answer.results.iter().map(|r| &r.row).collect();
        let because = SideColumn {
            header: "because",
            cells: answer
                .results
                .iter()
                .map(|r| {
                    r.because
                        .positives
                        .first()
                        .map_or(String::new(), |p| p.title.clone())
                })
                .collect(),
            max_width: MAX_BECAUSE_WIDTH,
        };
        let width = table::width();
        let rendered = table::render_rows(&rows, Some(because), width);
        let mut lines = rendered.lines();
        if let Some(header) = lines.next() {
            writeln!(out, "{header}")?;
        }
        for (line, result) in lines.zip(&answer.results) {
            writeln!(out, "{line}")?;
            if let Some(sentence) = &result.because.sentence {
                writeln!(
                    out,
                    "{:12}{}",
                    "",
                    table::fit(sentence, width.saturating_sub(12))
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(value: &str, weight: f32) -> Weighted {
        Weighted {
            value: value.into(),
            weight,
        }
    }

    #[test]
    fn only_a_trailing_number_after_at_is_a_weight() {
        assert_eq!(parse_weighted("2403.01234@2"), Ok(w("2403.01234", 2.0)));
        assert_eq!(parse_weighted("A title@0.5"), Ok(w("A title", 0.5)));
        assert_eq!(parse_weighted("2403.01234"), Ok(w("2403.01234", 1.0)));
        assert_eq!(
            parse_weighted("Mail me @ home@work"),
            Ok(w("Mail me @ home@work", 1.0))
        );
        assert_eq!(parse_weighted("Scaling@100k@1"), Ok(w("Scaling@100k", 1.0)));
        assert_eq!(parse_weighted("ends with @"), Ok(w("ends with @", 1.0)));
        for bad in [
            "x@0", "x@-1", "x@NaN", "x@1e309", "x@3e38", "x@1e-46", "x@1001",
        ] {
            let err = parse_weighted(bad).unwrap_err();
            assert!(err.contains("outside 0.001..=1000"), "{bad}: {err}");
        }
        assert_eq!(parse_weighted("x@1e3"), Ok(w("x", 1000.0)));
        assert!(parse_weighted("x@1.2.3")
            .unwrap_err()
            .contains("not a weight"));
        assert!(parse_weighted("@2").is_err());
        assert!(parse_weighted("  ").is_err());
    }
}
