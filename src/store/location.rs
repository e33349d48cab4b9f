//! Where a library lives: the default per-user folder and the names of the
//! files inside a library folder.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::{Error, Result};

/// The manifest: format version, model id and vector dimension (JSON).
pub(crate) const MANIFEST_FILE: &str = "manifest.json";
/// The SQLite database: papers, vectors and the generation counter.
pub(crate) const DATABASE_FILE: &str = "library.sqlite";
/// The flat file of all vectors in slot order, derived from the database.
pub(crate) const VECTOR_FILE: &str = "vectors.f32";
/// Held while the vector file is rebuilt, so only one process writes it.
pub(crate) const VECTOR_LOCK_FILE: &str = "vectors.lock";
/// Held for as long as a library is open for writing.
pub(crate) const WRITE_LOCK_FILE: &str = "write.lock";
/// Folder left to the index module for its own files.
pub(crate) const INDEX_DIR: &str = "index";

/// The library folder used when neither `--store` nor `RELATE_STORE` names
/// one: `$RELATE_STORE` if set, else `$XDG_DATA_HOME/relate`, else
/// `~/.local/share/relate` (on Windows `%LOCALAPPDATA%\relate`).
pub fn default_store_dir() -> Result<PathBuf> {
    default_store_dir_from(|name| std::env::var_os(name))
}

/// [`default_store_dir`] with the environment supplied by `env`.
pub(crate) fn default_store_dir_from(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("RELATE_STORE") {
        return Ok(dir);
    }
    // The XDG spec says relative values are to be ignored.
    if let Some(data) = set("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Ok(data.join("relate"));
    }
    if cfg!(windows) {
        if let Some(local) = set("LOCALAPPDATA") {
            return Ok(local.join("relate"));
        }
    }
    match set("HOME") {
        Some(home) => Ok(home.join(".local").join("share").join("relate")),
        None => Err(Error::StoreLocation {
            problem: "neither XDG_DATA_HOME nor HOME is set".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn relate_store_wins_over_everything() {
        let env = env_of(&[
            ("RELATE_STORE", "/lib"),
            ("XDG_DATA_HOME", "/xdg"),
            ("HOME", "/h"),
        ]);
        assert_eq!(default_store_dir_from(env).unwrap(), PathBuf::from("/lib"));
    }

    #[test]
    fn xdg_data_home_then_home() {
        let env = env_of(&[("XDG_DATA_HOME", "/xdg"), ("HOME", "/h")]);
        assert_eq!(
            default_store_dir_from(env).unwrap(),
            PathBuf::from("/xdg/relate")
        );
        let env = env_of(&[("XDG_DATA_HOME", "relative"), ("HOME", "/h")]);
        assert_eq!(
            default_store_dir_from(env).unwrap(),
            PathBuf::from("/h/.local/share/relate")
        );
        let env = env_of(&[("RELATE_STORE", ""), ("HOME", "/h")]);
        assert_eq!(
            default_store_dir_from(env).unwrap(),
            PathBuf::from("/h/.local/share/relate")
        );
    }

    #[test]
    fn no_home_is_a_clear_error() {
        let err = default_store_dir_from(env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("--store"), "{err}");
    }
}
