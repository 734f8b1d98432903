//! A Hugging Face Hub on 127.0.0.1 for tests and for checking against `huggingface_hub`
//! by hand: folders served as revisions of model repositories, answering the requests
//! a Hub client makes as the Hub answers them.
//!
//! - `GET /api/models/ORG/NAME/revision/REV`: `{"id", "sha", "siblings": [{"rfilename"}]}`;
//! - `GET /api/models/ORG/NAME/refs`: `{"branches": [{"name", "ref", "targetCommit"}], "tags": []}`;
//! - `GET /api/models/ORG/NAME/tree/REV`: every file, `[{"type", "oid", "size", "path", "lfs"}]`;
//! - `HEAD` and `GET /ORG/NAME/resolve/REV/FILE`: a small file with its git blob SHA-1 as
//!   `ETag`; a large one (weights: `.bin`, `.safetensors`, `.gguf`, `.pt`), as the Hub
//!   stores it through LFS, a 302 to `/lfs/SHA256` with `X-Linked-Etag` (its SHA-256) and
//!   `X-Linked-Size`; both with `X-Repo-Commit`;
//! - `GET /lfs/SHA256`: the bytes, whole or from a `Range`;
//! - errors as the Hub gives them: 404 with `X-Error-Code` `RepoNotFound`,
//!   `RevisionNotFound` or `EntryNotFound`; 401 `GatedRepo` without the repository's token.
//!
//! The large files' redirect names `localhost` where the Hub was asked at `127.0.0.1`:
//! another host, as the Hub's CDN is, so a client must not send it the token.
//!
//! Faults on request: a connection cut after some bytes of a large file's first
//! download, a file served with a byte changed. Every request is logged.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A repository: its revisions, each a folder; a gated one answers only its token.
#[derive(Debug, Clone, Default)]
pub struct Repo {
    pub id: String,
    pub revisions: Vec<(String, PathBuf)>,
    pub token: Option<String>,
}

/// Faults the server makes on purpose.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The first download of each large file stops after this many bytes.
    pub cut_after: Option<u64>,
    /// Files (by name) served with their first byte changed.
    pub corrupt: HashSet<String>,
}

/// One file of one revision.
#[derive(Debug, Clone)]
struct File {
    path: PathBuf,
    size: u64,
    sha1: String,
    sha256: String,
    lfs: bool,
}

/// A revision: its name, its commit, its files by name.
type Revision = (String, String, BTreeMap<String, File>);

#[derive(Default)]
struct State {
    /// Each repository's token and revisions (name, commit, files).
    repos: BTreeMap<String, (Option<String>, Vec<Revision>)>,
    faults: Faults,
    cut: Mutex<HashSet<String>>,
    log: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// A running server; stopped when dropped.
pub struct Server {
    pub url: String,
    state: Arc<State>,
    port: u16,
}

/// The committed ladder fixture (`reference/goldens/ladder/`) as two repositories of three
/// revisions each: `emergent-test/small` (PyTorch `.bin`, the last sharded) and
/// `emergent-test/base` (sharded safetensors with `trainer_state.json`), the latter
/// gated behind `token` where one is given.
pub fn ladder_fixture(token: Option<&str>) -> Vec<Repo> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference/goldens/ladder");
    let revs = |run: &str, names: &[&str]| {
        names
            .iter()
            .map(|n| (n.to_string(), root.join(run).join(n)))
            .collect()
    };
    vec![
        Repo {
            id: "emergent-test/small".into(),
            revisions: revs("small", &["step23", "step60", "step156"]),
            token: None,
        },
        Repo {
            id: "emergent-test/base".into(),
            revisions: revs(
                "base",
                &["checkpoint-23", "checkpoint-60", "checkpoint-156"],
            ),
            token: token.map(str::to_string),
        },
    ]
}

/// The commit a server gives a revision: a hash of the repository and revision names.
pub fn commit_of(repo: &str, revision: &str) -> String {
    hex(&Sha1::digest(format!("{repo}@{revision}").as_bytes()))
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_lfs(name: &str) -> bool {
    [".bin", ".safetensors", ".gguf", ".pt"]
        .iter()
        .any(|e| name.ends_with(e))
}

fn files_of(dir: &Path) -> std::io::Result<BTreeMap<String, File>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p)?;
            let name = p
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let mut git = Sha1::new();
            git.update(format!("blob {}\0", bytes.len()).as_bytes());
            git.update(&bytes);
            out.insert(
                name.clone(),
                File {
                    path: p,
                    size: bytes.len() as u64,
                    sha1: hex(&git.finalize()),
                    sha256: hex(&Sha256::digest(&bytes)),
                    lfs: is_lfs(&name),
                },
            );
        }
    }
    Ok(out)
}

