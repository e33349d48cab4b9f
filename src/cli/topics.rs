//! `relate topics`: groups the library's papers into labelled topics, prints
//! them (a terminal view or JSON), saves the per-paper assignment in the
//! library so that `similar` and `search` can show topic labels, and draws
//! an optional map (SVG, or an HTML page with hover titles).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use relate::atomic_file::replace_file;
use relate::library_topics::{self, LibraryTopics, TopicPath};
use relate::store::Library;
use relate::topics::{render_html, render_svg, TopicModel, TopicOptions, CLEAR_GAP, MAX_TOPICS};
use relate::wording::count;

use super::store_args::{StoreArgs, WaitArgs};
use super::table;
use super::Outcome;

#[derive(Debug, Args)]
#[command(
    after_help = "Papers are grouped by Ward's clustering of their vectors (repeatedly merging the \
two groups whose union stays tightest), cut at two levels of one tree: broad topics, and subtopics \
nested in them (ids 3 and 3.1). A number of groups is natural where the next merge would cost \
far more than the last one (a gap in the merge costs, normalised so that structureless data \
scores about 1; 1.3 or more counts as clear). Without --clusters, the broad count is the smaller \
of the two clearest gaps (at most 20 topics), else the largest gap; the subtopics are cut at the \
clearest gap above it (at most 200), else, when no finer gap is clear (usual for papers of one \
field), at the largest gap among cuts whose subtopics average sqrt(papers)/2 to sqrt(papers) \
papers. A topic left with one subtopic is not split. --clusters N fixes the broad count.\n\n\
Papers far from every topic are listed apart as outliers, so a topic may end up empty and be \
dropped: --clusters N gives at most N topics. The assignment is saved in the library; `similar` \
and `search` then show each result's topic until the library changes, --topic ID restricts them \
to a topic, and `relate topics --show ID` lists a topic's members.\n\n\
Exit status: 0 when the topics were found, 1 on error (more topics asked for than there are \
papers included), 2 on bad usage."
)]
pub struct TopicsArgs {
    /// Number of topics, 1 to 1,000 and at most the number of papers [default: chosen
    /// automatically, see below]
    #[arg(long, value_name = "N", value_parser = parse_clusters)]
    pub clusters: Option<usize>,

    /// 2 splits each topic into subtopics where the papers allow it; 1 gives topics only
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub levels: u8,

    /// List the members of saved topic ID (or subtopic ID such as 3.1), closest to its
    /// centre first, instead of grouping again
    #[arg(long, value_name = "ID", conflicts_with_all = ["clusters", "levels", "map"])]
    pub show: Option<TopicPath>,

    /// Keep the saved topics and their ids: place papers added since in the nearest topic
    /// (or among the outliers when far from all); clusters again only when the papers added
    /// since the last clustering exceed 25% of the library at that time
    #[arg(long, conflicts_with_all = ["clusters", "levels", "show"])]
    pub update: bool,

    /// Seed for every random choice; the same library and seed give the same topics
    #[arg(long, default_value_t = TopicOptions::default().seed)]
    pub seed: u64,

    /// Print {"topics": [...], "outliers": [...]} as JSON instead of the terminal view
    /// (each topic lists its top papers and, under "members", every paper's id)
    #[arg(long)]
    pub json: bool,

    /// Also draw a map of the papers: FILE.svg, or FILE.html for a page with hover titles
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub wait: WaitArgs,
}

fn parse_clusters(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err(
            "0 topics asked for: ask for at least 1, or leave --clusters out to \
                       choose the number automatically"
                .into(),
        ),
        Ok(n) if n > MAX_TOPICS => Err(format!(
            "{n} topics asked for: ask for at most {MAX_TOPICS} (and at most the number of \
             papers), or leave --clusters out to choose the number automatically"
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a whole number of topics")),
    }
}

/// The kind of map a file name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MapKind {
    Svg,
    Html,
}

fn map_kind(path: &Path) -> anyhow::Result<MapKind> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("svg") => Ok(MapKind::Svg),
        Some("html") | Some("htm") => Ok(MapKind::Html),
        Some(other) => bail!(
            "--map {}: unknown map format '.{other}': name the file .svg for an image or .html \
             for a page with hover titles",
            path.display()
        ),
        None => bail!(
            "--map {}: the file name has no extension: name it .svg for an image or .html for a \
             page with hover titles",
            path.display()
        ),
    }
}

/// Fails before any clustering when the map could not be written: its
/// folder is missing or is not a folder.
fn check_map_folder(path: &Path) -> anyhow::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        bail!(
            "--map {}: the folder {} does not exist: create it, or name a file in an existing folder",
            path.display(),
            folder.display()
        );
    }
    Ok(())
}

