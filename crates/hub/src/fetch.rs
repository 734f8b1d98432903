//! One file fetched into the cache as `huggingface_hub` fetches it: its hash and size
//! asked first, the blob taken from the cache where it is there already, else downloaded
//! under the blob's lock into `blobs/ETAG.incomplete` (resumed from where a cut
//! connection or a killed process left it), checked against the size and hash the Hub
//! states, renamed into place and linked from the snapshot.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::cache::Cache;
use crate::http::{self, Client, Meta};
use crate::repo::RepoId;

/// Hears how a download goes: bytes of `total` done.
pub trait Progress {
    fn bytes(&self, file: &str, done: u64, total: u64);
}

impl<F: Fn(&str, u64, u64)> Progress for F {
    fn bytes(&self, file: &str, done: u64, total: u64) {
        self(file, done, total)
    }
}

/// How often a download is resumed after the connection breaks before it fails.
const ATTEMPTS: u32 = 5;

/// The snapshot's path of `file` at `commit`, fetched unless its blob is in the cache.
pub fn file(
    client: &Client,
    cache: &Cache,
    repo: &RepoId,
    commit: &str,
    file: &str,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let meta = client.metadata(repo, commit, file)?;
    if meta.etag.is_empty()
        || !meta
            .etag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        bail!(
            "the Hub states a hash `{}` that cannot name a file",
            meta.etag
        );
    }
    let blob = cache.blob(repo, &meta.etag);
    if !blob.exists() {
        let _lock = emergent_files::lock::DirLock::wait(&cache.lock(repo, &meta.etag))?;
        // Another process may have fetched it while this one waited.
        if !blob.exists() {
            let url = client.file_url(repo, commit, file);
            download(client, &url, &blob, &meta, file, progress)?;
        }
    }
    cache.link(repo, commit, file, &meta.etag)
}

fn incomplete(blob: &Path) -> PathBuf {
    let mut name = blob.file_name().unwrap_or_default().to_os_string();
    name.push(".incomplete");
    blob.with_file_name(name)
}

fn download(
    client: &Client,
    url: &str,
    blob: &Path,
    meta: &Meta,
    name: &str,
    progress: &dyn Progress,
) -> Result<()> {
    let part = incomplete(blob);
    if let Some(dir) = part.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        let have = std::fs::metadata(&part).map_or(0, |m| m.len());
        if have == meta.size {
            break;
        }
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(200 << attempt));
        }
        let from = if have > meta.size { 0 } else { have };
        match append(client, url, &part, from, meta.size, name, progress) {
            Ok(()) => {
                last = None;
                continue;
            }
            Err(e) if http::is_unreachable(&e) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    if let Some(e) = last {
        return Err(e.context(format!(
            "the connection broke {ATTEMPTS} times; {} keeps what arrived, and the next try resumes from it",
            part.display()
        )));
    }
    check(&part, meta).inspect_err(|_| {
        let _ = std::fs::remove_file(&part);
    })?;
    std::fs::rename(&part, blob).with_context(|| format!("moving {} into place", part.display()))
}

/// Appends the bytes from `from` on to `part` (from the start where the server sends the
/// whole file); a broken connection keeps what arrived.
fn append(
    client: &Client,
    url: &str,
    part: &Path,
    from: u64,
    total: u64,
    name: &str,
    progress: &dyn Progress,
) -> Result<()> {
    let (body, ranged) = client.get_from(url, from)?;
    let start = if ranged { from } else { 0 };
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(part)
        .with_context(|| format!("opening {}", part.display()))?;
    out.set_len(start)?;
    std::io::Seek::seek(&mut out, std::io::SeekFrom::Start(start))?;
    let mut reader = body.into_reader();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = start;
    progress.bytes(name, done, total);
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| anyhow!(ureq::Error::Io(e)))
            .with_context(|| format!("GET {url}: after {done} of {total} bytes"))?;
        if n == 0 {
            break;
        }
        if done + n as u64 > total {
            bail!("GET {url}: more than the {total} bytes the Hub states");
        }
        out.write_all(&buf[..n])
            .with_context(|| format!("writing {}", part.display()))?;
        done += n as u64;
        progress.bytes(name, done, total);
    }
    out.flush()?;
    Ok(())
}

/// The downloaded bytes against the size and hash the Hub states: SHA-256 for a file
/// stored through LFS (a 64-digit ETag), the git blob SHA-1 otherwise (40 digits).
fn check(part: &Path, meta: &Meta) -> Result<()> {
    let size = std::fs::metadata(part)?.len();
    if size != meta.size {
        bail!("{size} bytes arrived; the Hub states {}", meta.size);
    }
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let got = match meta.etag.len() {
        64 => hex(&digest::<Sha256>(part, &[])?),
        40 => hex(&digest::<Sha1>(part, format!("blob {size}\0").as_bytes())?),
        // An ETag that is no hash (another server's): the size is all that can be checked.
        _ => return Ok(()),
    };
    if got != meta.etag.to_ascii_lowercase() {
        bail!(
            "the downloaded bytes hash to {got}; the Hub states {} (removed, to be fetched again)",
            meta.etag
        );
    }
    Ok(())
}

fn digest<D: Digest>(path: &Path, prefix: &[u8]) -> Result<Vec<u8>> {
    let mut d = D::new();
    d.update(prefix);
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        d.update(&buf[..n]);
    }
    Ok(d.finalize().to_vec())
}
