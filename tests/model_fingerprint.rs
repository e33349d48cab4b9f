//! A library knows its model by the model's fingerprint, not its folder's
//! name: the fingerprint follows the files, a renamed copy of the model is
//! accepted, a changed model under the same name is refused with advice,
//! and a library from before fingerprints is read and upgraded by ingest.

mod common;

use std::fs;
use std::path::Path;

use common::{copy_model, model_dir, relate_in, stdout_json, succeed};
use relate::embed::ModelFolder;

const PAPERS: &str = "\
{\"id\":\"a1\",\"title\":\"Graph neural networks for molecules\",\"abstract\":\"Message passing on atoms and bonds.\"}
{\"id\":\"a2\",\"title\":\"Federated learning with many clients\",\"abstract\":\"Averaging model updates.\"}
";

const MORE: &str = "\
{\"id\":\"a3\",\"title\":\"Bandits with delayed feedback\",\"abstract\":\"Regret bounds under delay.\"}
";

fn fingerprint(dir: &Path) -> String {
    ModelFolder::open(dir).unwrap().fingerprint().unwrap()
}

fn short(fingerprint: &str) -> &str {
    &fingerprint[..12]
}

/// Appends a byte to a file, which changes its content but not its meaning.
fn append_space(path: &Path) {
    let mut text = fs::read(path).unwrap();
    text.push(b' ');
    fs::write(path, text).unwrap();
}

/// A new library in `store` holding [`PAPERS`], made with the test model.
fn library_with_papers(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("library");
    let input = dir.join("papers.jsonl");
    fs::write(&input, PAPERS).unwrap();
    succeed(&relate_in(&store, &["ingest", input.to_str().unwrap()]));
    store
}

#[test]
fn the_fingerprint_is_stable_and_follows_the_files() {
    let original = fingerprint(&model_dir());
    assert_eq!(original.len(), 64);
    assert!(original.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        fingerprint(&model_dir()),
        original,
        "same folder, same value"
    );

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    copy_model(&model_dir(), &copy);
    assert_eq!(fingerprint(&copy), original, "a copy is the same model");
    assert!(
        copy.join(".relate-fingerprint.json").is_file(),
        "the digest is cached in a writable model folder"
    );
    assert_eq!(fingerprint(&copy), original, "the cached value");

    let tokenizer = copy.join("tokenizer.json");
    let kept = fs::read(&tokenizer).unwrap();
    append_space(&tokenizer);
    let changed = fingerprint(&copy);
    assert_ne!(changed, original, "tokenizer.json changed");
    fs::write(&tokenizer, &kept).unwrap();
    assert_eq!(fingerprint(&copy), original, "tokenizer.json restored");

    // One byte of the weights (the last, inside the tensor data).
    let weights = copy.join("model.safetensors");
    let mut file = fs::OpenOptions::new().write(true).open(&weights).unwrap();
    let len = file.metadata().unwrap().len();
    let last = fs::read(&weights).unwrap()[len as usize - 1];
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(len - 1)).unwrap();
    file.write_all(&[last ^ 1]).unwrap();
    drop(file);
    let changed = fingerprint(&copy);
    assert_ne!(changed, original, "the weights changed");
}

#[test]
fn a_renamed_model_is_accepted_and_a_changed_one_under_the_same_name_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = library_with_papers(dir.path());
    let original = fingerprint(&model_dir());
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["format_version"], relate::store::FORMAT_VERSION);
    assert_eq!(info["model_fingerprint"], short(&original));

    let renamed = dir.path().join("renamed-model");
    copy_model(&model_dir(), &renamed);
    let renamed_arg = renamed.to_str().unwrap();
    let answer = stdout_json(&relate_in(
        &store,
        &[
            "search",
            "graphs of atoms",
            "--json",
            "--model",
            renamed_arg,
        ],
    ));
    assert_eq!(answer["results"][0]["id"], "a1");

    // The same folder name as the library's model, different files.
    let impostor = dir.path().join("elsewhere").join("all-MiniLM-L6-v2");
    fs::create_dir_all(impostor.parent().unwrap()).unwrap();
    fs::rename(&renamed, &impostor).unwrap();
    append_space(&impostor.join("config.json"));
    let changed = fingerprint(&impostor);
    assert_ne!(changed, original);
    let manifest = fs::read(store.join("manifest.json")).unwrap();
    let more = dir.path().join("more.jsonl");
    fs::write(&more, MORE).unwrap();
    let impostor_arg = impostor.to_str().unwrap();
    for args in [
        &["search", "graphs of atoms", "--model", impostor_arg][..],
        &["ingest", more.to_str().unwrap(), "--model", impostor_arg],
        &[
            "recommend",
            "--like-text",
            "graphs",
            "--model",
            impostor_arg,
        ],
    ] {
        let out = relate_in(&store, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for part in [
            "all-MiniLM-L6-v2",
            short(&original),
            short(&changed),
            "--model",
            "--store",
        ] {
            assert!(
                stderr.contains(part),
                "{args:?}: {part:?} missing: {stderr}"
            );
        }
    }
    assert_eq!(fs::read(store.join("manifest.json")).unwrap(), manifest);
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["papers"], 2, "the refused ingest stored nothing");

    // Commands that do not embed do not look at the model at all.
    succeed(&relate_in(&store, &["similar", "a1", "--json"]));
}

#[test]
fn a_version_1_library_is_queried_then_upgraded_by_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let store = library_with_papers(dir.path());
    common::downgrade_to_version_1(&store);
    let manifest = fs::read(store.join("manifest.json")).unwrap();

    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["format_version"], 1);
    assert!(info["model_fingerprint"].is_null(), "{info}");
    let answer = stdout_json(&relate_in(&store, &["search", "graphs of atoms", "--json"]));
    assert_eq!(answer["results"][0]["id"], "a1");
    assert_eq!(
        fs::read(store.join("manifest.json")).unwrap(),
        manifest,
        "queries leave a version 1 library as it is"
    );

    let more = dir.path().join("more.jsonl");
    fs::write(&more, MORE).unwrap();
    succeed(&relate_in(&store, &["ingest", more.to_str().unwrap()]));
    let info = stdout_json(&relate_in(&store, &["info", "--json"]));
    assert_eq!(info["format_version"], relate::store::FORMAT_VERSION);
    assert_eq!(info["papers"], 3);
    assert_eq!(info["model_fingerprint"], short(&fingerprint(&model_dir())));
    let text = String::from_utf8(succeed(&relate_in(&store, &["info"])).stdout.clone()).unwrap();
    assert!(text.contains(short(&fingerprint(&model_dir()))), "{text}");
}
