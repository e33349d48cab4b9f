//! The library on disk, end to end: round trips, change detection, refusals
//! with helpful messages, title lookup, a vector file behind the database
//! or lost, older formats moving on, and crash safety under SIGKILL of a
//! writing process.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use relate::corpus::Paper;
use relate::store::{Change, Library, ModelInfo, TitleMatch, FORMAT_VERSION};
use relate::Error;
use sha2::{Digest, Sha256};

const DIM: usize = 8;

fn model() -> ModelInfo {
    ModelInfo {
        id: "test/model".into(),
        dim: DIM,
        fingerprint: None,
    }
}

fn paper(id: &str, title: &str, abstract_text: &str) -> Paper {
    Paper {
        id: id.into(),
        title: title.into(),
        abstract_text: abstract_text.into(),
        ..Paper::default()
    }
}

/// A deterministic unit vector standing in for the embedding of `text`.
fn vector_for(text: &str) -> Vec<f32> {
    let hash = Sha256::digest(text.as_bytes());
    let raw: Vec<f32> = hash[..DIM].iter().map(|&b| f32::from(b) + 1.0).collect();
    let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
    raw.iter().map(|v| v / norm).collect()
}

fn with_vectors(papers: &[Paper]) -> Vec<(Paper, Option<Vec<f32>>)> {
    papers
        .iter()
        .map(|p| (p.clone(), Some(vector_for(&p.embedding_text()))))
        .collect()
}

fn sample() -> Vec<Paper> {
    let mut rich = paper(
        "2401.00001",
        "Attention Is All You Need",
        "The dominant sequence transduction models are based on recurrent networks.",
    );
    rich.authors = vec!["A. Vaswani".into(), "N. Shazeer".into()];
    rich.date = Some("2017-06-12".into());
    rich.categories = vec!["cs.CL".into()];
    rich.url = Some("https://arxiv.org/abs/1706.03762".into());
    rich.extra
        .insert("citations".into(), serde_json::json!(1.5e5));
    vec![
        rich,
        paper(
            "b",
            "Attention is not all you need",
            "Pure attention loses rank.",
        ),
        paper(
            "c",
            "Deep residual learning for image recognition",
            "Residual nets.",
        ),
    ]
}

/// Checks that the vector view, the papers and the vectors agree: one
/// vector per paper, in slot order, each the vector of the paper's text.
fn assert_consistent(library: &Library) {
    let view = library.vectors().unwrap();
    let papers = library.all_papers().unwrap();
    assert_eq!(view.len(), papers.len());
    assert_eq!(library.len(), papers.len());
    assert_eq!(view.as_slice().len(), papers.len() * DIM);
    for (slot, p) in papers.iter().enumerate() {
        assert_eq!(
            view.vector(slot as u32).unwrap(),
            &vector_for(&p.embedding_text())[..],
            "vector of slot {slot} ({}) does not match its text",
            p.id
        );
    }
}

#[test]
fn papers_and_vectors_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let papers = sample();
    {
        let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
        assert!(lib.is_empty());
        let s = lib.upsert(with_vectors(&papers)).unwrap();
        assert_eq!((s.added, s.unchanged, s.generation), (3, 0, 1));
        assert!(lib.index_dir().is_dir());
    }
    let lib = Library::open(dir.path()).unwrap();
    assert_eq!(lib.manifest().model, model());
    assert_eq!(lib.len(), 3);
    assert_eq!(lib.all_papers().unwrap(), papers);
    assert_eq!(
        lib.paper_by_id("2401.00001").unwrap().as_ref(),
        Some(&papers[0])
    );
    assert_eq!(lib.paper_by_id("nope").unwrap(), None);
    assert_eq!(lib.slot_of("c").unwrap(), Some(2));
    assert_eq!(
        lib.papers_by_slots(&[2, 0]).unwrap(),
        vec![papers[2].clone(), papers[0].clone()]
    );
    assert!(lib.papers_by_slots(&[3]).is_err());
    let view = lib.vectors().unwrap();
    assert_eq!((view.len(), view.dim(), view.generation()), (3, DIM, 1));
    assert_consistent(&lib);
    assert!(lib.size_on_disk().unwrap() > (3 * DIM * 4) as u64);
}

#[test]
fn storing_the_same_papers_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    let papers = sample();
    lib.upsert(with_vectors(&papers)).unwrap();
    let before = lib.vectors().unwrap().as_slice().to_vec();

    assert_eq!(lib.classify(&papers).unwrap(), vec![Change::Unchanged; 3]);
    let again: Vec<_> = papers.iter().map(|p| (p.clone(), None)).collect();
    let s = lib.upsert(again).unwrap();
    assert_eq!((s.added, s.text_changed, s.metadata_changed), (0, 0, 0));
    assert_eq!((s.unchanged, s.generation), (3, 1));
    // Same vectors given again are not a change either.
    let s = lib.upsert(with_vectors(&papers)).unwrap();
    assert_eq!((s.unchanged, s.vectors_replaced, s.generation), (3, 0, 1));
    assert_eq!(lib.len(), 3);
    assert_eq!(lib.generation().unwrap(), 1);
    assert_eq!(lib.vectors().unwrap().as_slice(), &before[..]);
}