impl Server {
    /// Serves `repos` on a free port of 127.0.0.1.
    pub fn start(repos: &[Repo], faults: Faults) -> std::io::Result<Server> {
        let mut state = State {
            faults,
            ..State::default()
        };
        for r in repos {
            let mut revs = Vec::new();
            for (name, dir) in &r.revisions {
                revs.push((name.clone(), commit_of(&r.id, name), files_of(dir)?));
            }
            state.repos.insert(r.id.clone(), (r.token.clone(), revs));
        }
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(state);
        let shared = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(&st, conn);
                });
            }
        });
        Ok(Server {
            url: format!("http://127.0.0.1:{port}"),
            state,
            port,
        })
    }

    /// The requests served so far: `METHOD PATH` and ` Range: …` where one was asked.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn clear_log(&self) {
        self.state.log.lock().unwrap().clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
}

fn read_request(conn: &TcpStream) -> std::io::Result<Request> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Ok(Request {
        method,
        path,
        headers,
    })
}

/// `%XX` escapes decoded.
fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Bytes of the body sent before the connection is cut.
    cut: Option<usize>,
}

fn reply(status: u16, headers: &[(&str, String)], body: Vec<u8>) -> Reply {
    Reply {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        body,
        cut: None,
    }
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    reply(
        status,
        &[
            ("X-Error-Code", code.to_string()),
            ("X-Error-Message", message.to_string()),
            ("Content-Type", "application/json".into()),
        ],
        serde_json::json!({ "error": message })
            .to_string()
            .into_bytes(),
    )
}

fn serve(state: &State, mut conn: TcpStream) -> std::io::Result<()> {
    let req = read_request(&conn)?;
    let range = req.headers.get("range").cloned();
    let token = req.headers.contains_key("authorization");
    state.log.lock().unwrap().push(format!(
        "{} {}{}{}",
        req.method,
        req.path,
        range
            .as_ref()
            .map(|r| format!(" Range: {r}"))
            .unwrap_or_default(),
        if token { " (token)" } else { "" }
    ));
    let rep = route(state, &req);
    let head = req.method == "HEAD";
    let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", rep.status);
    for (k, v) in &rep.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !rep.headers.iter().any(|(k, _)| k == "Content-Length") {
        out.push_str(&format!("Content-Length: {}\r\n", rep.body.len()));
    }
    out.push_str("\r\n");
    conn.write_all(out.as_bytes())?;
    if !head {
        let n = rep.cut.unwrap_or(rep.body.len()).min(rep.body.len());
        conn.write_all(&rep.body[..n])?;
    }
    conn.flush()?;
    // Drain what the client still sends, so that closing does not reset the connection
    // before it has read the answer.
    conn.shutdown(std::net::Shutdown::Write)?;
    conn.set_read_timeout(Some(std::time::Duration::from_millis(200)))?;
    let _ = conn.read(&mut [0u8; 512]);
    Ok(())
}

fn authorised(token: &Option<String>, req: &Request) -> bool {
    match token {
        None => true,
        Some(t) => req.headers.get("authorization") == Some(&format!("Bearer {t}")),
    }
}

fn route(state: &State, req: &Request) -> Reply {
    let path = req.path.split('?').next().unwrap_or("");
    if let Some(sha) = path.strip_prefix("/lfs/") {
        return lfs(state, req, sha);
    }
    let api = path.strip_prefix("/api/models/");
    let parts: Vec<&str> = api
        .unwrap_or(path.trim_start_matches('/'))
        .splitn(4, '/')
        .collect();
    if parts.len() < 3 {
        return error(404, "NotFound", "no such route");
    }
    let repo_id = format!("{}/{}", parts[0], parts[1]);
    let Some((token, revisions)) = state.repos.get(&repo_id) else {
        return error(
            404,
            "RepoNotFound",
            &format!("Repository {repo_id} not found"),
        );
    };
    if !authorised(token, req) {
        return error(
            401,
            "GatedRepo",
            &format!("Access to {repo_id} is restricted"),
        );
    }
    let find = |rev: &str| {
        let rev = unquote(rev);
        revisions
            .iter()
            .find(|(name, commit, _)| *name == rev || *commit == rev)
    };
    match (api.is_some(), parts[2], parts.get(3)) {
        (true, "refs", None) => {
            let branches: Vec<serde_json::Value> = revisions
                .iter()
                .map(|(name, commit, _)| {
                    serde_json::json!({"name": name, "ref": format!("refs/heads/{name}"), "targetCommit": commit})
                })
                .collect();
            json(serde_json::json!({"branches": branches, "tags": [], "converts": []}))
        }
        (true, "revision", Some(rev)) => match find(rev) {
            Some((_, commit, files)) => {
                let siblings: Vec<serde_json::Value> = files
                    .keys()
                    .map(|f| serde_json::json!({ "rfilename": f }))
                    .collect();
                json(
                    serde_json::json!({"id": repo_id, "modelId": repo_id, "sha": commit, "private": false, "siblings": siblings}),
                )
            }
            None => error(
                404,
                "RevisionNotFound",
                &format!("Invalid rev id: {}", unquote(rev)),
            ),
        },
        (true, "tree", Some(rest)) => {
            let rev = rest.split('/').next().unwrap_or("");
            match find(rev) {
                Some((_, _, files)) => json(serde_json::Value::Array(
                    files.iter().map(|(name, f)| tree_entry(name, f)).collect(),
                )),
                None => error(
                    404,
                    "RevisionNotFound",
                    &format!("Invalid rev id: {}", unquote(rev)),
                ),
            }
        }
        (false, "resolve", Some(rest)) => {
            let Some((rev, file)) = rest.split_once('/') else {
                return error(404, "EntryNotFound", "no file");
            };
            let Some((_, commit, files)) = find(rev) else {
                return error(
                    404,
                    "RevisionNotFound",
                    &format!("Invalid rev id: {}", unquote(rev)),
                );
            };
            match files.get(&unquote(file)) {
                Some(f) => resolve(state, req, commit, f, &unquote(file)),
                None => {
                    let mut r = error(404, "EntryNotFound", "Entry not found");
                    r.headers.push(("X-Repo-Commit".into(), commit.clone()));
                    r
                }
            }
        }
        _ => error(404, "NotFound", "no such route"),
    }
}

