//! Structure-aware fuzzing of every paper reader (JSONL, arXiv, CSV,
//! BibTeX, digest page) and of LaTeX cleaning, on stable Rust with
//! proptest: each input is a fixture (`tests/fixtures/corpus/`, the sample
//! digest page) with a few mutations applied: truncation, lines duplicated
//! or dropped, quotes, braces, backslashes, NULs, invalid UTF-8, stray
//! record starts and huge fields inserted, bytes flipped. No input may
//! panic or take longer than [`TIME_BOUND`], and every rejection, warning
//! and error names a line within the input. `RELATE_FUZZ_CASES` sets the
//! number of inputs per reader (default 64); how many ran is printed.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use relate::corpus::{latex_to_text, read_input, Format, Input, ReadEvent};
use relate::Error;

/// Longest a reader may take over one input (debug build, shared CPU).
const TIME_BOUND: Duration = Duration::from_secs(5);

fn cases() -> u32 {
    std::env::var("RELATE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

fn seed(path: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read(root.join(path)).unwrap()
}

/// One edit of an input.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    DuplicateLine(usize),
    DropLine(usize),
    Insert(usize, Vec<u8>),
    Flip(usize, u8),
}

fn pieces() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"\"".to_vec()),
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xff\xfe\xc3".to_vec()),
        Just(b",".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"@article{k,\n".to_vec()),
        Just(b"\\begin{itemize}$x^{".to_vec()),
        Just(b"{\"id\":\"x\",\"title\":".to_vec()),
        Just(b"\"\"\"".to_vec()),
        (1usize..200_000).prop_map(|n| vec![b'x'; n]),
        (1usize..20_000).prop_map(|n| b"{".repeat(n)),
        proptest::collection::vec(any::<u8>(), 1..64),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::DropLine),
        (any::<usize>(), pieces()).prop_map(|(at, p)| Mutation::Insert(at, p)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Flip(at, b)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::Flip(at, b) if !bytes.is_empty() => bytes[at % len] ^= b | 1,
            Mutation::Flip(..) => {}
            Mutation::Insert(at, piece) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, piece.iter().copied());
            }
            Mutation::DuplicateLine(i) | Mutation::DropLine(i) => {
                let mut lines: Vec<Vec<u8>> = bytes
                    .split_inclusive(|&b| b == b'\n')
                    .map(<[u8]>::to_vec)
                    .collect();
                if lines.is_empty() {
                    continue;
                }
                let i = i % lines.len();
                if matches!(m, Mutation::DuplicateLine(_)) {
                    let line = lines[i].clone();
                    lines.insert(i, line);
                } else {
                    lines.remove(i);
                }
                bytes = lines.concat();
            }
        }
    }
    bytes
}

/// Reads `bytes` as `format` and checks every line it names; returns the
/// papers read and the problems (rejections, warnings, errors) reported.
fn read_checked(bytes: Vec<u8>, name: &str, format: Format) -> (usize, usize) {
    let (mut papers, mut problems) = (0, 0);
    // A line ends at a line feed, or at a carriage return not before one.
    let lines = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
        + 1;
    let start = Instant::now();
    match read_input(Input::from_bytes(bytes, name), Some(format)) {
        Ok(reader) => {
            for event in reader {
                if let ReadEvent::Rejected(p) | ReadEvent::Warning(p) = &event {
                    problems += 1;
                    assert!(
                        (1..=lines).contains(&p.line),
                        "{format:?}: problem at line {} of {lines}: {}",
                        p.line,
                        p.message
                    );
                }
                if let ReadEvent::Paper { line, .. } = &event {
                    papers += 1;
                    assert!(
                        (1..=lines).contains(line),
                        "paper at line {line} of {lines}"
                    );
                }
            }
        }
        Err(Error::BadRecord { line, .. }) => {
            assert!(
                (1..=lines).contains(&line),
                "error at line {line} of {lines}"
            )
        }
        Err(e) => panic!("{format:?}: a failure that names no line: {e}"),
    }
    assert!(
        start.elapsed() < TIME_BOUND,
        "{format:?}: one input took {:?}",
        start.elapsed()
    );
    (papers, problems)
}

fn fuzz(path: &str, name: &str, format: Format) {
    let seed = seed(path);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let (ran, papers, problems) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    runner
        .run(&proptest::collection::vec(mutation(), 0..6), |mutations| {
            ran.fetch_add(1, Ordering::Relaxed);
            let (p, q) = read_checked(apply(seed.clone(), &mutations), name, format);
            papers.fetch_add(p, Ordering::Relaxed);
            problems.fetch_add(q, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    let (papers, problems) = (papers.into_inner(), problems.into_inner());
    println!(
        "{format:?}: {} inputs from {path}: {papers} papers read, {problems} problems reported",
        ran.into_inner()
    );
    // The mutations reach the reader: papers still come through, and
    // damage is reported.
    assert!(
        papers > 0 && problems > 0,
        "{papers} papers, {problems} problems"
    );
}

#[test]
fn jsonl_reader_survives_mutations() {
    fuzz(
        "tests/fixtures/corpus/papers.jsonl",
        "papers.jsonl",
        Format::Jsonl,
    );
}

#[test]
fn arxiv_reader_survives_mutations() {
    fuzz(
        "tests/fixtures/corpus/arxiv-snapshot.json",
        "arxiv.json",
        Format::Arxiv,
    );
}

#[test]
fn csv_reader_survives_mutations() {
    fuzz(
        "tests/fixtures/corpus/papers.csv",
        "papers.csv",
        Format::Csv,
    );
}

#[test]
fn bibtex_reader_survives_mutations() {
    fuzz(
        "tests/fixtures/corpus/library.bib",
        "library.bib",
        Format::Bibtex,
    );
}

#[test]
fn ris_reader_survives_mutations() {
    fuzz(
        "tests/fixtures/corpus/references.ris",
        "references.ris",
        Format::Ris,
    );
}

#[test]
fn feed_reader_survives_mutations() {
    fuzz(
        "tests/fixtures/corpus/arxiv-new.rss",
        "arxiv-new.rss",
        Format::Feed,
    );
}

#[test]
fn endnote_reader_survives_mutations() {
    fuzz(
        "tests/fixtures/corpus/endnote.xml",
        "endnote.xml",
        Format::Endnote,
    );
}

#[test]
fn digest_reader_survives_mutations() {
    fuzz("data/daily-papers-sample.txt", "digest.txt", Format::Digest);
}

#[test]
fn latex_cleaning_survives_mutations() {
    let seed = seed("tests/fixtures/corpus/library.bib");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases() * 4,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let ran = AtomicUsize::new(0);
    runner
        .run(&proptest::collection::vec(mutation(), 0..6), |mutations| {
            ran.fetch_add(1, Ordering::Relaxed);
            let bytes = apply(seed.clone(), &mutations);
            let text = String::from_utf8_lossy(&bytes);
            let start = Instant::now();
            let clean = latex_to_text(&text);
            prop_assert!(start.elapsed() < TIME_BOUND, "took {:?}", start.elapsed());
            prop_assert!(!clean.contains('\0') || text.contains('\0'));
            Ok(())
        })
        .unwrap();
    println!("LaTeX cleaning: {} inputs", ran.load(Ordering::Relaxed));
}
