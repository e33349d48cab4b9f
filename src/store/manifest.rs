//! The library manifest: a small JSON file naming the on-disk format version,
//! the embedding model (its name, its fingerprint) and the vector dimension,
//! read before anything else and written atomically (see
//! [`crate::atomic_file`]).
//!
//! Format version 2 records the model's fingerprint (see
//! [`crate::embed::ModelFolder::fingerprint`]); version 1 named the model
//! only by its folder's name. Version 1 libraries are still read: they are
//! matched by name and dimension, and the next write records the
//! fingerprint and the new version. Version 3 keeps new papers' vectors
//! only in the vector file (see [`crate::store`]); a version 2 library
//! moves on to it with its next write, its stored vectors as they are.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic_file::replace_file;
use crate::{Error, Result};

/// The on-disk format this build reads and writes.
pub const FORMAT_VERSION: u32 = 3;

/// The format version from which new papers' vectors live only in the
/// vector file, their database rows keeping a checksum.
pub(crate) const VECTORS_IN_FILE_VERSION: u32 = 3;

/// The oldest on-disk format this build still reads (and upgrades when it
/// writes).
pub const OLDEST_FORMAT_VERSION: u32 = 1;

/// Marks a manifest as belonging to a `relate` library.
const FORMAT_NAME: &str = "relate-library";

/// How many hex digits the short form of a fingerprint shows.
const SHORT_FINGERPRINT_LEN: usize = 12;

/// The first hex digits of a model fingerprint, as messages and `relate
/// info` show it.
pub fn short_fingerprint(fingerprint: &str) -> &str {
    fingerprint
        .get(..SHORT_FINGERPRINT_LEN)
        .unwrap_or(fingerprint)
}

/// The embedding model a library's vectors come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model's identifier, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    pub id: String,
    /// Length of each vector the model produces.
    pub dim: usize,
    /// The model's fingerprint (64 hex digits), when known: always in a
    /// library of format version 2 written with a model folder, never in
    /// one of version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// What `manifest.json` records about a library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `relate-library`.
    pub format: String,
    /// On-disk format version; see [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The model every stored vector was made with.
    pub model: ModelInfo,
}

impl Manifest {
    /// A manifest for a new library of vectors from `model`.
    pub fn new(model: &ModelInfo) -> Manifest {
        Manifest {
            format: FORMAT_NAME.to_string(),
            format_version: FORMAT_VERSION,
            model: model.clone(),
        }
    }

    /// Reads and checks the manifest at `path`: it must be a `relate`
    /// library manifest of a format version this build reads.
    pub(crate) fn read(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        let corrupt = |problem: String| Error::StoreCorrupt {
            path: path.to_path_buf(),
            problem,
            fix: "Restore it from a backup, or move the folder away and ingest the papers again"
                .into(),
        };
        // The version is checked before the rest so that a future layout is
        // reported as such rather than as damage.
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(format!("it is not valid JSON ({e})")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
            return Err(corrupt(format!(
                "it does not say \"format\": \"{FORMAT_NAME}\""
            )));
        }
        let found = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| corrupt("it has no numeric \"format_version\"".into()))?;
        if !(u64::from(OLDEST_FORMAT_VERSION)..=u64::from(FORMAT_VERSION)).contains(&found) {
            return Err(Error::StoreFormatVersion {
                path: path.to_path_buf(),
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: FORMAT_VERSION,
            });
        }
        let manifest: Manifest = serde_json::from_value(value)
            .map_err(|e| corrupt(format!("a field is missing or malformed ({e})")))?;
        let bad_fingerprint = manifest
            .model
            .fingerprint
            .as_ref()
            .is_some_and(|f| f.len() != 64 || !f.bytes().all(|b| b.is_ascii_hexdigit()));
        if bad_fingerprint {
            return Err(corrupt("the model fingerprint is not 64 hex digits".into()));
        }
        if manifest.model.dim == 0 || manifest.model.id.is_empty() {
            return Err(corrupt(
                "the model id is empty or the dimension is 0".into(),
            ));
        }
        Ok(manifest)
    }

    /// Writes the manifest to `path` so that a crash leaves either the old
    /// file or the new one: temp file, fsync, rename, fsync of the folder.
    pub(crate) fn write_atomically(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| Error::StoreCorrupt {
            path: path.to_path_buf(),
            problem: format!("the manifest cannot be encoded ({e})"),
            fix: "Report this as a bug".into(),
        })?;
        text.push(b'\n');
        replace_file(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelInfo {
        ModelInfo {
            id: "m".into(),
            dim: 3,
            fingerprint: Some("ab".repeat(32)),
        }
    }

    #[test]
    fn round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let manifest = Manifest::new(&model());
        manifest.write_atomically(&path).unwrap();
        assert_eq!(Manifest::read(&path).unwrap(), manifest);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the manifest is left");
    }

    #[test]
    fn short_form_is_a_prefix() {
        assert_eq!(short_fingerprint("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_fingerprint("abc"), "abc");
    }

    #[test]
    fn version_1_without_fingerprint_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(
            &path,
            r#"{"format":"relate-library","format_version":1,"model":{"id":"m","dim":3}}"#,
        )
        .unwrap();
        let manifest = Manifest::read(&path).unwrap();
        assert_eq!(manifest.format_version, 1);
        assert_eq!(manifest.model.fingerprint, None);
    }

    #[test]
    fn other_format_version_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(
            &path,
            r#"{"format":"relate-library","format_version":7,"layout":"new"}"#,
        )
        .unwrap();
        match Manifest::read(&path).unwrap_err() {
            Error::StoreFormatVersion {
                found, supported, ..
            } => assert_eq!((found, supported), (7, FORMAT_VERSION)),
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn damaged_manifest_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, b"{\"format\": \"relate-lib").unwrap();
        let err = Manifest::read(&path).unwrap_err();
        assert!(matches!(err, Error::StoreCorrupt { .. }), "{err}");
        assert!(err.to_string().contains("manifest.json"), "{err}");
    }
}
