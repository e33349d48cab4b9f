//! A model's fingerprint: what identifies the vectors a model folder gives,
//! whatever the folder is called. It is a sha256 over the weights
//! (`model.safetensors`), `tokenizer.json` and `config.json`, together with
//! the pooling, the maximum sequence length and normalisation as the folder
//! configures them. Two folders with the same fingerprint give the same
//! vectors; a library records the fingerprint of the model it was built
//! with.
//!
//! Hashing the weights reads the whole file (about 90 MB for
//! all-MiniLM-L6-v2), so the digest of the three files is cached beside
//! them (`.relate-fingerprint.json` in the model folder) or, when that
//! folder is read-only, under `$XDG_CACHE_HOME/relate` (`~/.cache/relate`).
//! The cache is keyed by each file's path, size and modification time and
//! written atomically; when it cannot be read or written the digest is
//! simply computed again. The cache never makes a fingerprint fail.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model_folder::ModelFolder;
use crate::atomic_file::{create_dir_all_durably, replace_file};
use crate::{Error, Result};

/// Name of the cache file in a writable model folder.
const CACHE_FILE: &str = ".relate-fingerprint.json";
/// Bumped whenever what the fingerprint covers changes.
const SCHEME: &str = "relate-model-fingerprint-1";
/// Bytes read at a time while hashing a file.
const READ_CHUNK: usize = 1 << 20;

/// One hashed file as the cache remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileKey {
    path: PathBuf,
    size: u64,
    mtime_ns: u128,
}

/// What the cache file holds: the files it was computed from and their
/// combined digest.
#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    scheme: String,
    files: Vec<FileKey>,
    digest: String,
}

/// The fingerprint of `folder`: 64 lowercase hex digits.
pub fn fingerprint(folder: &ModelFolder) -> Result<String> {
    fingerprint_with_cache_dir(folder, user_cache_dir().as_deref())
}

/// [`fingerprint`], with the fallback cache folder given (`None`: there is
/// none).
fn fingerprint_with_cache_dir(folder: &ModelFolder, cache_dir: Option<&Path>) -> Result<String> {
    let files = [
        folder.weights_path.clone(),
        folder.tokenizer_path.clone(),
        folder.dir.join("config.json"),
    ];
    let keys = files
        .iter()
        .map(|path| file_key(path))
        .collect::<Result<Vec<_>>>()?;
    let locations = cache_locations(folder, cache_dir);
    let digest = match locations.iter().find_map(|p| read_cache(p, &keys)) {
        Some(digest) => digest,
        None => {
            let digest = files_digest(&files)?;
            let entry = CacheEntry {
                scheme: SCHEME.into(),
                files: keys,
                digest: digest.clone(),
            };
            // The first location that takes the file wins; none is fine.
            for path in &locations {
                if write_cache(path, &entry) {
                    break;
                }
            }
            digest
        }
    };
    let mut outer = Sha256::new();
    outer.update(SCHEME.as_bytes());
    outer.update(b"\nfiles ");
    outer.update(digest.as_bytes());
    outer.update(format!("\npooling {:?}", folder.pooling).as_bytes());
    outer.update(format!("\nmax_seq_len {}", folder.max_seq_len).as_bytes());
    outer.update(format!("\nnormalize {}\n", folder.normalize).as_bytes());
    Ok(format!("{:x}", outer.finalize()))
}

/// The per-user cache folder: `$XDG_CACHE_HOME/relate`, else
/// `~/.cache/relate`.
fn user_cache_dir() -> Option<PathBuf> {
    user_cache_dir_from(|name| std::env::var_os(name))
}

fn user_cache_dir_from(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    // The XDG spec says relative values are to be ignored.
    if let Some(cache) = set("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Some(cache.join("relate"));
    }
    set("HOME").map(|home| home.join(".cache").join("relate"))
}

/// Where the cache may live, in order: the model folder, then the user's
/// cache folder under a name derived from the model folder's path.
fn cache_locations(folder: &ModelFolder, cache_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut locations = vec![folder.dir.join(CACHE_FILE)];
    if let Some(dir) = cache_dir {
        let canonical = folder
            .dir
            .canonicalize()
            .unwrap_or_else(|_| folder.dir.clone());
        let name = Sha256::digest(canonical.to_string_lossy().as_bytes());
        locations.push(dir.join("fingerprints").join(format!("{name:x}.json")));
    }
    locations
}

fn file_key(path: &Path) -> Result<FileKey> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("inspect", path, e))?;
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(FileKey {
        path: path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
        size: meta.len(),
        mtime_ns,
    })
}

/// The cached digest at `path` if it was computed from exactly `keys`.
fn read_cache(path: &Path, keys: &[FileKey]) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let entry: CacheEntry = serde_json::from_slice(&bytes).ok()?;
    let valid = entry.scheme == SCHEME
        && entry.files == keys
        && entry.digest.len() == 64
        && entry.digest.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then_some(entry.digest)
}

/// Writes the cache file; false when it cannot be written there.
fn write_cache(path: &Path, entry: &CacheEntry) -> bool {
    let Ok(text) = serde_json::to_vec_pretty(entry) else {
        return false;
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.is_dir() && create_dir_all_durably(dir).is_err() {
        return false;
    }
    replace_file(path, &text).is_ok()
}

/// sha256 over each file's name, length and contents, read in chunks.
fn files_digest(files: &[PathBuf]) -> Result<String> {
    let mut outer = Sha256::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    for path in files {
        let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let mut inner = Sha256::new();
        let mut len = 0u64;
        loop {
            let n = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read", path, e)),
            };
            inner.update(&buffer[..n]);
            len += n as u64;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        outer.update(format!("{name} {len} {:x}\n", inner.finalize()).as_bytes());
    }
    Ok(format!("{:x}", outer.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_folder_follows_xdg_then_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            user_cache_dir_from(env(&[("XDG_CACHE_HOME", "/c"), ("HOME", "/h")])),
            Some(PathBuf::from("/c/relate"))
        );
        assert_eq!(
            user_cache_dir_from(env(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.cache/relate"))
        );
        assert_eq!(user_cache_dir_from(env(&[])), None);
    }
}
