//! What every fuzz target shares: the readers take paths, so each input is written to
//! a file of the given name in this process's scratch directory first.

use std::path::PathBuf;

/// `data` as the file `name` (which may name folders too) in a scratch directory of
/// this process; its path.
pub fn scratch(name: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("emergent-fuzz-{}", std::process::id()));
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("a scratch directory");
    std::fs::write(&path, data).expect("writing a scratch file");
    path
}
