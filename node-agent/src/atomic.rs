//! Crash-safe file replacement: a reader (or the next start after a crash) sees the old file or
//! the new one, never part of one.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The temporary name `write` uses next to `target`. Unique per process and call, and starting
/// with a dot so daemons that read a directory (none of ours do) would skip it.
pub fn temporary_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(
        ".{name}.{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ))
}

/// Creates `path` (which must not exist) with `mode`, writes `pieces` one after another and
/// fsyncs it.
pub fn write_new_file(path: &Path, pieces: &[&[u8]], mode: u32) -> std::io::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    // The umask may have narrowed the mode; set it exactly.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    // A node-wide file is a thousand members' pieces: one write per 64 KiB, not per piece.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
    for piece in pieces {
        out.write_all(piece)?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// fsyncs a directory, so a rename into it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `target` with `pieces`, one after another (mode `mode`): temporary file in the
/// same directory, fsync, rename, fsync of the directory. Creates missing parent directories
/// (mode 0755).
pub fn write(target: &Path, pieces: &[&[u8]], mode: u32) -> std::io::Result<()> {
    let dir = target
        .parent()
        .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let temp = temporary_name(target);
    let result = write_new_file(&temp, pieces, mode).and_then(|()| std::fs::rename(&temp, target));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result?;
    sync_dir(dir)
}

/// Removes `target` if it exists, durably.
pub fn remove(target: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(target) {
        Ok(()) => target.parent().map_or(Ok(()), sync_dir),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// The contents and mode of `path`, or `None` when it does not exist.
pub fn read(path: &Path) -> std::io::Result<Option<(Vec<u8>, u32)>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
            Ok(Some((bytes, mode)))
        }
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// The entries of directory `dir`, none when it does not exist (a store not yet made).
pub fn read_dir(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.collect(),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_with_the_mode_asked_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/file");
        write(&target, &[b"one"], 0o600).unwrap();
        write(&target, &[b"two"], 0o644).unwrap();
        assert_eq!(read(&target).unwrap(), Some((b"two".to_vec(), 0o644)));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["file"]);
        remove(&target).unwrap();
        remove(&target).unwrap();
        assert_eq!(read(&target).unwrap(), None);
    }
}
