//! Files every stage writes and keys. A write goes to a temporary file of this process
//! beside its target and is renamed over it, so a reader, in this process or another,
//! sees the old content or the new, never a part (several processes share a study
//! directory); a failed write leaves no temporary behind, whose space a full disk needs
//! for the next attempt. A stage's output is keyed by a short hash of what produced it.
//! Paths a user names by a pattern are expanded as a shell expands them ([`glob`]); processes
//! that share a folder take turns through advisory locks ([`lock`]).

use std::path::Path;

pub mod glob;
pub mod lock;

use sha2::{Digest, Sha256};

/// Writes `path` through a temporary beside it: `write` fills the temporary (whose path
/// it is given), which is then renamed over `path`; on any failure it is removed.
pub fn write_via_temp(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    // Unique within the process too: threads may write the same target at once.
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let written = write(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Opens `path` for reading when it is a regular file (links followed). A FIFO or a
/// device named where a checkpoint or its JSON should be would block the read forever
/// or never end: it is an error here instead, before anything is opened.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a folder, FIFO, socket or device)",
        ));
    }
    std::fs::File::open(path)
}

/// Reads a regular file as UTF-8 text ([`open_regular`]).
pub fn read_regular_to_string(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut open_regular(path)?, &mut text)?;
    Ok(text)
}

/// Writes `bytes` to `path` atomically; unchanged content is left untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    write_via_temp(path, |tmp| std::fs::write(tmp, bytes))
}

/// Short hex digest of anything serialisable: the key of a stage's output.
pub fn hash_of<T: serde::Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).expect("serialisable");
    let d = Sha256::digest(&bytes);
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        write_atomic(&p, b"one\n").unwrap();
        write_atomic(&p, b"two\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be replaced by a file: the rename fails.
        let p = dir.path().join("target");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("inside"), b"x").unwrap();
        assert!(write_atomic(&p, b"new").is_err());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["target"]);
    }

    #[test]
    fn a_content_hash_is_short_and_changes_with_the_content() {
        let a = hash_of(&("spec", 1));
        assert_eq!(a.len(), 12);
        assert_eq!(a, hash_of(&("spec", 1)));
        assert_ne!(a, hash_of(&("spec", 2)));
    }
}
