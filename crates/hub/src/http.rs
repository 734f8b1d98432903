//! The requests emergent makes of the Hub, and what it reads from the answers:
//!
//! - `GET /api/models/ORG/NAME/revision/REV`: the commit (`sha`) and the files
//!   (`siblings[].rfilename`);
//! - `GET /api/models/ORG/NAME/refs`: the branches and tags with their commits;
//! - `HEAD /ORG/NAME/resolve/COMMIT/FILE`: the file's hash (`X-Linked-Etag`, else `ETag`),
//!   size (`X-Linked-Size`, else `Content-Length`) and commit (`X-Repo-Commit`), without
//!   following a redirect to another host (a large file's bytes are elsewhere);
//! - `GET` of the same address, redirects followed, from a byte offset (`Range`).
//!
//! The token goes to the endpoint only: a redirect to another host drops it.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::repo::{quote, RepoId};
use crate::Resolved;

pub struct Client<'a> {
    endpoint: &'a str,
    token: Option<&'a str>,
    agent: ureq::Agent,
}

/// What the Hub states of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// The file's hash: SHA-256 for a file stored through LFS, else the git blob SHA-1.
    pub etag: String,
    pub size: u64,
    pub commit: Option<String>,
    /// Where its bytes are, when that is another address.
    pub location: Option<String>,
}