#[test]
fn a_changed_abstract_updates_only_that_paper() {
    let dir = tempfile::tempdir().unwrap();
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    let papers = sample();
    lib.upsert(with_vectors(&papers)).unwrap();
    let before = lib.vectors().unwrap().as_slice().to_vec();

    let mut incoming = papers.clone();
    incoming[1].abstract_text = "Attention without skip connections loses rank doubly.".into();
    incoming[2].authors = vec!["K. He".into()];
    incoming.push(paper("d", "A new paper", "Brand new."));
    let changes = lib.classify(&incoming).unwrap();
    assert_eq!(
        changes,
        [
            Change::Unchanged,
            Change::TextChanged,
            Change::MetadataChanged,
            Change::New
        ]
    );
    let batch = incoming
        .iter()
        .zip(&changes)
        .map(|(p, c)| {
            let v = c.needs_vector().then(|| vector_for(&p.embedding_text()));
            (p.clone(), v)
        })
        .collect();
    let s = lib.upsert(batch).unwrap();
    assert_eq!(
        (s.added, s.text_changed, s.metadata_changed, s.unchanged),
        (1, 1, 1, 1)
    );
    assert_eq!(s.generation, 2);
    assert_eq!(lib.all_papers().unwrap(), incoming);
    let after = lib.vectors().unwrap();
    assert_eq!(after.len(), 4);
    assert_eq!(after.vector(0).unwrap(), &before[0..DIM]);
    assert_ne!(after.vector(1).unwrap(), &before[DIM..2 * DIM]);
    assert_eq!(after.vector(2).unwrap(), &before[2 * DIM..3 * DIM]);
    assert_consistent(&lib);
    assert_eq!(lib.classify(&incoming).unwrap(), vec![Change::Unchanged; 4]);
}

#[test]
fn another_model_dimension_or_format_version_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
        lib.upsert(with_vectors(&sample())).unwrap();
    }
    let other = ModelInfo {
        id: "other/model".into(),
        dim: DIM,
        fingerprint: None,
    };
    let err = Library::open_or_create(dir.path(), &other).unwrap_err();
    assert!(matches!(err, Error::StoreModelMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("test/model") && msg.contains("other/model"),
        "{msg}"
    );
    assert!(
        msg.contains("test/model model folder")
            && msg.contains("--model")
            && msg.contains("--store"),
        "{msg}"
    );

    let wider = ModelInfo { dim: 16, ..model() };
    let err = Library::open_or_create(dir.path(), &wider).unwrap_err();
    assert!(err.to_string().contains("16 dimensions"), "{err}");

    // A query handle checks the model it is about to use.
    let lib = Library::open(dir.path()).unwrap();
    assert!(lib.check_model(&model()).is_ok());
    assert!(lib.check_model(&other).is_err());
    drop(lib);

    let manifest = dir.path().join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let newer = text.replace(
        &format!("\"format_version\": {FORMAT_VERSION}"),
        "\"format_version\": 99",
    );
    assert_ne!(text, newer);
    std::fs::write(&manifest, newer).unwrap();
    let err = Library::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::StoreFormatVersion { found: 99, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("manifest.json") && msg.contains("--store"),
        "{msg}"
    );
}

fn fingerprinted(id: &str, fingerprint: char) -> ModelInfo {
    ModelInfo {
        id: id.into(),
        dim: DIM,
        fingerprint: Some(fingerprint.to_string().repeat(64)),
    }
}

#[test]
fn the_model_is_known_by_its_fingerprint_not_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let made_with = fingerprinted("test/model", 'a');
    {
        let mut lib = Library::open_or_create(dir.path(), &made_with).unwrap();
        lib.upsert(with_vectors(&sample())).unwrap();
    }
    let lib = Library::open(dir.path()).unwrap();
    assert_eq!(lib.manifest().format_version, FORMAT_VERSION);
    assert_eq!(lib.manifest().model, made_with);

    // The same model in a folder of another name is the library's model.
    let renamed = fingerprinted("renamed-model", 'a');
    lib.check_model(&renamed).unwrap();
    drop(lib);
    Library::open_or_create(dir.path(), &renamed).unwrap();
    assert_eq!(
        Library::open(dir.path()).unwrap().manifest().model.id,
        "test/model",
        "the recorded name stays"
    );

    // Another model in a folder of the same name is refused, naming both.
    let impostor = fingerprinted("test/model", 'b');
    let err = Library::open_or_create(dir.path(), &impostor).unwrap_err();
    assert!(
        matches!(err, Error::StoreModelFingerprintMismatch { .. }),
        "{err}"
    );
    let msg = err.to_string();
    for part in [
        "test/model",
        "aaaaaaaaaaaa",
        "bbbbbbbbbbbb",
        "--model",
        "--store",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    assert!(!msg.contains(&"a".repeat(13)), "short forms only: {msg}");
    let lib = Library::open(dir.path()).unwrap();
    assert!(lib.check_model(&impostor).is_err());
    // A caller that does not know the fingerprint is matched by name.
    lib.check_model(&model()).unwrap();
}

