//! The paper files in a folder, for `relate ingest FOLDER`: every file
//! below it, in its subfolders too, whose name ends in an extension of a
//! paper format (`.txt`, `.jsonl`, `.json`, `.ndjson`, `.csv`, `.tsv`,
//! `.bib`, `.bibtex`, `.ris`, `.nbib`, `.medline`, `.parquet`), possibly
//! followed by a compression ending (`.gz`, `.zst`, `.xz`), in name order.
//! Hidden files and folders (a leading `.`), folders reached through
//! symbolic links, the library being written and any other relate library
//! (a folder holding `library.sqlite` and `manifest.json`) are passed over;
//! other files are counted as skipped, so the user sees what was left out.

use std::path::{Path, PathBuf};

use super::input::Compression;
use crate::{Error, Result};

/// File-name extensions of the paper formats.
pub const PAPER_EXTENSIONS: &[&str] = &[
    "txt", "jsonl", "json", "ndjson", "csv", "tsv", "bib", "bibtex", "ris", "nbib", "medline",
    "xml", "rss", "atom", "parquet",
];

/// How deep below the folder given files are looked for.
const MAX_DEPTH: usize = 32;

/// What a folder holds for ingesting.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FolderFiles {
    /// The paper files, in name order (a subfolder's where its name sorts).
    pub papers: Vec<PathBuf>,
    /// Files whose names are not those of paper files.
    pub skipped: Vec<PathBuf>,
}

/// Whether `path`'s name ends in a paper format's extension (after any
/// compression ending).
pub fn is_paper_file_name(path: &Path) -> bool {
    let mut path = path.to_path_buf();
    if path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| Compression::from_extension(e).is_some())
    {
        path.set_extension("");
    }
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| PAPER_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The paper files below `folder`, leaving out `exclude` (the library's
/// folder) and everything in it.
pub fn paper_files_in(folder: &Path, exclude: Option<&Path>) -> Result<FolderFiles> {
    let exclude = exclude.and_then(|p| p.canonicalize().ok());
    let mut found = FolderFiles::default();
    walk(folder, exclude.as_deref(), 0, &mut found)?;
    Ok(found)
}

fn walk(
    folder: &Path,
    exclude: Option<&Path>,
    depth: usize,
    found: &mut FolderFiles,
) -> Result<()> {
    let library = folder.join("library.sqlite").is_file() && folder.join("manifest.json").is_file();
    if depth > MAX_DEPTH
        || library
        || exclude.is_some_and(|ex| folder.canonicalize().is_ok_and(|here| here == ex))
    {
        return Ok(());
    }
    let io = |e| Error::io("cannot read the folder", folder, e);
    let mut entries: Vec<_> = std::fs::read_dir(folder)
        .map_err(io)?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            walk(&path, exclude, depth + 1, found)?;
        } else if kind.is_symlink() && path.is_dir() {
            // Not followed: a link may lead back up the tree.
        } else if is_paper_file_name(&path) {
            found.papers.push(path);
        } else {
            found.skipped.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_paper_files_below_a_folder_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "b.jsonl",
            "a.bib",
            "notes.md",
            ".hidden.jsonl",
            "sub/c.csv.gz",
            "sub/d.RIS",
            ".git/e.json",
            "lib/library.sqlite",
            "lib/manifest.json",
            "old/library/library.sqlite",
            "old/library/manifest.json",
            "old/library/index/topics.json",
        ] {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "x").unwrap();
        }
        let found = paper_files_in(root, Some(&root.join("lib"))).unwrap();
        let names = |paths: &[PathBuf]| -> Vec<String> {
            paths
                .iter()
                .map(|p| p.strip_prefix(root).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            names(&found.papers),
            ["a.bib", "b.jsonl", "sub/c.csv.gz", "sub/d.RIS"]
        );
        assert_eq!(names(&found.skipped), ["notes.md"]);
        assert!(!is_paper_file_name(Path::new("archive.tar.gz")));
        assert!(is_paper_file_name(Path::new("arxiv.json.zst")));
    }
}
