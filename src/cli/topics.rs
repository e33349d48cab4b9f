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
use relate::library_topics::{self, LibraryTopics};
use relate::store::Library;
use relate::topics::{render_html, render_svg, TopicModel, TopicOptions, MAX_TOPICS};

use super::store_args::{StoreArgs, WaitArgs};
use super::table;
use super::Outcome;

#[derive(Debug, Args)]
#[command(
    after_help = "Papers are grouped by Ward's clustering of their vectors (repeatedly merging the \
two groups whose union stays tightest). Without --clusters, relate tries every number of topics from 2 to \
min(30, papers/3) and keeps the one whose papers sit most clearly in their own topic (best mean \
silhouette); when none separates them clearly (best silhouette under 0.25, usual for papers of one \
field), it keeps the best from sqrt(papers) upward, so topics hold about sqrt(papers) papers each.\n\n\
Papers far from every topic are listed apart as outliers, so a topic may end up empty and be \
dropped: --clusters N gives at most N topics. The assignment is saved in the library; `similar` \
and `search` then show each result's topic until the library changes.\n\n\
Exit status: 0 when the topics were found, 1 on error (more topics asked for than there are \
papers included), 2 on bad usage."
)]
pub struct TopicsArgs {
    /// Number of topics, 1 to 1,000 and at most the number of papers [default: chosen
    /// automatically, see below]
    #[arg(long, value_name = "N", value_parser = parse_clusters)]
    pub clusters: Option<usize>,

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

pub fn run(args: TopicsArgs) -> anyhow::Result<Outcome> {
    let map = match &args.map {
        Some(path) => Some((path.clone(), map_kind(path)?)),
        None => None,
    };
    let dir = args.store.dir()?;
    let library = Library::open_for_update(&dir, args.wait.duration())?;
    let opts = TopicOptions {
        clusters: args.clusters,
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
        "relate: {} topics over {} papers in {:.2}s ({})",
        found.model.topics.len(),
        found.model.assignments.len(),
        elapsed.as_secs_f64(),
        how_chosen(&found.model)
    );

    if let Some((path, kind)) = map {
        let start = Instant::now();
        write_map(&found, &path, kind, args.seed)?;
        eprintln!(
            "relate: map of {} papers written to {} in {:.2}s",
            found.model.assignments.len(),
            path.display(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(Outcome::Complete)
}

/// How the number of topics was chosen, in a few words.
fn how_chosen(model: &TopicModel) -> String {
    let choice = &model.choice;
    let emptied = choice.k.saturating_sub(model.topics.len());
    let emptied = if emptied > 0 {
        format!("; {emptied} left empty by outliers")
    } else {
        String::new()
    };
    if !choice.automatic {
        return format!("{} asked for{emptied}", choice.k);
    }
    let best = choice
        .silhouettes
        .iter()
        .map(|&(_, s)| s)
        .fold(f32::NEG_INFINITY, f32::max);
    if choice.silhouettes.is_empty() {
        "too few papers to split".to_string()
    } else if choice.weak_structure {
        format!(
            "{} chosen automatically; no clear clusters (best silhouette {best:.2}), so about \
             sqrt(papers) per topic{emptied}",
            choice.k
        )
    } else {
        format!(
            "{} chosen automatically, best silhouette {best:.2}{emptied}",
            choice.k
        )
    }
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
        .map(|p| p.id.chars().count())
        .max()
        .unwrap_or(2)
        .clamp(2, 24);
    let papers = model.assignments.len();
    let mut out = format!(
        "{} topics over {} papers, {} outliers\n",
        model.topics.len(),
        papers,
        model.outliers.len()
    );
    for t in &model.topics {
        let head = format!("\ntopic {}  ({} papers)  ", t.id, t.size);
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
    }
    if !model.outliers.is_empty() {
        out.push_str(&format!(
            "\noutliers  ({} papers far from every topic; score to the nearest topic)\n",
            model.outliers.len()
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