#[test]
fn a_version_1_library_is_read_and_upgraded_on_its_next_write() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
        lib.upsert(with_vectors(&sample())).unwrap();
    }
    common::downgrade_to_version_1(dir.path());
    let manifest_before = std::fs::read(dir.path().join("manifest.json")).unwrap();

    // Read as it is, matched by name, and not written by a reader.
    let lib = Library::open(dir.path()).unwrap();
    assert_eq!(lib.manifest().format_version, 1);
    assert_eq!(lib.manifest().model.fingerprint, None);
    let known = fingerprinted("test/model", 'c');
    lib.check_model(&known).unwrap();
    assert!(lib.check_model(&fingerprinted("renamed", 'c')).is_err());
    assert_eq!(lib.len(), sample().len());
    drop(lib);
    assert_eq!(
        std::fs::read(dir.path().join("manifest.json")).unwrap(),
        manifest_before
    );

    // The next writer records the fingerprint and the new version.
    drop(Library::open_or_create(dir.path(), &known).unwrap());
    let lib = Library::open(dir.path()).unwrap();
    assert_eq!(lib.manifest().format_version, FORMAT_VERSION);
    assert_eq!(lib.manifest().model, known);
    assert_eq!(lib.len(), sample().len());
    drop(lib);

    // Even with the manifest lost, the database keeps the fingerprint.
    std::fs::remove_file(dir.path().join("manifest.json")).unwrap();
    let lib = Library::open(dir.path()).unwrap();
    assert_eq!(lib.manifest().model, known);
    assert!(lib.check_model(&fingerprinted("test/model", 'd')).is_err());
}

#[test]
fn bad_or_missing_vectors_fail_the_batch_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    lib.upsert(with_vectors(&sample()[..1])).unwrap();

    let good = paper("good", "Good", "Fine.");
    let short = paper("short", "Short", "Too few dimensions.");
    let nan = paper("nan", "NaN", "Broken embedding.");
    let mut nan_vector = vector_for("x");
    nan_vector[3] = f32::NAN;

    let err = lib
        .upsert(vec![
            (good.clone(), Some(vector_for("good"))),
            (short, Some(vec![0.5; DIM - 1])),
        ])
        .unwrap_err();
    match &err {
        Error::WrongVectorDimension {
            id,
            expected,
            received,
        } => assert_eq!((id.as_str(), *expected, *received), ("short", DIM, DIM - 1)),
        other => panic!("unexpected error {other}"),
    }
    let err = lib
        .upsert(vec![
            (good.clone(), Some(vector_for("good"))),
            (nan, Some(nan_vector)),
        ])
        .unwrap_err();
    assert!(
        matches!(err, Error::NonFiniteVector { index: 3, .. }),
        "{err}"
    );
    // A new paper without a vector fails inside the transaction.
    let err = lib
        .upsert(vec![
            (good.clone(), Some(vector_for("good"))),
            (paper("novec", "No vector", ""), None),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::MissingVector { .. }), "{err}");

    assert_eq!(lib.len(), 1);
    assert_eq!(lib.generation().unwrap(), 1);
    assert_eq!(lib.paper_by_id("good").unwrap(), None);
    assert_consistent(&lib);
}

#[test]
fn titles_are_found_exactly_closely_or_reported_as_ambiguous() {
    let dir = tempfile::tempdir().unwrap();
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    let mut papers = sample();
    papers.push(paper("d", "Graph neural networks for chemistry", ""));
    papers.push(paper("e", "Graph attention networks in vision", ""));
    papers.push(paper(
        "f",
        "Deep Residual Learning for Image Recognition",
        "A second copy.",
    ));
    lib.upsert(with_vectors(&papers)).unwrap();

    let id = |m: TitleMatch| match m {
        TitleMatch::Exact(p) => format!("exact {}", p.id),
        TitleMatch::Closest(p) => format!("closest {}", p.id),
        TitleMatch::Ambiguous(ps) => {
            let ids: Vec<_> = ps.iter().map(|p| p.id.as_str()).collect();
            format!("ambiguous {}", ids.join(","))
        }
        TitleMatch::NotFound => "not found".into(),
    };
    let find = |t: &str| id(lib.find_by_title(t).unwrap());
    assert_eq!(find("attention is all you need"), "exact 2401.00001");
    assert_eq!(find("  ATTENTION is NOT all  you need "), "exact b");
    assert_eq!(find("attention all you need"), "closest 2401.00001");
    assert_eq!(find("graph chemistry"), "closest d");
    assert_eq!(find("atention is all you need"), "closest 2401.00001");
    assert_eq!(find("graph networks"), "ambiguous d,e");
    assert_eq!(
        find("deep residual learning for image recognition"),
        "ambiguous c,f"
    );
    assert_eq!(find("quantum chromodynamics on the lattice"), "not found");
    assert_eq!(find("  "), "not found");
}

