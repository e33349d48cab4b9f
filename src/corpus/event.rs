//! What a reader hands back for each record: a paper, a warning about an
//! accepted paper, or a rejected record, each located by file and line.

use std::fmt;

use super::Paper;

/// A problem with one place in an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as the caller named it.
    pub path: String,
    /// 1-based line where the record (or the problem) starts.
    pub line: usize,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: &str, line: usize, message: impl Into<String>) -> Self {
        Problem {
            path: path.to_string(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.message)
    }
}

/// One step of reading a paper source.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadEvent {
    /// A paper was read; `line` is the 1-based line where its record starts.
    Paper { paper: Paper, line: usize },
    /// Something deserves attention but nothing was skipped (for example a
    /// paper without an abstract, or a BibTeX name that is not defined). A
    /// warning about a paper comes just before that paper.
    Warning(Problem),
    /// A record was skipped; reading goes on with the next one.
    Rejected(Problem),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_displays_as_path_line_message() {
        let p = Problem::new("papers.jsonl", 7, "missing title");
        assert_eq!(p.to_string(), "papers.jsonl:7: missing title");
    }
}