pub fn run(args: TopicsArgs) -> anyhow::Result<Outcome> {
    let map = match &args.map {
        Some(path) => {
            let kind = map_kind(path)?;
            check_map_folder(path)?;
            Some((path.clone(), kind))
        }
        None => None,
    };
    let dir = args.store.dir()?;
    if let Some(path) = args.show {
        let library = Library::open(&dir)?;
        return show(&library, path, args.json);
    }
    let library = Library::open_for_update(&dir, args.wait.duration())?;
    if args.update {
        let report = library_topics::update(&library)
            .with_context(|| format!("cannot update the topics of {}", dir.display()))?;
        if !report.recluster {
            let mut out = std::io::stdout().lock();
            if args.json {
                serde_json::to_writer(&mut out, &report)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "placed {} in the saved topics ({}); {} added since the \
                     last clustering of {} (clusters again past {:.0}%)",
                    count(report.assigned, "new paper"),
                    count(report.outliers, "outlier"),
                    report.added_since_clustering,
                    count(report.clustered, "paper"),
                    library_topics::DRIFT_SHARE * 100.0
                )?;
            }
            out.flush()?;
            if map.is_some() {
                eprintln!("relate: --map is drawn only when the topics are clustered");
            }
            return Ok(Outcome::Complete);
        }
        eprintln!(
            "relate: {} added since the last clustering of {} (over {:.0}%, or papers \
             removed): clustering again, topic ids may change",
            count(report.added_since_clustering, "paper"),
            report.clustered,
            library_topics::DRIFT_SHARE * 100.0
        );
    }
    let opts = TopicOptions {
        clusters: args.clusters,
        levels: args.levels as usize,
        seed: args.seed,
        ..TopicOptions::default()
    };
    let start = Instant::now();
    let found = library_topics::find(&library, &opts)
        .with_context(|| format!("cannot find topics in the library at {}", dir.display()))?;
    let elapsed = start.elapsed();
    library_topics::save(&library, &found).context("cannot save the topics in the library")?;

    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &found.model)?;
        writeln!(out)?;
    } else {
        out.write_all(render(&found.model, table::width()).as_bytes())?;
    }
    out.flush()?;
    eprintln!(
        "relate: {} over {} in {:.2}s ({})",
        count(found.model.topics.len(), "topic"),
        count(found.model.assignments.len(), "paper"),
        elapsed.as_secs_f64(),
        how_chosen(&found.model, args.levels)
    );

    if let Some((path, kind)) = map {
        let start = Instant::now();
        write_map(&found, &path, kind, args.seed)?;
        eprintln!(
            "relate: map of {} written to {} in {:.2}s",
            count(found.model.assignments.len(), "paper"),
            path.display(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(Outcome::Complete)
}

/// How the numbers of topics were chosen, in a few words.
fn how_chosen(model: &TopicModel, levels: u8) -> String {
    let choice = &model.choice;
    let subtopics: usize = model.topics.iter().map(|t| t.subtopics.len()).sum();
    let emptied = choice.broad.saturating_sub(model.topics.len());
    let emptied = if emptied > 0 {
        format!("; {emptied} left empty by outliers")
    } else {
        String::new()
    };
    let gap = |k: usize| {
        choice
            .gap(k)
            .map_or(String::new(), |g| format!(" (merge-cost gap {g:.2})"))
    };
    let broad = if !choice.automatic {
        format!("{} asked for", choice.broad)
    } else if choice.gaps.is_empty() {
        "too few papers to split".to_string()
    } else {
        format!("{} chosen automatically{}", choice.broad, gap(choice.broad))
    };
    let fine = if subtopics > 0 && choice.clear_fine {
        format!("; {subtopics} subtopics{}", gap(choice.fine))
    } else if subtopics > 0 {
        format!("; {subtopics} subtopics by size, no finer merge-cost gap of {CLEAR_GAP} or more")
    } else if choice.gaps.is_empty() || levels < 2 {
        String::new()
    } else {
        "; topics too small to split".to_string()
    };
    format!("{broad}{fine}{emptied}")
}

/// `--show ID`: the members of a saved topic or subtopic, closest to its
/// centre first.
fn show(library: &Library, path: TopicPath, json: bool) -> anyhow::Result<Outcome> {
    let Some(saved) = library_topics::load_any(library) else {
        bail!("--show {path}: the library has no saved topics: run `relate topics` first");
    };
    if saved.generation != library.generation()? {
        bail!(
            "--show {path}: the saved topics are older than the library (papers were added or \
             changed since): run `relate topics` again"
        );
    }
    saved
        .check(path)
        .map_err(|e| anyhow::anyhow!("--show {path}: {e}"))?;
    let vectors = library.vectors()?;
    let members = saved.members(&vectors, path);
    let slots: Vec<u32> = members.iter().map(|m| m.0).collect();
    let papers = library.papers_by_slots(&slots)?;
    let label = saved.label_of(path).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if json {
        let rows: Vec<serde_json::Value> = papers
            .iter()
            .zip(&members)
            .map(
                |(p, (_, score))| serde_json::json!({"id": p.id, "title": p.title, "score": score}),
            )
            .collect();
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({"topic": path.to_string(), "label": label, "members": rows}),
        )?;
        writeln!(out)?;
    } else {
        let width = table::width();
        writeln!(
            out,
            "topic {path}  ({})  {}",
            count(members.len(), "paper"),
            table::fit(&label, width.saturating_sub(24).max(20))
        )?;
        let id_width = papers
            .iter()
            .map(|p| table::columns(&p.id))
            .max()
            .unwrap_or(2)
            .clamp(2, 24);
        for (p, (_, score)) in papers.iter().zip(&members) {
            writeln!(
                out,
                "{}",
                table::paper_line(2, *score, &p.id, id_width, &p.title, width)
            )?;
        }
    }
    out.flush()?;
    Ok(Outcome::Complete)
}

/// Lays the papers out and writes the map through a temporary file, so that
/// a failed run leaves no partial map (a device or pipe is written in place).
fn write_map(found: &LibraryTopics, path: &Path, kind: MapKind, seed: u64) -> anyhow::Result<()> {
    let points = library_topics::map_points(found, seed)?;
    let text = match kind {
        MapKind::Svg => render_svg(&found.model, &points, &found.titles)?,
        MapKind::Html => render_html(&found.model, &points, &found.titles)?,
    };
    if path.metadata().is_ok_and(|m| !m.is_file()) {
        std::fs::write(path, text)
            .with_context(|| format!("cannot write the map {}", path.display()))?;
    } else {
        replace_file(path, text.as_bytes())
            .with_context(|| format!("cannot write the map {}", path.display()))?;
    }
    Ok(())
}

/// The terminal view: each topic with its size, label, terms and most
/// representative papers, then the outliers, fitted to `width` columns.
fn render(model: &TopicModel, width: usize) -> String {
    let id_width = model
        .topics
        .iter()
        .flat_map(|t| &t.papers)
        .chain(&model.outliers)
        .map(|p| table::columns(&p.id))
        .max()
        .unwrap_or(2)
        .clamp(2, 24);
    let papers = model.assignments.len();
    let mut out = format!(
        "{} over {}, {}\n",
        count(model.topics.len(), "topic"),
        count(papers, "paper"),
        count(model.outliers.len(), "outlier")
    );
    for t in &model.topics {
        let head = format!("\ntopic {}  ({})  ", t.id, count(t.size, "paper"));
        let label = table::fit(&t.label, width.saturating_sub(head.len() - 1).max(20));
        out.push_str(&head);
        out.push_str(&label);
        out.push('\n');
        out.push_str(&table::fit(
            &format!("  terms: {}", t.terms.join(", ")),
            width.max(40),
        ));
        out.push('\n');
        for p in &t.papers {
            out.push_str(&table::paper_line(
                2, p.score, &p.id, id_width, &p.title, width,
            ));
            out.push('\n');
        }
        for s in &t.subtopics {
            let head = format!("  {}.{}  ({})  ", t.id, s.id, count(s.size, "paper"));
            let label = table::fit(&s.label, width.saturating_sub(head.len()).max(20));
            out.push_str(&head);
            out.push_str(&label);
            out.push('\n');
            for p in &s.papers {
                out.push_str(&table::paper_line(
                    6, p.score, &p.id, id_width, &p.title, width,
                ));
                out.push('\n');
            }
        }
    }
    if !model.outliers.is_empty() {
        out.push_str(&format!(
            "\noutliers  ({} far from every topic; score to the nearest topic)\n",
            count(model.outliers.len(), "paper")
        ));
        for p in &model.outliers {
            out.push_str(&table::paper_line(
                2, p.score, &p.id, id_width, &p.title, width,
            ));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_kind_follows_the_extension() {
        assert_eq!(map_kind(Path::new("a/map.svg")).unwrap(), MapKind::Svg);
        assert_eq!(map_kind(Path::new("MAP.HTML")).unwrap(), MapKind::Html);
        let err = map_kind(Path::new("map.png")).unwrap_err().to_string();
        assert!(err.contains(".png") && err.contains(".svg"), "{err}");
        assert!(map_kind(Path::new("map")).is_err());
        assert!(check_map_folder(Path::new("map.svg")).is_ok());
        let err = check_map_folder(Path::new("/no/such/folder/map.svg"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/no/such/folder") && err.contains("does not exist"),
            "{err}"
        );
    }

    #[test]
    fn clusters_must_be_a_positive_number() {
        assert_eq!(parse_clusters("5"), Ok(5));
        assert!(parse_clusters("0").unwrap_err().contains("at least 1"));
        assert!(parse_clusters("five").is_err());
        assert_eq!(parse_clusters("1000"), Ok(1000));
        assert!(parse_clusters("1001").unwrap_err().contains("at most 1000"));
    }
}
