//! Every paper reader over arbitrary bytes: the first byte picks the format
//! (JSONL, arXiv, CSV, BibTeX, RIS, feed, EndNote, digest page), the rest is
//! the file. Reading
//! must not panic, and every problem must name a line of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relate::corpus::{read_input, Format, Input, ReadEvent};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (format, name) = match pick % 8 {
        0 => (Format::Jsonl, "papers.jsonl"),
        1 => (Format::Arxiv, "arxiv.json"),
        2 => (Format::Csv, "papers.csv"),
        3 => (Format::Bibtex, "library.bib"),
        4 => (Format::Ris, "references.ris"),
        5 => (Format::Feed, "feed.rss"),
        6 => (Format::Endnote, "endnote.xml"),
        _ => (Format::Digest, "digest.txt"),
    };
    let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;
    match read_input(Input::from_bytes(body.to_vec(), name), Some(format)) {
        Ok(reader) => {
            for event in reader {
                if let ReadEvent::Rejected(p) | ReadEvent::Warning(p) = event {
                    assert!((1..=lines).contains(&p.line), "{p}");
                }
            }
        }
        Err(relate::Error::BadRecord { line, .. }) => assert!((1..=lines).contains(&line)),
        Err(e) => panic!("a failure that names no line: {e}"),
    }
});