#[test]
fn a_vector_file_behind_the_database_is_read_around_by_readers_and_caught_up_by_writers() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = dir.path().join("vectors.f32");
    let papers = sample();
    let behind;
    {
        let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
        lib.upsert(with_vectors(&papers[..2])).unwrap();
        lib.upsert(with_vectors(&papers[2..])).unwrap();
        let mut reworded = papers[0].clone();
        reworded.abstract_text = "Reworded.".into();
        lib.upsert(with_vectors(&[reworded])).unwrap();
        // A re-worded paper's vector waits in the database for the file.
        behind = std::fs::read(&vectors).unwrap();
    }
    // A reader reads the file and the database's newer vectors, and leaves
    // the file alone; a writer catches up.
    let lib = Library::open(dir.path()).unwrap();
    assert_eq!(lib.vectors().unwrap().generation(), 3);
    assert_consistent(&lib);
    assert_eq!(std::fs::read(&vectors).unwrap(), behind, "a reader wrote");
    drop(lib);
    let lib = Library::open_or_create(dir.path(), &model()).unwrap();
    assert_eq!(lib.vectors().unwrap().generation(), 3);
    assert_ne!(std::fs::read(&vectors).unwrap(), behind);
    assert_consistent(&lib);
    drop(lib);

    // A header torn by a crash hides nothing: the rows behind it are
    // checked against the database.
    let mut torn = std::fs::read(&vectors).unwrap();
    torn[..16].fill(0);
    std::fs::write(&vectors, &torn).unwrap();
    assert_consistent(&Library::open(dir.path()).unwrap());
    assert_eq!(std::fs::read(&vectors).unwrap(), torn, "a reader wrote");
    let lib = Library::open_for_update(dir.path(), Duration::ZERO).unwrap();
    assert_consistent(&lib);
    assert_ne!(std::fs::read(&vectors).unwrap(), torn);
}

#[test]
fn vectors_lost_with_the_vector_file_are_named_then_marked_by_repair_and_restored_by_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = dir.path().join("vectors.f32");
    let papers = sample();
    let first_two;
    {
        let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
        lib.upsert(with_vectors(&papers[..2])).unwrap();
        first_two = std::fs::read(&vectors).unwrap();
        lib.upsert(with_vectors(&papers[2..])).unwrap();
        lib.vectors().unwrap();
    }
    // New papers' vectors are kept once, in the file: losing it loses
    // them, and every reader and writer says which.
    let ids: Vec<&str> = papers.iter().map(|p| p.id.as_str()).collect();
    for (damage, lost) in [
        (None, ids.clone()),
        (Some(b"garbage".to_vec()), ids.clone()),
        (Some(first_two.clone()), ids[2..].to_vec()),
    ] {
        match &damage {
            None => std::fs::remove_file(&vectors).unwrap(),
            Some(bytes) => std::fs::write(&vectors, bytes).unwrap(),
        }
        for writer in [false, true] {
            let lib = if writer {
                Library::open_for_update(dir.path(), Duration::ZERO).unwrap()
            } else {
                Library::open(dir.path()).unwrap()
            };
            let err = lib.vectors().unwrap_err().to_string();
            for id in &lost {
                assert!(err.contains(id), "{id} is not named: {err}");
            }
            assert!(err.contains(&format!("of {} papers", lost.len())), "{err}");
            assert!(err.contains("relate repair"), "{err}");
        }
    }

    // Repair makes the library whole, naming the papers whose vectors are
    // gone; they match nothing until ingested again, which embeds them.
    let mut lib = Library::open_for_update(dir.path(), Duration::ZERO).unwrap();
    let (count, lost) = lib.rebuild_vectors_from_database().unwrap();
    assert_eq!((count, lost.ids), (3, vec![papers[2].id.clone()]));
    let view = lib.vectors().unwrap();
    assert!(view.vector(2).unwrap().iter().all(|&v| v == 0.0));
    assert_eq!(
        view.vector(1).unwrap(),
        &vector_for(&papers[1].embedding_text())[..]
    );
    let changes = lib.classify(&papers).unwrap();
    assert_eq!(
        changes,
        [Change::Unchanged, Change::Unchanged, Change::TextChanged]
    );
    drop(lib);
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    let done = lib.upsert(with_vectors(&papers)).unwrap();
    assert_eq!((done.text_changed, done.unchanged), (1, 2));
    assert_consistent(&lib);
    drop(lib);
    assert_consistent(&Library::open(dir.path()).unwrap());
}