/// A file as the Hub's tree listing gives it: its git blob id and size, and for a file
/// stored through LFS its SHA-256.
fn tree_entry(name: &str, f: &File) -> serde_json::Value {
    let mut e = serde_json::json!({"type": "file", "oid": f.sha1, "size": f.size, "path": name});
    if f.lfs {
        e["lfs"] = serde_json::json!({"oid": f.sha256, "size": f.size, "pointerSize": 134});
    }
    e
}

fn json(v: serde_json::Value) -> Reply {
    reply(
        200,
        &[("Content-Type", "application/json".into())],
        v.to_string().into_bytes(),
    )
}

fn body_of(state: &State, f: &File, name: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(&f.path).unwrap_or_default();
    if state.faults.corrupt.contains(name) && !bytes.is_empty() {
        bytes[0] ^= 0xff;
    }
    bytes
}

fn resolve(state: &State, req: &Request, commit: &str, f: &File, name: &str) -> Reply {
    if f.lfs {
        let mut r = reply(
            302,
            &[
                ("Location", format!("/lfs/{}?name={}", f.sha256, name)),
                ("X-Repo-Commit", commit.to_string()),
                ("X-Linked-Etag", format!("\"{}\"", f.sha256)),
                ("X-Linked-Size", f.size.to_string()),
                ("ETag", format!("\"{}\"", f.sha1)),
            ],
            Vec::new(),
        );
        // The Hub's redirect points at another host (its CDN), where clients neither send
        // the token nor look for the Hub's headers: `localhost` for `127.0.0.1` here.
        if let Some(host) = req.headers.get("host") {
            let other = host.replacen("127.0.0.1", "localhost", 1);
            r.headers[0].1 = format!("http://{other}/lfs/{}?name={}", f.sha256, name);
        }
        return r;
    }
    let body = body_of(state, f, name);
    ranged(
        req,
        body,
        vec![
            ("X-Repo-Commit".into(), commit.to_string()),
            ("ETag".into(), format!("\"{}\"", f.sha1)),
        ],
    )
}

fn lfs(state: &State, req: &Request, sha: &str) -> Reply {
    let name = req
        .path
        .split_once("?name=")
        .map(|(_, n)| unquote(n))
        .unwrap_or_default();
    let file = state
        .repos
        .values()
        .flat_map(|(_, revs)| revs.iter().flat_map(|(_, _, files)| files.values()))
        .find(|f| f.sha256 == sha);
    let Some(f) = file else {
        return error(404, "NotFound", "no such object");
    };
    let mut rep = ranged(
        req,
        body_of(state, f, &name),
        vec![("ETag".into(), format!("\"{sha}\""))],
    );
    if let Some(n) = state.faults.cut_after {
        if req.method == "GET" && state.cut.lock().unwrap().insert(sha.to_string()) {
            rep.cut = Some(n as usize);
        }
    }
    rep
}

/// The whole body, or from the `Range` asked (`bytes=N-`) with 206.
fn ranged(req: &Request, body: Vec<u8>, mut headers: Vec<(String, String)>) -> Reply {
    let total = body.len();
    let from = req
        .headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    match from {
        Some(n) if n < total => {
            headers.push((
                "Content-Range".into(),
                format!("bytes {n}-{}/{total}", total - 1),
            ));
            Reply {
                status: 206,
                headers,
                body: body[n..].to_vec(),
                cut: None,
            }
        }
        Some(_) => {
            headers.push(("Content-Range".into(), format!("bytes */{total}")));
            Reply {
                status: 416,
                headers,
                body: Vec::new(),
                cut: None,
            }
        }
        None => Reply {
            status: 200,
            headers,
            body,
            cut: None,
        },
    }
}
