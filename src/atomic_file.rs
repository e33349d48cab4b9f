//! The one way `relate` replaces a file: write a temporary file in the same
//! folder, flush it to disk (fsync), rename it over the target and flush the
//! folder, so that a crash or power loss at any moment leaves either the old
//! file or the new one, never a mixture or a truncated file.
//!
//! A temporary file is named `.{target}.tmp-{process}-{n}` and holds an
//! advisory lock while it is being written. One left behind by a run that
//! was killed holds no lock any more; it is removed the next time the same
//! target is written, and [`remove_stale_temps`] clears a whole folder (the
//! library does so whenever it is opened for writing). A temporary file
//! whose writer is still running is left alone.
//!
//! Folders are flushed too when they are created ([`create_dir_all_durably`]),
//! so a new library's folder entry survives a power loss.

use std::ffi::OsStr;
use std::fs::{self, File, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// Marks a temporary file: `.{target}{TEMP_MARK}{process}-{n}`.
const TEMP_MARK: &str = ".tmp-";

/// Numbers the temporary files of one process.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// A file being written under a temporary name; it replaces its target in
/// [`AtomicFile::commit`], and is removed if dropped before that.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts a new version of `target`, in a temporary file beside it.
    /// Stale temporary files of the same target are removed first.
    pub fn create(target: &Path) -> Result<AtomicFile> {
        let dir = parent_of(target);
        let name = target.file_name().ok_or_else(|| Error::InvalidArgument {
            name: "file".into(),
            problem: format!("{} names a folder, not a file", target.display()),
        })?;
        remove_stale(dir, Some(name));
        let temp = dir.join(format!(
            ".{}{TEMP_MARK}{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| Error::io("create", &temp, e))?;
        // Shows other processes that this temporary file is in use.
        file.lock().map_err(|e| Error::io("lock", &temp, e))?;
        Ok(AtomicFile {
            file: Some(file),
            temp,
            target: target.to_path_buf(),
        })
    }

    /// The temporary file's path (for messages).
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    fn file(&mut self) -> io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("the file was already committed"))
    }

    /// Flushes the new contents to disk, renames them over the target and
    /// flushes the folder.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("an uncommitted file is open");
        if let Err(e) = file.sync_all() {
            let _ = fs::remove_file(&self.temp);
            return Err(Error::io("write", &self.temp, e));
        }
        drop(file);
        if let Err(e) = fs::rename(&self.temp, &self.target) {
            let _ = fs::remove_file(&self.temp);
            return Err(Error::io("rename into place", &self.target, e));
        }
        sync_dir(parent_of(&self.target))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file()?.flush()
    }
}

impl Read for AtomicFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file()?.read(buf)
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file()?.seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Replaces `target` with `bytes` through an [`AtomicFile`].
pub fn replace_file(target: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(target)?;
    file.write_all(bytes)
        .map_err(|e| Error::io("write", file.temp_path(), e))?;
    file.commit()
}

/// Fsyncs a folder so that a rename or a new entry in it survives a power
/// loss. Folders cannot be opened for syncing on every platform; there the
/// change is as durable as the platform makes it.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let handle = File::open(dir).map_err(|e| Error::io("open folder", dir, e))?;
        handle
            .sync_all()
            .map_err(|e| Error::io("sync folder", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates `dir` and any missing parents, and fsyncs the folder that
/// holds each one created, so the new folders survive a power loss.
pub fn create_dir_all_durably(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(path) = current {
        if path.as_os_str().is_empty() || path.exists() {
            break;
        }
        missing.push(path);
        current = path.parent();
    }
    fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
    for created in missing {
        sync_dir(parent_of(created))?;
    }
    Ok(())
}

/// Removes, from `dir`, temporary files of [`AtomicFile`]s whose writers
/// are gone. Failures are ignored: a stale file wastes space but is never
/// read.
pub fn remove_stale_temps(dir: &Path) {
    remove_stale(dir, None);
}

/// Removes the stale temporary files of the target named `only` in `dir`,
/// or of every target.
fn remove_stale(dir: &Path, only: Option<&OsStr>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = only.map(|name| format!(".{}{TEMP_MARK}", name.to_string_lossy()));
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_temp = match &prefix {
            Some(prefix) => name.starts_with(prefix.as_str()),
            None => name.starts_with('.') && name.contains(TEMP_MARK),
        };
        if !is_temp || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(file) = File::options().write(true).open(entry.path()) else {
            continue;
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = fs::remove_file(entry.path());
            }
            Err(TryLockError::WouldBlock) | Err(TryLockError::Error(_)) => {}
        }
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_target_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("data.json");
        fs::write(&target, "old").unwrap();
        replace_file(&target, b"new").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(names(dir.path()), ["data.json"]);
    }

    #[test]
    fn a_dropped_file_leaves_the_target_untouched_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("data.json");
        fs::write(&target, "old").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"half").unwrap();
        drop(file);
        assert_eq!(fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(names(dir.path()), ["data.json"]);
    }

    #[test]
    fn stale_temps_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        // A writer still at work.
        let mut live = AtomicFile::create(&dir.path().join("other")).unwrap();
        live.write_all(b"in progress").unwrap();
        // As killed writers leave them: no lock held.
        let stale = dir.path().join(".data.json.tmp-99999-0");
        fs::write(&stale, "stale").unwrap();
        let other_stale = dir.path().join(".other.tmp-99999-3");
        fs::write(&other_stale, "stale").unwrap();

        replace_file(&dir.path().join("data.json"), b"new").unwrap();
        assert!(!stale.exists(), "writing a target clears its stale temps");
        assert!(
            other_stale.exists(),
            "other targets' temps are left to them"
        );

        remove_stale_temps(dir.path());
        assert!(!other_stale.exists());
        assert!(live.temp_path().exists(), "a locked temp is in use");
        live.commit().unwrap();
        assert_eq!(names(dir.path()), ["data.json", "other"]);
    }

    #[test]
    fn new_folders_are_created_with_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_all_durably(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_all_durably(&deep).unwrap();
    }
}