#[cfg(unix)]
#[test]
fn added_papers_grow_the_vector_file_in_place_and_changed_ones_replace_it() {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let vectors = dir.path().join("vectors.f32");
    let inode = || std::fs::metadata(&vectors).unwrap().ino();
    let papers: Vec<Paper> = (0..30)
        .map(|i| {
            paper(
                &format!("p{i}"),
                &format!("Paper number {i}"),
                &format!("Abstract {i}."),
            )
        })
        .collect();
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    lib.upsert(with_vectors(&papers[..10])).unwrap();
    let before = lib.vectors().unwrap();
    let first_ten = before.as_slice().to_vec();
    let file = inode();

    lib.upsert(with_vectors(&papers[10..20])).unwrap();
    assert_eq!(lib.vectors().unwrap().len(), 20);
    assert_eq!(inode(), file, "papers only added: the file grows in place");
    assert_eq!(before.len(), 10);
    assert_eq!(
        before.as_slice(),
        &first_ten[..],
        "a mapped view does not change"
    );
    drop(lib);
    // A reader checks the whole body against the continued checksum.
    let reader = Library::open(dir.path()).unwrap();
    assert_eq!(reader.vectors().unwrap().generation(), 2);
    assert_consistent(&reader);
    drop(reader);

    // A batch that wrote its vectors and then crashed before committing
    // leaves rows past the header: the next batch writes over them.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&vectors)
        .unwrap()
        .write_all(&[7u8; DIM * 4 * 3])
        .unwrap();
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    lib.upsert(with_vectors(&papers[20..25])).unwrap();
    assert_consistent(&lib);
    assert_eq!(
        inode(),
        file,
        "rows past the header are written over in place"
    );

    // A changed vector is not an append: the file is replaced.
    let mut reworded = papers[3].clone();
    reworded.abstract_text = "Reworded.".into();
    lib.upsert(with_vectors(&[reworded])).unwrap();
    lib.upsert(with_vectors(&papers[25..])).unwrap();
    assert_eq!(
        whole_rows(dir.path()),
        1,
        "the new vector waits in the database"
    );
    assert_consistent(&lib);
    assert_ne!(inode(), file);
    assert_eq!(
        whole_rows(dir.path()),
        0,
        "and is kept once when the file has it"
    );
    let file = inode();
    lib.upsert(with_vectors(&papers[..1])).unwrap();
    lib.upsert(with_vectors(&[paper(
        "p30",
        "Paper number 30",
        "Abstract 30.",
    )]))
    .unwrap();
    assert_consistent(&lib);
    assert_eq!(inode(), file, "an unchanged paper stores no vector");
    drop(lib);
    assert_consistent(&Library::open(dir.path()).unwrap());
}

#[test]
fn a_damaged_database_is_reported_by_name_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
        lib.upsert(with_vectors(&sample())).unwrap();
    }
    let db = dir.path().join("library.sqlite");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("library.sqlite{suffix}")));
    }
    let garbage = vec![0x5a_u8; 8192];
    std::fs::write(&db, &garbage).unwrap();
    let err = Library::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::StoreCorrupt { .. }), "{err}");
    assert!(err.to_string().contains("library.sqlite"), "{err}");
    assert!(Library::open_or_create(dir.path(), &model()).is_err());
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

#[test]
fn an_empty_folder_is_not_a_library_and_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let err = Library::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::StoreMissing { .. }), "{err}");
    assert!(err.to_string().contains("ingest"), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    // A file is not a library folder, and is left alone.
    let file = dir.path().join("papers.jsonl");
    std::fs::write(&file, "{}\n").unwrap();
    for err in [
        Library::open(&file).unwrap_err(),
        Library::open_or_create(&file, &model()).unwrap_err(),
        Library::open_for_update(&file, std::time::Duration::ZERO).unwrap_err(),
    ] {
        assert!(matches!(err, Error::StoreNotFolder { .. }), "{err}");
        assert!(err.to_string().contains("not a folder"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}\n");
    std::fs::remove_file(&file).unwrap();
    // Nor does a command that updates a library leave a lock file there.
    let err = Library::open_for_update(dir.path(), std::time::Duration::ZERO).unwrap_err();
    assert!(matches!(err, Error::StoreMissing { .. }), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn a_lost_manifest_is_restored_from_the_database() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
        lib.upsert(with_vectors(&sample())).unwrap();
    }
    let manifest = dir.path().join("manifest.json");
    let text = std::fs::read(&manifest).unwrap();
    std::fs::remove_file(&manifest).unwrap();
    let lib = Library::open(dir.path()).unwrap();
    assert_eq!(lib.manifest().model, model());
    assert_eq!(lib.len(), 3);
    assert!(!manifest.exists(), "a reader restores it in memory only");
    drop(lib);
    let lib = Library::open_for_update(dir.path(), Duration::ZERO).unwrap();
    assert_eq!(std::fs::read(&manifest).unwrap(), text);
    assert_eq!(lib.len(), 3);
}

#[test]
fn temporary_files_of_killed_writers_are_removed_by_the_next_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("library");
    {
        let mut library = Library::open_or_create(&store, &model()).unwrap();
        library.upsert(with_vectors(&sample())).unwrap();
        library.vectors().unwrap();
    }
    // What a writer killed halfway through a replacement leaves: no one
    // holds a lock on these any more.
    let stale = [
        store.join(".vectors.f32.tmp-4000000-0"),
        store.join(".manifest.json.tmp-4000000-1"),
        store.join("index").join(".topics.json.tmp-4000000-2"),
    ];
    for path in &stale {
        std::fs::write(path, "half written").unwrap();
    }
    let reader = Library::open(&store).unwrap();
    assert!(stale.iter().all(|p| p.exists()), "readers leave them alone");
    drop(reader);
    let library = Library::open_or_create(&store, &model()).unwrap();
    for path in &stale {
        assert!(!path.exists(), "{} was not removed", path.display());
    }
    assert_consistent(&library);
}

#[test]
fn only_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = Library::open_or_create(dir.path(), &model()).unwrap();
    let err = Library::open_or_create(dir.path(), &model()).unwrap_err();
    assert!(matches!(err, Error::StoreBusy { .. }), "{err}");
    let err = Library::open_for_update(dir.path(), Duration::from_millis(200)).unwrap_err();
    match &err {
        Error::StoreBusy { holder, .. } => assert!(
            holder.contains(&format!("process {}", std::process::id())),
            "{err}"
        ),
        other => panic!("expected StoreBusy, got {other}"),
    }
    // Readers are not blocked.
    Library::open(dir.path()).unwrap();
    drop(first);
    Library::open_or_create(dir.path(), &model()).unwrap();
}

