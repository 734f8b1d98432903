//! Names: a repository (`ORG/NAME`), a revision (a branch, a tag or a commit), a
//! checkpoint's locator (`hf://ORG/NAME@REVISION`, as `huggingface_hub`'s file system
//! writes it), and revisions named by a pattern.

use std::fmt;

use anyhow::{anyhow, bail, Result};

/// A model repository on the Hub, `ORG/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoId {
    pub org: String,
    pub name: String,
}

impl RepoId {
    /// `ORG/NAME` with the characters the Hub allows (letters, digits, `-`, `_`, `.`; no
    /// `--` or `..`, neither part starting or ending with `-` or `.`, at most 96 in all).
    pub fn parse(s: &str) -> Result<RepoId> {
        let bad = |why: &str| anyhow!("`{s}` is not a Hub repository (ORG/NAME): {why}");
        let (org, name) = s
            .split_once('/')
            .ok_or_else(|| bad("no `/` between organisation and name"))?;
        if s.len() > 96 {
            return Err(bad("longer than 96 characters"));
        }
        for part in [org, name] {
            let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if part.is_empty() || !part.chars().all(allowed) {
                return Err(bad("only letters, digits, `-`, `_` and `.` in each part"));
            }
            if part.contains("--") || part.contains("..") {
                return Err(bad("`--` and `..` are not allowed"));
            }
            if part.starts_with(['-', '.']) || part.ends_with(['-', '.']) {
                return Err(bad("a part starts or ends with `-` or `.`"));
            }
        }
        Ok(RepoId {
            org: org.into(),
            name: name.into(),
        })
    }

    /// The cache's folder for the repository, `models--ORG--NAME`.
    pub fn folder(&self) -> String {
        format!("models--{}--{}", self.org, self.name)
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.name)
    }
}

/// Whether a revision is a full commit hash (40 lowercase hex digits), which needs no ref.
pub fn is_commit(revision: &str) -> bool {
    revision.len() == 40
        && revision
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A revision name as the Hub takes it: not empty, no `..`, no control characters, and
/// not starting with `/`.
pub fn check_revision(revision: &str) -> Result<()> {
    if revision.is_empty()
        || revision.contains("..")
        || revision.starts_with('/')
        || revision.chars().any(char::is_control)
    {
        bail!("`{revision}` is not a revision (a branch, tag or commit)");
    }
    Ok(())
}

/// A checkpoint on the Hub: `hf://ORG/NAME@REVISION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locator {
    pub repo: RepoId,
    pub revision: String,
}

pub const SCHEME: &str = "hf://";

impl Locator {
    /// `hf://ORG/NAME@REVISION` (`@main` when no revision is named); `None` for any other
    /// string, which is a path.
    pub fn parse(s: &str) -> Option<Result<Locator>> {
        let rest = s.strip_prefix(SCHEME)?;
        let (repo, revision) = rest.split_once('@').unwrap_or((rest, "main"));
        Some(RepoId::parse(repo).and_then(|repo| {
            check_revision(revision)?;
            Ok(Locator {
                repo,
                revision: revision.into(),
            })
        }))
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{SCHEME}{}@{}", self.repo, self.revision)
    }
}

/// The names a pattern stands for: `{A..B}` and `{A..B..STEP}` ranges of whole numbers
/// (as a shell expands them), `*` any run of characters, `?` one. A name without them
/// is itself.
fn expand_ranges(pattern: &str) -> Result<Vec<String>> {
    let Some(open) = pattern.find('{') else {
        return Ok(vec![pattern.to_string()]);
    };
    let close = pattern[open..]
        .find('}')
        .map(|i| open + i)
        .ok_or_else(|| anyhow!("revision pattern `{pattern}`: `{{` without `}}`"))?;
    let inner = &pattern[open + 1..close];
    let nums: Vec<&str> = inner.split("..").collect();
    let parse = |s: &str| {
        s.trim().parse::<u64>().map_err(|_| {
            anyhow!("revision pattern `{pattern}`: `{{{inner}}}` is not a range {{FIRST..LAST}} or {{FIRST..LAST..STEP}} of whole numbers")
        })
    };
    let (first, last, step) = match nums.as_slice() {
        [a, b] => (parse(a)?, parse(b)?, 1),
        [a, b, s] => (parse(a)?, parse(b)?, parse(s)?),
        _ => (parse("x")?, 0, 0),
    };
    if step == 0 || first > last {
        bail!(
            "revision pattern `{pattern}`: a range counts up from FIRST to LAST by a positive STEP"
        );
    }
    let count = (last - first) / step + 1;
    if count > 1_000_000 {
        bail!("revision pattern `{pattern}`: {count} names (at most a million)");
    }
    let mut out = Vec::new();
    for i in 0..count {
        let n = first + i * step;
        for tail in expand_ranges(&pattern[close + 1..])? {
            out.push(format!("{}{n}{tail}", &pattern[..open]));
        }
    }
    Ok(out)
}

