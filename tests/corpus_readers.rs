//! Reads every supported paper source from the fixtures in
//! `tests/fixtures/corpus/` (and the sample digest page) and checks the
//! papers, warnings and rejections that come out, with their lines.

use std::io::Write;
use std::path::{Path, PathBuf};

use relate::corpus::{detect_format, read_papers, title_id, Format, Paper, Problem, ReadEvent};
use relate::Error;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/corpus")
        .join(name)
}

/// All events of a source, read with the given format (or detected).
fn read_all(path: &Path, format: Option<Format>) -> Vec<ReadEvent> {
    read_papers(path, format)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .collect()
}

fn papers(events: &[ReadEvent]) -> Vec<(&Paper, usize)> {
    events
        .iter()
        .filter_map(|e| match e {
            ReadEvent::Paper { paper, line } => Some((paper, *line)),
            _ => None,
        })
        .collect()
}

fn rejected(events: &[ReadEvent]) -> Vec<&Problem> {
    events
        .iter()
        .filter_map(|e| match e {
            ReadEvent::Rejected(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn warnings(events: &[ReadEvent]) -> Vec<&Problem> {
    events
        .iter()
        .filter_map(|e| match e {
            ReadEvent::Warning(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// (line, message must contain) for each rejection, in order.
fn assert_rejections(events: &[ReadEvent], expected: &[(usize, &str)]) {
    let got = rejected(events);
    assert_eq!(
        got.iter().map(|p| p.line).collect::<Vec<_>>(),
        expected.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        "rejected lines; got {got:#?}"
    );
    for (problem, (_, needle)) in got.iter().zip(expected) {
        assert!(
            problem.message.contains(needle),
            "line {}: `{}` does not mention `{needle}`",
            problem.line,
            problem.message
        );
    }
}

fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

#[test]
fn sample_digest_yields_the_61_reference_abstracts_in_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/daily-papers-sample.txt");
    assert_eq!(detect_format(&path).unwrap(), Format::Digest);
    let events = read_all(&path, None);
    assert!(rejected(&events).is_empty(), "{:?}", rejected(&events));
    assert!(warnings(&events).is_empty(), "{:?}", warnings(&events));
    let papers = papers(&events);
    assert_eq!(papers.len(), 61);

    let reference = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/all-MiniLM-L6-v2.abstracts.jsonl"),
    )
    .unwrap();
    let texts: Vec<String> = reference
        .lines()
        .map(|l| {
            let value: serde_json::Value = serde_json::from_str(l).unwrap();
            value["text"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(texts.len(), 61);
    for (i, ((paper, _), text)) in papers.iter().zip(&texts).enumerate() {
        assert_eq!(
            &paper.abstract_text, text,
            "abstract {i} differs from the reference"
        );
    }

    let (first, line) = papers[0];
    assert_eq!(line, 11, "the first title follows 5 chrome paragraphs");
    assert_eq!(
        first.title,
        "Faster Rates of Convergence to Stationary Points in Differentially Private Optimization"
    );
    assert_eq!(first.id, title_id(&first.title));
    assert!(papers
        .iter()
        .all(|(p, _)| !p.title.is_empty() && p.title.len() < 200));
}

#[test]
fn digest_with_crlf_bom_and_other_chrome_reads_the_same_papers() {
    let abstract_a = "We study ".to_string() + &"a long abstract sentence. ".repeat(20);
    let page = format!(
        "\u{feff}Home\r\n\r\nLog in\r\n\r\nFirst  Title\r\n\r\n{abstract_a}\r\n\r\nSecond\r\nTitle\r\n\r\n{abstract_a}\r\n"
    );
    let (_dir, path) = temp_file("page.txt", page.as_bytes());
    let events = read_all(&path, None);
    let papers = papers(&events);
    assert_eq!(papers.len(), 2, "{events:#?}");
    assert_eq!(papers[0].0.title, "First Title");
    assert_eq!(papers[0].1, 5);
    assert_eq!(papers[1].0.title, "Second Title");
    assert_eq!(papers[1].0.abstract_text, abstract_a.trim());
}

#[test]
fn jsonl_reads_good_lines_and_reports_bad_ones_by_line() {
    let path = fixture("papers.jsonl");
    assert_eq!(detect_format(&path).unwrap(), Format::Jsonl);
    let events = read_all(&path, None);
    assert_rejections(
        &events,
        &[
            (4, "not valid JSON"),
            (5, "missing title"),
            (6, "not valid UTF-8"),
            (7, "duplicate id `p1`: line 1"),
            (9, "expected a JSON object"),
        ],
    );
    let warnings = warnings(&events);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].line, 8);
    assert!(warnings[0].message.contains("no abstract"));
    assert_eq!(
        warnings[0].to_string(),
        format!("{}:8: {}", path.display(), warnings[0].message)
    );

    let papers = papers(&events);
    let ids: Vec<(&str, usize)> = papers.iter().map(|(p, l)| (p.id.as_str(), *l)).collect();
    assert_eq!(
        ids,
        [
            ("p1", 1),
            (title_id("A Paper Without an Id").as_str(), 3),
            ("p7", 8),
            ("9", 10)
        ]
    );
    let first = papers[0].0;
    assert_eq!(first.title, "Learning to Rank Papers");
    assert_eq!(
        first.authors,
        ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    );
    assert_eq!(first.date.as_deref(), Some("2021"));
    assert_eq!(first.categories, ["cs.IR", "cs.LG"]);
    assert_eq!(first.url.as_deref(), Some("https://example.org/p1"));
    assert_eq!(first.extra["venue"], "SIGIR");
    assert_eq!(first.extra["citations"], 12);
    assert!(first.abstract_text.starts_with("We propose") && !first.abstract_text.ends_with(' '));

    let second = papers[1].0;
    assert_eq!(
        second.abstract_text,
        "Short abstract, kept as is: $\\varepsilon$-DP."
    );
    assert_eq!(second.authors, ["Emmy Noether", "Kurt Gödel"]);
    assert_eq!(second.categories, ["math.LO", "cs.LO"]);
    assert_eq!(second.date.as_deref(), Some("2020-02-29"));
    assert_eq!(papers[3].0.authors, ["Doe, Jane", "Roe, Rick"]);
}

#[test]
fn csv_handles_quotes_line_breaks_bom_crlf_and_bad_rows() {
    let path = fixture("papers.csv");
    assert_eq!(detect_format(&path).unwrap(), Format::Csv);
    let events = read_all(&path, None);
    assert_rejections(
        &events,
        &[
            (4, "missing title"),
            (5, "3 fields but the header has 8"),
            (6, "not valid UTF-8"),
            (7, "duplicate id `c1`: line 2"),
        ],
    );
    let warnings = warnings(&events);
    assert_eq!(warnings.iter().map(|w| w.line).collect::<Vec<_>>(), [11]);

    let papers = papers(&events);
    assert_eq!(
        papers.iter().map(|(_, l)| *l).collect::<Vec<_>>(),
        [2, 8, 11]
    );
    let first = papers[0].0;
    assert_eq!(first.id, "c1");
    assert_eq!(first.title, "Graphs, Sets, and Sequences");
    assert_eq!(
        first.abstract_text,
        "An abstract with a comma, a \"quote\" and a line break."
    );
    assert_eq!(first.authors, ["Ada Lovelace", "Alan Turing"]);
    assert_eq!(first.categories, ["cs.LG", "stat.ML"]);
    assert_eq!(first.date.as_deref(), Some("2019"));
    assert_eq!(first.extra.len(), 1);
    assert_eq!(first.extra["venue"], "ICML");

    let untitled = papers[1].0;
    assert_eq!(untitled.id, title_id("untitled id paper"));
    assert_eq!(untitled.abstract_text, "Multi-line abstract.");
    assert_eq!(untitled.authors, ["A", "B"]);
}

#[test]
fn tsv_is_read_with_tabs() {
    let (_dir, path) = temp_file("papers.tsv", b"title\tabstract\nA, B\tC, D\n");
    let events = read_all(&path, None);
    let papers = papers(&events);
    assert_eq!(papers.len(), 1);
    assert_eq!(
        (
            papers[0].0.title.as_str(),
            papers[0].0.abstract_text.as_str()
        ),
        ("A, B", "C, D")
    );
}

#[test]
fn csv_without_title_column_is_an_error_naming_the_columns() {
    let (_dir, path) = temp_file("p.csv", b"id,name\n1,x\n");
    let err = read_papers(&path, None).err().expect("no title column");
    assert!(matches!(&err, Error::BadRecord { line: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("it has: id, name"), "{err}");
}

#[test]
fn arxiv_snapshot_is_detected_and_mapped() {
    let path = fixture("arxiv-snapshot.json");
    assert_eq!(detect_format(&path).unwrap(), Format::Arxiv);
    let events = read_all(&path, None);
    assert!(
        rejected(&events).is_empty() && warnings(&events).is_empty(),
        "{events:#?}"
    );
    let read = papers(&events);
    assert_eq!(read.len(), 2);
    let first = read[0].0;
    assert_eq!(first.id, "0704.0001");
    assert_eq!(
        first.title,
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    );
    assert!(first
        .abstract_text
        .starts_with("A fully differential calculation in perturbative"));
    assert_eq!(
        first.authors,
        ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"]
    );
    assert_eq!(first.categories, ["hep-ph"]);
    assert_eq!(first.date.as_deref(), Some("2008-11-13"));
    assert_eq!(
        first.url.as_deref(),
        Some("https://arxiv.org/abs/0704.0001")
    );
    assert_eq!(first.extra["journal-ref"], "Phys.Rev.D76:013009,2007");
    assert!(
        !first.extra.contains_key("license"),
        "null fields count as absent"
    );

    let second = read[1].0;
    assert_eq!(second.id, "math/0702129");
    assert_eq!(second.categories, ["math.CO", "cs.DM"]);
    assert_eq!(
        second.authors,
        ["Some One", "Other Person"],
        "empty authors_parsed falls back"
    );
    assert_eq!(
        second.abstract_text,
        "We count things with $\\binom{n}{k}$."
    );

    // Read as plain JSON lines, the same file keeps its raw fields.
    let plain = read_all(&path, Some(Format::Jsonl));
    let plain = papers(&plain);
    assert_eq!(plain[0].0.date, None);
    assert_eq!(plain[0].0.url, None);
    assert!(plain[0].0.extra.contains_key("update_date"));
    assert!(plain[0].0.extra.contains_key("authors_parsed"));
}

#[test]
fn bibtex_entries_are_cleaned_and_bad_entries_skipped() {
    let path = fixture("library.bib");
    assert_eq!(detect_format(&path).unwrap(), Format::Bibtex);
    let events = read_all(&path, None);
    assert_rejections(
        &events,
        &[
            (29, "entry `notitle2021`: no title"),
            (
                34,
                "not closed (a brace is missing) before the next entry (line 38)",
            ),
            (45, "after field `title` expected `,`"),
            (50, "duplicate id `10.1007/bf01700692`: line 15"),
        ],
    );
    assert_eq!(
        warnings(&events).iter().map(|w| w.line).collect::<Vec<_>>(),
        [7, 38],
        "title-only entries are warned about"
    );
    let papers = papers(&events);
    assert_eq!(
        papers.iter().map(|(_, l)| *l).collect::<Vec<_>>(),
        [7, 15, 38, 55]
    );

    let vaswani = papers[0].0;
    assert_eq!(vaswani.id, "vaswani2017attention");
    assert_eq!(vaswani.title, "Attention is all you need");
    assert_eq!(
        vaswani.authors,
        ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"]
    );
    assert_eq!(vaswani.date.as_deref(), Some("2017"));
    assert_eq!(
        vaswani.extra["booktitle"],
        "Advances in Neural Information Processing Systems 30"
    );
    assert_eq!(vaswani.extra["pages"], "5998–6008");
    assert_eq!(vaswani.extra["bibtex_type"], "inproceedings");

    let godel = papers[1].0;
    assert_eq!(godel.id, "10.1007/bf01700692", "the DOI is the id");
    assert_eq!(godel.extra["bibtex_key"], "godel_2020");
    assert_eq!(
        godel.title,
        "Über formal unentscheidbare Sätze der Principia Mathematica und verwandter Systeme I"
    );
    assert_eq!(
        godel.abstract_text,
        "We show that every consistent system & its öffshoots ßtay incomplete; the rate is \
         $O(\\sqrt{n})$ for (\\varepsilon, \\delta) pairs – roughly."
    );
    assert_eq!(
        godel.authors,
        ["Kurt Gödel", "Paul Erdős", "Antonín Dvořák"]
    );
    assert_eq!(
        godel.url.as_deref(),
        Some("https://example.org/~kurt/paper_1--2")
    );
    assert_eq!(godel.date.as_deref(), Some("1931"));
    assert_eq!(
        godel.extra["journal"],
        "Monatshefte für Mathematik und Physik"
    );
    assert_eq!(godel.extra["month"], "January");

    let knuth = papers[2].0;
    assert_eq!(knuth.id, "after_unclosed");
    assert_eq!(knuth.title, "A \"quoted\" title with Nested Braces");
    assert_eq!(knuth.authors, ["Donald E. Knuth"]);
    assert_eq!(knuth.date.as_deref(), Some("1984"));

    let parens = papers[3].0;
    assert_eq!(parens.id, "parens_entry");
    assert_eq!(
        parens.abstract_text,
        "Abstract in an entry written with parentheses."
    );
}

#[test]
fn detection_uses_the_extension_then_the_content() {
    let cases: [(&str, &[u8], Format); 7] = [
        ("a.bib", b"not even bibtex", Format::Bibtex),
        // A .txt file is a digest page unless it plainly starts another
        // format.
        ("a.txt", b"{\"title\": \"x\"}", Format::Jsonl),
        (
            "b.txt",
            b"Papers\n\nA title\n\n{Braced} text.\n",
            Format::Digest,
        ),
        ("noext", b"{\"title\": \"x\"}\n", Format::Jsonl),
        (
            "export.data",
            b"\n@Article{k,\n title={x}}\n",
            Format::Bibtex,
        ),
        ("table", b"\xef\xbb\xbf\"id\",\"title\"\n1,x\n", Format::Csv),
        ("page", b"chrome\n\nTitle\n\nAbstract.\n", Format::Digest),
    ];
    for (name, bytes, format) in cases {
        let (_dir, path) = temp_file(name, bytes);
        assert_eq!(detect_format(&path).unwrap(), format, "{name}");
    }
    // A JSON array is read too.
    let (_dir, path) = temp_file("array.json", b"[{\"title\": \"x\"}, {\"title\": \"y\"}]");
    assert_eq!(detect_format(&path).unwrap(), Format::Jsonl);
    let events = read_all(&path, None);
    let titles: Vec<&str> = papers(&events)
        .iter()
        .map(|(p, _)| p.title.as_str())
        .collect();
    assert_eq!(titles, ["x", "y"]);
    let (_dir, path) = temp_file("blob", b"just one line");
    assert!(matches!(
        detect_format(&path),
        Err(Error::UnknownFormat { .. })
    ));
}

#[test]
fn an_explicit_format_overrides_detection() {
    let (_dir, path) = temp_file("papers.txt", b"{\"title\": \"From JSON\"}\n");
    let events = read_all(&path, Some(Format::Jsonl));
    assert_eq!(papers(&events)[0].0.title, "From JSON");
}

#[test]
fn empty_files_have_no_papers_and_no_error() {
    for name in ["e.jsonl", "e.csv", "e.bib", "e.txt", "e.json", "e"] {
        let (_dir, path) = temp_file(name, b"");
        assert!(read_all(&path, None).is_empty(), "{name}");
        for format in Format::ALL {
            assert!(
                read_all(&path, Some(format)).is_empty(),
                "{name} as {format}"
            );
        }
    }
    for (name, bytes) in [
        ("bom.csv", &b"\xef\xbb\xbf"[..]),
        ("blank.bib", b"\n\n"),
        ("blank.jsonl", b"\r\n\r\n"),
    ] {
        let (_dir, path) = temp_file(name, bytes);
        assert!(read_all(&path, None).is_empty(), "{name}");
    }
}

#[test]
fn a_missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.jsonl");
    for format in [None, Some(Format::Bibtex)] {
        let err = read_papers(&path, format).err().expect("missing file");
        assert!(
            matches!(&err, Error::Io { path: p, .. } if *p == path),
            "{err:?}"
        );
        assert!(err.to_string().contains("nope.jsonl"), "{err}");
    }
    assert!(matches!(detect_format(&path), Err(Error::Io { .. })));
}

#[test]
fn whole_file_formats_keep_their_records_and_name_the_lines_that_are_not_utf8() {
    // UTF-8 with one damaged byte: the line is named, the byte replaced.
    let bib = [
        &b"@article{a,\n  title = {D"[..],
        "éjà".as_bytes(),
        b" vu}\n}\n@article{b,\n  title = {Caf\xe9}\n}\n",
    ]
    .concat();
    let (_dir, path) = temp_file("damaged.bib", &bib);
    let events = read_all(&path, None);
    let titles: Vec<&str> = papers(&events)
        .iter()
        .map(|(p, _)| p.title.as_str())
        .collect();
    assert_eq!(titles, ["Déjà vu", "Caf\u{fffd}"]);
    let warned: Vec<&Problem> = warnings(&events)
        .into_iter()
        .filter(|w| w.message.contains("UTF-8"))
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert_eq!(warned[0].line, 5);
    assert!(
        warned[0].message.contains("0xE9") && warned[0].message.contains("UTF-8"),
        "{}",
        warned[0].message
    );

    let page = [&b"T"[..], "ï".as_bytes(), b"tle\n\nAbstr\xffact.\n"].concat();
    let (_dir, path) = temp_file("page.txt", &page);
    let events = read_all(&path, None);
    assert_eq!(papers(&events).len(), 1);
    let warned: Vec<usize> = warnings(&events)
        .into_iter()
        .filter(|w| w.message.contains("UTF-8"))
        .map(|w| w.line)
        .collect();
    assert_eq!(warned, [3]);
}

#[test]
fn single_byte_files_are_read_as_windows_1252_with_a_warning() {
    let bib =
        b"@article{a,\n  title = {Ok}\n}\n@article{b,\n  title = {Caf\xe9 \x96 M\xfcller}\n}\n";
    let (_dir, path) = temp_file("latin1.bib", bib);
    let events = read_all(&path, None);
    let titles: Vec<&str> = papers(&events)
        .iter()
        .map(|(p, _)| p.title.as_str())
        .collect();
    assert_eq!(titles, ["Ok", "Café – Müller"]);
    let warned: Vec<&Problem> = warnings(&events)
        .into_iter()
        .filter(|w| w.message.contains("UTF-8"))
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].line == 1 && warned[0].message.contains("Windows-1252"));

    let jsonl = b"{\"title\": \"Na\xefve Bayes\"}\n{\"title\": \"Plain\"}\n";
    let (_dir, path) = temp_file("latin1.jsonl", jsonl);
    let events = read_all(&path, None);
    let titles: Vec<&str> = papers(&events)
        .iter()
        .map(|(p, _)| p.title.as_str())
        .collect();
    assert_eq!(titles, ["Naïve Bayes", "Plain"]);
}

#[test]
fn old_mac_line_endings_split_digest_pages_and_bibtex_files() {
    let abstract_text = "We study a problem at length. ".repeat(8);
    let page = format!("First title\r\r{abstract_text}\r\rSecond title\r\r{abstract_text}\r");
    let (_dir, path) = temp_file("page.txt", page.as_bytes());
    let events = read_all(&path, Some(Format::Digest));
    let found: Vec<(&str, usize)> = papers(&events)
        .iter()
        .map(|(p, line)| (p.title.as_str(), *line))
        .collect();
    assert_eq!(found, [("First title", 1), ("Second title", 5)]);

    let bib = b"@article{a,\r  title = {One}\r}\r@article{b,\r  title = {Two}\r}\r";
    let (_dir, path) = temp_file("cr.bib", bib);
    let events = read_all(&path, None);
    let found: Vec<(&str, usize)> = papers(&events)
        .iter()
        .map(|(p, line)| (p.title.as_str(), *line))
        .collect();
    assert_eq!(found, [("One", 1), ("Two", 4)]);
}

#[test]
fn an_html_page_read_as_a_digest_says_to_save_it_as_text() {
    let page =
        b"<!DOCTYPE html>\n<html><body><h1>Daily papers</h1>\n<p>A title</p>\n</body></html>\n";
    let (_dir, path) = temp_file("digest.txt", page);
    let err = read_papers(&path, Some(Format::Digest))
        .err()
        .expect("HTML is refused");
    assert!(matches!(&err, Error::BadRecord { line: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("save the page as text"), "{err}");
}

#[test]
fn the_same_title_gets_the_same_id_across_spacing_case_and_formats() {
    let jsonl = b"{\"title\": \"Deep  Learning for\\nGraphs\"}\n{\"title\": \"deep learning for graphs\"}\n";
    let (_dir, path) = temp_file("t.jsonl", jsonl);
    let events = read_all(&path, None);
    let first = papers(&events)[0].0.id.clone();
    assert_eq!(first, title_id("DEEP LEARNING FOR GRAPHS"));
    assert_rejections(&events, &[(2, "duplicate id")]);

    let (_dir, path) = temp_file("t.csv", b"title\n\"  Deep Learning   For Graphs \"\n");
    let events = read_all(&path, None);
    assert_eq!(papers(&events)[0].0.id, first);

    let (_dir, path) = temp_file("t.txt", b"Deep learning for graphs\n\nAn abstract.\n");
    let events = read_all(&path, None);
    assert_eq!(papers(&events)[0].0.id, first);
}

#[test]
fn jsonl_and_csv_are_read_as_they_are_written() {
    // A reader that slurped the file when opened would not see lines
    // appended after its first paper was read.
    let dir = tempfile::tempdir().unwrap();
    for (name, header, row) in [
        (
            "s.jsonl",
            "",
            "{\"title\": \"Paper NUM\", \"abstract\": \"A.\"}\n",
        ),
        ("s.csv", "title,abstract\n", "Paper NUM,A.\n"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{header}{}", row.replace("NUM", "0"))).unwrap();
        let mut reader = read_papers(&path, None).unwrap();
        assert!(matches!(reader.next(), Some(ReadEvent::Paper { .. })));
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        for i in 1..=2000 {
            file.write_all(row.replace("NUM", &i.to_string()).as_bytes())
                .unwrap();
        }
        drop(file);
        let rest: Vec<ReadEvent> = reader.collect();
        assert_eq!(papers(&rest).len(), 2000, "{name}");
    }
}

#[test]
fn bibtex_with_bom_and_crlf_reads_the_same_as_without() {
    let plain = std::fs::read_to_string(fixture("library.bib")).unwrap();
    let windows = format!("\u{feff}{}", plain.replace('\n', "\r\n"));
    let (_dir, path) = temp_file("windows.bib", windows.as_bytes());
    let expected = read_all(&fixture("library.bib"), None);
    let got = read_all(&path, None);
    let strip = |events: &[ReadEvent]| -> Vec<(Paper, usize)> {
        papers(events)
            .into_iter()
            .map(|(p, l)| (p.clone(), l))
            .collect()
    };
    assert_eq!(strip(&got), strip(&expected));
    assert_eq!(
        rejected(&got).iter().map(|p| p.line).collect::<Vec<_>>(),
        rejected(&expected)
            .iter()
            .map(|p| p.line)
            .collect::<Vec<_>>()
    );
}

#[test]
fn scholarly_api_answers_saved_as_json_are_read_as_papers() {
    // Semantic Scholar's search answer, saved as it came.
    let s2 = br#"{"total": 2, "offset": 0, "data": [
 {"paperId": "abc123", "title": "Graph networks for molecules", "abstract": "Message passing.", "year": 2023, "authors": [{"authorId": "1", "name": "Ada Lovelace"}]},
 {"paperId": "def456", "title": "Private federated learning", "abstract": "Clients train.", "publicationDate": "2022-03-01", "authors": []}
]}
"#;
    let (_dir, path) = temp_file("search.json", s2);
    let events = read_all(&path, None);
    assert!(rejected(&events).is_empty(), "{events:?}");
    let got = papers(&events);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].0.id.as_str(), got[0].1), ("abc123", 2));
    assert_eq!(got[0].0.authors, ["Ada Lovelace"]);
    assert_eq!(got[1].0.date.as_deref(), Some("2022-03-01"));
    // An OpenAlex work as JSON lines: the abstract rebuilt from its index.
    let openalex = br#"{"id": "https://openalex.org/W1", "title": "The state of OA", "abstract_inverted_index": {"Despite": [0], "growing": [1], "interest": [2]}, "authorships": [{"author": {"display_name": "H. Piwowar"}}]}
"#;
    let (_dir, path) = temp_file("works.jsonl", openalex);
    let events = read_all(&path, None);
    let got = papers(&events);
    assert_eq!(got[0].0.abstract_text, "Despite growing interest");
    assert_eq!(got[0].0.authors, ["H. Piwowar"]);
    // Crossref's works answer as `curl` saves it: on one line, the works
    // two levels down, titles as lists, abstracts in JATS.
    let crossref = br#"{"status":"ok","message-type":"work-list","message":{"facets":{},"total-results":2,"items":[{"DOI":"10.1000/xyz123","title":["Sparse attention for long documents"],"abstract":"<jats:p>We propose a sparse attention pattern.</jats:p>","author":[{"given":"Maja","family":"Lindqvist"}],"issued":{"date-parts":[[2021,5,4]]}},{"DOI":"10.1000/abc","title":["Graph neural networks"],"issued":{"date-parts":[[2020]]}}]}}"#;
    let (_dir, path) = temp_file("works.json", crossref);
    let events = read_all(&path, None);
    assert!(rejected(&events).is_empty(), "{events:?}");
    let got = papers(&events);
    let seen: Vec<(&str, &str, usize)> = got
        .iter()
        .map(|(p, line)| (p.id.as_str(), p.title.as_str(), *line))
        .collect();
    assert_eq!(
        seen,
        [
            ("10.1000/xyz123", "Sparse attention for long documents", 1),
            ("10.1000/abc", "Graph neural networks", 1)
        ]
    );
    assert_eq!(
        got[0].0.abstract_text,
        "We propose a sparse attention pattern."
    );
    assert_eq!(got[0].0.authors, ["Maja Lindqvist"]);
    assert_eq!(got[0].0.date.as_deref(), Some("2021-05-04"));
}

#[test]
fn ris_and_medline_exports_are_read_as_papers() {
    let ris = fixture("references.ris");
    assert_eq!(detect_format(&ris).unwrap(), Format::Ris);
    let events = read_all(&ris, None);
    assert!(rejected(&events).is_empty(), "{events:#?}");
    let got = papers(&events);
    let summary: Vec<(&str, &str, usize)> = got
        .iter()
        .map(|(p, line)| (p.id.as_str(), p.title.as_str(), *line))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "10.1000/sparse.2021.17",
                "Sparse attention for long documents",
                1
            ),
            (
                "2004.01234",
                "Graph neural networks for molecule property prediction",
                13
            ),
            ("brandt2019", "Reinforcement learning in practice", 21),
        ]
    );
    assert!(got[0]
        .0
        .abstract_text
        .ends_with("grows linearly with the length."));
    assert_eq!(got[0].0.authors, ["Lindqvist, Maja", "Okafor, Chidi"]);
    assert_eq!(got[0].0.date.as_deref(), Some("2021-05-04"));
    assert_eq!(got[0].0.extra["t2"], "Journal of Long Texts");
    assert_eq!(
        got[1].0.abstract_text,
        "Message passing networks predict the properties of molecules from their graphs."
    );
    // The book has no abstract: kept, with the shared warning.
    let warned: Vec<usize> = warnings(&events).iter().map(|w| w.line).collect();
    assert_eq!(warned, [21]);

    let medline = fixture("pubmed.nbib");
    assert_eq!(detect_format(&medline).unwrap(), Format::Ris);
    let events = read_all(&medline, None);
    let got = papers(&events);
    assert_eq!(got.len(), 2, "{events:#?}");
    assert_eq!(
        got[0].0.title,
        "Deep learning detects diabetic retinopathy in fundus photographs of primary care patients."
    );
    assert_eq!(got[0].0.id, "10.1000/retina.2018.5");
    assert_eq!(got[0].0.authors, ["Moreau, Claire", "Tanaka, Hiro"]);
    assert_eq!((got[1].0.id.as_str(), got[1].1), ("pmid:30001002", 16));
    assert!(got[1]
        .0
        .abstract_text
        .starts_with("Fine-tuned language models write"));

    // Saved by PubMed as .txt, the same records.
    let text = std::fs::read(&medline).unwrap();
    let (_dir, txt) = temp_file("pubmed-set.txt", &text);
    assert_eq!(detect_format(&txt).unwrap(), Format::Ris);

    // Web of Science's two exports, both saved as savedrecs.txt: plain
    // text, and tab-delimited with the same tags as column names.
    let plain = "\u{feff}FN Clarivate Analytics Web of Science\nVR 1.0\nPT J\nAU Doe, J\n\
                 AF Doe, Jane\nTI Sparse attention\nAB We propose it.\nPY 2021\n\
                 UT WOS:000123\nER\n\nEF\n";
    let tabbed = "PT\tAU\tAF\tTI\tAB\tPY\tUT\nJ\tDoe, J\tDoe, Jane\tSparse attention\t\
                  We propose it.\t2021\tWOS:000123\n";
    for (text, format) in [(plain, Format::Ris), (tabbed, Format::Csv)] {
        let (_dir, path) = temp_file("savedrecs.txt", text.as_bytes());
        assert_eq!(detect_format(&path).unwrap(), format);
        let events = read_all(&path, None);
        let got = papers(&events);
        assert_eq!(got.len(), 1, "{events:?}");
        let paper = got[0].0;
        assert_eq!(
            (
                paper.id.as_str(),
                paper.title.as_str(),
                paper.abstract_text.as_str()
            ),
            ("WOS:000123", "Sparse attention", "We propose it.")
        );
        assert_eq!(paper.authors, ["Doe, Jane"]);
    }
}

#[test]
fn rss_and_atom_feeds_are_read_as_papers() {
    let rss = fixture("arxiv-new.rss");
    assert_eq!(detect_format(&rss).unwrap(), Format::Feed);
    let events = read_all(&rss, None);
    assert_rejections(&events, &[(34, "this <item> has no title")]);
    let got = papers(&events);
    let seen: Vec<(&str, usize)> = got.iter().map(|(p, l)| (p.id.as_str(), *l)).collect();
    assert_eq!(seen, [("2303.01234", 10), ("2303.05678", 23)]);
    assert!(got[0]
        .0
        .abstract_text
        .starts_with("We propose a sparse attention pattern"));
    assert!(got[1]
        .0
        .abstract_text
        .ends_with("with H2O as the smallest example."));
    assert_eq!(got[1].0.categories, ["cs.LG", "q-bio.BM"]);

    // The arXiv API's Atom answer, saved without an extension.
    let atom = br#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <entry>
    <id>http://arxiv.org/abs/1706.03762v7</id>
    <title>Attention Is All You Need</title>
    <summary>The dominant sequence transduction models.</summary>
    <author><name>Ashish Vaswani</name></author>
  </entry>
</feed>
"#;
    let (_dir, path) = temp_file("query", atom);
    assert_eq!(detect_format(&path).unwrap(), Format::Feed);
    let events = read_all(&path, None);
    let got = papers(&events);
    assert_eq!((got[0].0.id.as_str(), got[0].1), ("1706.03762", 3));
    assert_eq!(got[0].0.authors, ["Ashish Vaswani"]);
}

#[test]
fn endnote_xml_exports_are_read_as_papers() {
    let xml = fixture("endnote.xml");
    assert_eq!(detect_format(&xml).unwrap(), Format::Endnote);
    let events = read_all(&xml, None);
    assert!(rejected(&events).is_empty(), "{events:?}");
    let got = papers(&events);
    let seen: Vec<(&str, &str, usize)> = got
        .iter()
        .map(|(p, l)| (p.id.as_str(), p.title.as_str(), *l))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "10.1000/sparse.2021.17",
                "Sparse attention for long documents",
                2
            ),
            (
                "2004.01234",
                "Graph neural networks for molecule property prediction",
                11
            )
        ]
    );
    assert_eq!(got[0].0.authors, ["Lindqvist, Maja", "Okafor, Chidi"]);
    // An XML file that is neither a feed nor EndNote's says what it is not.
    let (_dir, path) = temp_file("other.xml", b"<?xml version=\"1.0\"?>\n<svg><g/></svg>\n");
    let events = read_all(&path, None);
    assert!(
        rejected(&events)[0]
            .message
            .contains("not an RSS or Atom feed"),
        "{events:?}"
    );
}