#[test]
fn a_waiting_writer_gets_the_library_when_the_first_one_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let first = Library::open_or_create(dir.path(), &model()).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(first);
    });
    let second = Library::open_for_update(dir.path(), Duration::from_secs(60));
    release.join().unwrap();
    assert!(second.is_ok(), "{:?}", second.err());
}

// ---------------------------------------------------------------------------
// Crash safety: a child process writes batches until it is killed.

const CRASH_DIR_ENV: &str = "RELATE_STORE_CRASH_DIR";
const NEW_PER_BATCH: usize = 40;
const REWORDED_PER_BATCH: usize = 10;
const RETAGGED_PER_BATCH: usize = 5;
const MAX_BATCHES: usize = 100_000;

/// Paper `i` of batch `j` as it stands after `done` batches were committed:
/// batch `j + 1` rewords the first papers of batch `j`, and batch `j + 2`
/// changes the authors of the next few.
fn crash_paper(j: usize, i: usize, done: usize) -> Paper {
    let mut p = paper(
        &format!("p{j}-{i}"),
        &format!("Paper {i} of batch {j}"),
        &format!("Original abstract {j}/{i}."),
    );
    if i < REWORDED_PER_BATCH && done > j + 1 {
        p.abstract_text = format!("Reworded abstract {j}/{i}.");
    }
    let retagged = (REWORDED_PER_BATCH..REWORDED_PER_BATCH + RETAGGED_PER_BATCH).contains(&i);
    if retagged && done > j + 2 {
        p.authors = vec![format!("Author {j}")];
    }
    p
}

/// The batch that takes a library from `done` batches to `done + 1`.
fn crash_batch(done: usize) -> Vec<(Paper, Option<Vec<f32>>)> {
    let k = done;
    let mut batch: Vec<Paper> = (0..NEW_PER_BATCH)
        .map(|i| crash_paper(k, i, k + 1))
        .collect();
    if k >= 1 {
        batch.extend((0..REWORDED_PER_BATCH).map(|i| crash_paper(k - 1, i, k + 1)));
    }
    if k >= 2 {
        let retagged = REWORDED_PER_BATCH..REWORDED_PER_BATCH + RETAGGED_PER_BATCH;
        batch.extend(retagged.map(|i| crash_paper(k - 2, i, k + 1)));
    }
    // Leave the metadata-only changes without vectors, as an ingest would.
    batch
        .into_iter()
        .map(|p| {
            let v = p
                .authors
                .is_empty()
                .then(|| vector_for(&p.embedding_text()));
            (p, v)
        })
        .collect()
}

/// The writer run in the child process; not a test of its own.
#[test]
#[ignore = "run as a child process by crash_at_random_moments_leaves_a_consistent_library"]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let mut lib = Library::open_or_create(dir, &model()).unwrap();
    let done = lib.len() / NEW_PER_BATCH;
    for k in done..MAX_BATCHES {
        lib.upsert(crash_batch(k)).unwrap();
        if k % 4 == 3 {
            // Rebuild the vector file now and then, to be killed inside that too.
            lib.vectors().unwrap();
        }
    }
}