/// Whether `name` matches a pattern of literal characters, `*` and `?`.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard(&pattern[1..], name) || (!name.is_empty() && wildcard(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The revisions `patterns` name, among those the repository has (`refs`, its branch
/// and tag names), in the order the patterns give them, each once. A plain name the
/// repository lacks is an error; a pattern keeps the names it has (Pythia has
/// `step1000` … `step143000` by thousands, but not every `step{0..143000..512}`) and is
/// an error only when it matches none. A commit hash is taken as it is.
pub fn expand_revisions(patterns: &[String], refs: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |name: &str| {
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    };
    for p in patterns {
        let is_pattern = p.contains(['{', '*', '?']);
        if !is_pattern {
            check_revision(p)?;
            if !is_commit(p) && !refs.iter().any(|r| r == p) {
                bail!("revision `{p}`: the repository has no such branch or tag");
            }
            push(p);
            continue;
        }
        let mut matched = 0;
        for name in expand_ranges(p)? {
            if name.contains(['*', '?']) {
                let mut hits: Vec<&String> = refs
                    .iter()
                    .filter(|r| wildcard(name.as_bytes(), r.as_bytes()))
                    .collect();
                hits.sort_by_key(|r| (step_of(r), r.to_string()));
                matched += hits.len();
                hits.into_iter().for_each(|r| push(r));
            } else if refs.contains(&name) {
                matched += 1;
                push(&name);
            }
        }
        if matched == 0 {
            bail!("revision pattern `{p}`: the repository has no revision it names");
        }
    }
    Ok(out)
}

/// The number in a revision's name, to order `step*` as 1000 before 10000.
fn step_of(name: &str) -> u64 {
    let digits: String = name
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

/// Percent-encodes `s` for a URL path: unreserved characters as they are, `/` too where
/// `keep_slash` (a file's path), everything else as `%XX` (a revision like `refs/pr/1`).
pub fn quote(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let plain = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        if plain || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_checked_as_the_hub_checks_them() {
        let r = RepoId::parse("EleutherAI/pythia-160m").unwrap();
        assert_eq!(r.folder(), "models--EleutherAI--pythia-160m");
        assert_eq!(r.to_string(), "EleutherAI/pythia-160m");
        for bad in [
            "gpt2",
            "a/b/c",
            "org/na me",
            "org/-x",
            "org/x..y",
            "org/x--y",
            "/x",
            "x/",
            "../x",
        ] {
            assert!(RepoId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn locators_name_a_repository_and_revision() {
        let l = Locator::parse("hf://EleutherAI/pythia-70m@step1000")
            .unwrap()
            .unwrap();
        assert_eq!(l.revision, "step1000");
        assert_eq!(l.to_string(), "hf://EleutherAI/pythia-70m@step1000");
        assert_eq!(
            Locator::parse("hf://a/b").unwrap().unwrap().revision,
            "main"
        );
        assert!(Locator::parse("runs/a/step-10").is_none());
        assert!(Locator::parse("hf://a/b@x..y").unwrap().is_err());
    }

    #[test]
    fn patterns_keep_the_revisions_the_repository_has() {
        let refs: Vec<String> = [
            "main", "step0", "step1", "step2", "step4", "step1000", "step2000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ex = |p: &[&str]| {
            expand_revisions(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &refs)
        };
        assert_eq!(
            ex(&["step{0..4}"]).unwrap(),
            ["step0", "step1", "step2", "step4"]
        );
        assert_eq!(
            ex(&["step{1000..3000..1000}"]).unwrap(),
            ["step1000", "step2000"]
        );
        assert_eq!(
            ex(&["step*", "main"]).unwrap(),
            ["step0", "step1", "step2", "step4", "step1000", "step2000", "main"]
        );
        assert_eq!(
            ex(&["step1", "step{0..2}"]).unwrap(),
            ["step1", "step0", "step2"]
        );
        let commit = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(ex(&[commit]).unwrap(), [commit]);
        for bad in [
            "step3",
            "step{5..9}",
            "step{9..5}",
            "step{1..x}",
            "step{1..2..0}",
            "x*",
        ] {
            let e = ex(&[bad]).unwrap_err().to_string();
            assert!(e.contains(bad.split('{').next().unwrap()), "{bad}: {e}");
        }
    }

    #[test]
    fn urls_quote_revisions_whole_and_paths_by_part() {
        assert_eq!(quote("refs/pr/1", false), "refs%2Fpr%2F1");
        assert_eq!(quote("sub dir/model.bin", true), "sub%20dir/model.bin");
        assert!(is_commit("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_commit("main"));
    }
}