/// Whether an error is the network's (nothing answered), not the Hub's answer: then the
/// cache alone is used, as `huggingface_hub` does.
pub fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<ureq::Error>(),
            Some(
                ureq::Error::Io(_)
                    | ureq::Error::HostNotFound
                    | ureq::Error::ConnectionFailed
                    | ureq::Error::Timeout(_)
            )
        )
    })
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// An ETag without its weak mark and quotes.
fn normalise_etag(etag: &str) -> String {
    etag.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

impl<'a> Client<'a> {
    pub fn new(endpoint: &'a str, token: Option<&'a str>) -> Client<'a> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("emergent/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            endpoint,
            token,
            agent,
        }
    }

    fn with_token<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    /// The error an answer other than success means, in the Hub's words where it gave
    /// them (`X-Error-Code`, `X-Error-Message`).
    fn refused(&self, what: &str, resp: &ureq::http::Response<ureq::Body>) -> anyhow::Error {
        let status = resp.status().as_u16();
        let code = header(resp, "x-error-code").unwrap_or_default();
        let message = header(resp, "x-error-message").unwrap_or_default();
        let hint = match (status, code.as_str()) {
            (_, "RevisionNotFound") => "no such revision".to_string(),
            (_, "EntryNotFound") => "no such file in this revision".to_string(),
            (_, "GatedRepo") | (403, _) => format!(
                "a gated repository: accept its terms on the Hub and set HF_TOKEN{}",
                if self.token.is_some() {
                    " (the token given has no access)"
                } else {
                    ""
                }
            ),
            (_, "RepoNotFound") | (401, _) => format!(
                "no such repository, or a private one{}",
                if self.token.is_some() {
                    " this token cannot read"
                } else {
                    ": set HF_TOKEN"
                }
            ),
            (404, _) => "not found".to_string(),
            _ => format!("the Hub answered {status}"),
        };
        let message = if message.is_empty() {
            String::new()
        } else {
            format!(" ({message})")
        };
        anyhow!("{what}: {hint}{message} [{} {status}]", self.endpoint)
    }

    fn get_json(&self, url: &str, what: &str) -> Result<Value> {
        let mut resp = self
            .with_token(self.agent.get(url))
            .call()
            .with_context(|| format!("{what}: GET {url}"))?;
        if !resp.status().is_success() {
            return Err(self.refused(what, &resp));
        }
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .with_context(|| format!("{what}: reading {url}"))?;
        serde_json::from_str(&text).with_context(|| format!("{what}: {url} is not JSON"))
    }

    /// The commit a revision names, and its files.
    pub fn revision(&self, repo: &RepoId, revision: &str) -> Result<Resolved> {
        let url = format!(
            "{}/api/models/{repo}/revision/{}",
            self.endpoint,
            quote(revision, false)
        );
        let what = format!("{repo} revision `{revision}`");
        let doc = self.get_json(&url, &what)?;
        let commit = doc
            .get("sha")
            .and_then(Value::as_str)
            .filter(|c| crate::is_commit(c))
            .ok_or_else(|| anyhow!("{what}: {url} gives no commit (`sha`)"))?
            .to_string();
        let files = doc
            .get("siblings")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("{what}: {url} lists no files (`siblings`)"))?
            .iter()
            .filter_map(|s| s.get("rfilename").and_then(Value::as_str))
            .filter(|f| safe_file_name(f))
            .map(str::to_string)
            .collect();
        Ok(Resolved { commit, files })
    }

    /// The repository's branches and tags, each with its commit.
    pub fn refs(&self, repo: &RepoId) -> Result<Vec<(String, String)>> {
        let url = format!("{}/api/models/{repo}/refs", self.endpoint);
        let doc = self.get_json(&url, &format!("{repo}: its revisions"))?;
        let mut out = Vec::new();
        for kind in ["branches", "tags"] {
            for r in doc
                .get(kind)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = r.get("name").and_then(Value::as_str);
                let commit = r.get("targetCommit").and_then(Value::as_str);
                if let (Some(n), Some(c)) = (name, commit) {
                    if crate::repo::check_revision(n).is_ok() && crate::is_commit(c) {
                        out.push((n.to_string(), c.to_string()));
                    }
                }
            }
        }
        Ok(out)
    }

    pub fn file_url(&self, repo: &RepoId, commit: &str, file: &str) -> String {
        format!(
            "{}/{repo}/resolve/{}/{}",
            self.endpoint,
            quote(commit, false),
            quote(file, true)
        )
    }

    /// What the Hub states of one file; a redirect within the endpoint (a renamed
    /// repository) is followed, one to another host is where the bytes are.
    pub fn metadata(&self, repo: &RepoId, commit: &str, file: &str) -> Result<Meta> {
        let mut url = self.file_url(repo, commit, file);
        for _ in 0..5 {
            let resp = self
                .with_token(self.agent.head(&url))
                .header("Accept-Encoding", "identity")
                .config()
                .max_redirects(0)
                .build()
                .call()
                .with_context(|| format!("HEAD {url}"))?;
            let status = resp.status().as_u16();
            let location = header(&resp, "location");
            if (300..400).contains(&status) {
                if let Some(rel) = location.as_deref().filter(|l| l.starts_with('/')) {
                    url = format!("{}{rel}", self.endpoint);
                    continue;
                }
            } else if !resp.status().is_success() {
                return Err(self.refused(file, &resp));
            }
            let etag = header(&resp, "x-linked-etag")
                .or_else(|| header(&resp, "etag"))
                .map(|e| normalise_etag(&e))
                .filter(|e| !e.is_empty())
                .ok_or_else(|| anyhow!("HEAD {url}: no ETag, so the file cannot be checked"))?;
            let size = header(&resp, "x-linked-size")
                .or_else(|| header(&resp, "content-length"))
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| anyhow!("HEAD {url}: no size"))?;
            return Ok(Meta {
                etag,
                size,
                commit: header(&resp, "x-repo-commit"),
                location,
            });
        }
        bail!("HEAD {url}: more than 5 redirects within {}", self.endpoint)
    }

    /// The bytes of a file from `offset` on: the response, and whether it starts there
    /// (a server that ignores `Range` sends the whole file).
    pub fn get_from(&self, url: &str, offset: u64) -> Result<(ureq::Body, bool)> {
        let mut req = self.with_token(self.agent.get(url));
        if offset > 0 {
            req = req.header("Range", format!("bytes={offset}-"));
        }
        let resp = req.call().with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        if !(status == 200 || status == 206) {
            return Err(self.refused(url, &resp));
        }
        Ok((resp.into_body(), status == 206))
    }
}

/// A file name from the Hub that stays inside a snapshot folder: relative, no `..`, no
/// empty or `.` part, no backslash.
pub fn safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.chars().any(char::is_control)
        && name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_and_file_names_are_read_safely() {
        assert_eq!(normalise_etag("W/\"abc\""), "abc");
        assert_eq!(normalise_etag("\"abc\""), "abc");
        for bad in ["../x", "/etc/passwd", "a/../b", "a//b", "./a", "a\\b", ""] {
            assert!(!safe_file_name(bad), "{bad}");
        }
        assert!(safe_file_name("sub/model.safetensors"));
    }
}