#[test]
fn crash_at_random_moments_leaves_a_consistent_library() {
    let seed: u64 = std::env::var("RELATE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash test seed: {seed} (rerun with RELATE_CRASH_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut last_done = 0;
    let mut kills_after_progress = 0;
    for round in 0..8 {
        let delay = Duration::from_millis(rng.random_range(30..700));
        let mut child = Command::new(&exe)
            .args([
                "crash_writer_child",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CRASH_DIR_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let still_running = child.try_wait().unwrap().is_none();
        assert!(
            still_running,
            "the writer stopped on its own in round {round}"
        );
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        if !dir.path().join("manifest.json").exists() && !dir.path().join("library.sqlite").exists()
        {
            continue; // killed before creating anything
        }
        let lib = match Library::open(dir.path()) {
            Ok(lib) => lib,
            // Killed before the first batch completed creation.
            Err(Error::StoreMissing { .. }) if last_done == 0 => continue,
            Err(e) => panic!("round {round} (seed {seed}): library does not open: {e}"),
        };
        let len = lib.len();
        assert_eq!(
            len % NEW_PER_BATCH,
            0,
            "round {round} (seed {seed}): {len} papers is not a committed state"
        );
        let done = len / NEW_PER_BATCH;
        assert!(
            done >= last_done,
            "round {round}: committed batches were lost"
        );
        let expected: Vec<Paper> = (0..done)
            .flat_map(|j| (0..NEW_PER_BATCH).map(move |i| crash_paper(j, i, done)))
            .collect();
        let stored = lib.all_papers().unwrap();
        assert!(
            stored == expected,
            "round {round} (seed {seed}): papers after {done} batches differ from that state"
        );
        assert_consistent(&lib);
        assert_eq!(lib.vectors().unwrap().generation(), done as u64);
        println!("round {round}: killed after {delay:?}, {done} batches committed");
        if done > last_done {
            kills_after_progress += 1;
        }
        last_done = done;
    }
    assert!(
        kills_after_progress >= 2,
        "the writer made progress in only {kills_after_progress} rounds; nothing was tested"
    );
}

#[test]
fn abstracts_are_read_by_slot_range_and_a_missing_slot_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    let papers = sample();
    lib.upsert(with_vectors(&papers)).unwrap();
    let expected: Vec<String> = papers.iter().map(|p| p.abstract_text.clone()).collect();
    assert_eq!(lib.abstracts_in(0..3).unwrap(), expected);
    assert_eq!(lib.abstracts_in(1..2).unwrap(), expected[1..2]);
    assert!(lib.abstracts_in(3..3).unwrap().is_empty());
    let err = lib.abstracts_in(1..5).unwrap_err().to_string();
    assert!(err.contains("slot 3"), "{err}");
}

/// How many vectors the library in `dir` keeps whole in its database.
fn whole_rows(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join("library.sqlite"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM vectors WHERE length(vector) > 4",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// Papers p0, p1, ... with short distinct texts.
fn numbered_papers(n: usize) -> Vec<Paper> {
    (0..n)
        .map(|i| {
            paper(
                &format!("p{i}"),
                &format!("Paper {i}"),
                &format!("Text {i}."),
            )
        })
        .collect()
}

#[test]
fn a_version_2_library_keeps_its_vectors_and_stores_new_ones_once() {
    let dir = tempfile::tempdir().unwrap();
    let papers = numbered_papers(6);
    {
        let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
        lib.upsert(with_vectors(&papers[..3])).unwrap();
    }
    common::downgrade_to_version_2(dir.path());
    let lib = Library::open(dir.path()).unwrap();
    assert_eq!(lib.manifest().format_version, 2);
    assert_consistent(&lib);
    drop(lib);

    // Its next write moves it on; old vectors stay whole in the database,
    // new ones are kept in the file only.
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    lib.upsert(with_vectors(&papers[3..])).unwrap();
    assert_eq!(lib.manifest().format_version, FORMAT_VERSION);
    assert_consistent(&lib);
    drop(lib);
    assert_eq!(
        Library::open(dir.path()).unwrap().manifest().format_version,
        FORMAT_VERSION
    );

    // Without the file, the old vectors come back from the database and
    // only the new ones are lost.
    std::fs::remove_file(dir.path().join("vectors.f32")).unwrap();
    let err = Library::open(dir.path())
        .unwrap()
        .vectors()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("of 3 papers") && err.contains("(papers p3, p4, p5)"),
        "{err}"
    );
    let mut lib = Library::open_for_update(dir.path(), Duration::ZERO).unwrap();
    let (count, lost) = lib.rebuild_vectors_from_database().unwrap();
    assert_eq!(
        (count, lost.ids),
        (6, vec!["p3".into(), "p4".into(), "p5".into()])
    );
    let view = lib.vectors().unwrap();
    for (slot, p) in papers[..3].iter().enumerate() {
        assert_eq!(
            view.vector(slot as u32).unwrap(),
            &vector_for(&p.embedding_text())[..]
        );
    }
    drop(lib);
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    lib.upsert(with_vectors(&papers)).unwrap();
    assert_consistent(&lib);

    // The repair's new file took every vector the database kept whole, and
    // the re-ingested ones went in when the file was brought up to date:
    // each is kept once now, so losing the file loses all of them.
    assert_eq!(whole_rows(dir.path()), 0);
    assert_eq!(lib.keep_each_vector_once().unwrap(), 0);
    drop(lib);
    std::fs::remove_file(dir.path().join("vectors.f32")).unwrap();
    let err = Library::open(dir.path())
        .unwrap()
        .vectors()
        .unwrap_err()
        .to_string();
    assert!(err.contains("of 6 papers"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_header_left_behind_by_a_crash_is_mapped_past_by_readers_and_moved_on_by_writers() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let vectors = dir.path().join("vectors.f32");
    let papers = numbered_papers(8);
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    lib.upsert(with_vectors(&papers[..5])).unwrap();
    let old_header = std::fs::read(&vectors).unwrap()[..64].to_vec();
    lib.upsert(with_vectors(&papers[5..])).unwrap();
    drop(lib);
    // What a crash after the second batch's commit, before its header was
    // written, leaves.
    let mut bytes = std::fs::read(&vectors).unwrap();
    bytes[..64].copy_from_slice(&old_header);
    std::fs::write(&vectors, &bytes).unwrap();
    let inode = std::fs::metadata(&vectors).unwrap().ino();

    let reader = Library::open(dir.path()).unwrap();
    let view = reader.vectors().unwrap();
    assert_eq!(view.len(), 8);
    let mut out = vec![0f32; DIM];
    assert!(view.read_slot(7, &mut out).is_some(), "the file is mapped");
    assert_consistent(&reader);
    assert_eq!(std::fs::read(&vectors).unwrap(), bytes, "a reader wrote");
    drop(reader);

    // A damaged row past the header is not mapped over: it is named.
    let mut damaged = bytes.clone();
    damaged[64 + 6 * DIM * 4] ^= 1;
    std::fs::write(&vectors, &damaged).unwrap();
    let err = Library::open(dir.path()).unwrap().vectors().unwrap_err();
    assert!(err.to_string().contains("(papers p6)"), "{err}");
    std::fs::write(&vectors, &bytes).unwrap();

    let writer = Library::open_or_create(dir.path(), &model()).unwrap();
    assert_consistent(&writer);
    assert_ne!(std::fs::read(&vectors).unwrap()[..64], old_header[..]);
    assert_eq!(
        std::fs::metadata(&vectors).unwrap().ino(),
        inode,
        "grown in place"
    );
}

#[test]
fn repair_names_the_file_of_a_lost_paper_only_when_it_came_from_one() {
    let dir = tempfile::tempdir().unwrap();
    let papers = sample();
    {
        let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
        lib.upsert_from(with_vectors(&papers[..2]), Some("a.jsonl"))
            .unwrap();
        lib.upsert_from(with_vectors(&papers[1..]), Some("b.jsonl"))
            .unwrap();
        lib.vectors().unwrap();
    }
    std::fs::remove_file(dir.path().join("vectors.f32")).unwrap();
    let mut lib = Library::open_for_update(dir.path(), Duration::ZERO).unwrap();
    let (_, lost) = lib.rebuild_vectors_from_database().unwrap();
    assert_eq!(lost.ids.len(), 3);
    assert_eq!(
        lost.sources,
        [("a.jsonl".to_string(), 1), ("b.jsonl".to_string(), 1)]
    );
    assert_eq!(lost.from_several_files, 1, "the paper given by both files");
}

#[test]
fn an_id_is_found_in_any_spelling_of_an_arxiv_id_or_doi() {
    let dir = tempfile::tempdir().unwrap();
    let mut lib = Library::open_or_create(dir.path(), &model()).unwrap();
    let papers = [
        paper("https://arxiv.org/abs/2301.00001v2", "One", "a"),
        paper("https://doi.org/10.1000/A_B", "Two", "b"),
        paper("10.1000/aXb", "Three", "c"),
        paper("10.48550/arXiv.hep-th/9901001", "Four", "d"),
    ];
    lib.upsert(with_vectors(&papers)).unwrap();
    let found = |typed: &str| {
        relate::query::find_by_id(&lib, typed)
            .unwrap()
            .map(|(_, p)| p.id)
    };
    for typed in ["2301.00001", "arXiv:2301.00001v1", "2301.00001v2"] {
        assert_eq!(
            found(typed).as_deref(),
            Some(papers[0].id.as_str()),
            "{typed}"
        );
    }
    // `_` in a DOI is a character, not a wildcard.
    assert_eq!(found("10.1000/a_b").as_deref(), Some(papers[1].id.as_str()));
    assert_eq!(
        found("doi:10.1000/AXB").as_deref(),
        Some(papers[2].id.as_str())
    );
    assert_eq!(
        found("hep-th/9901001").as_deref(),
        Some(papers[3].id.as_str())
    );
    assert_eq!(found("2301.00002"), None);
    assert_eq!(found("One"), None, "titles are not ids");
}
