//! Paths named by a pattern, as a shell expands them: `*` and `?` within one path
//! component (`ladder/*/step-*`, `runs/pythia-*.gguf`), matched in sorted order.

use std::path::{Component, Path, PathBuf};

/// Whether a path names more than itself.
pub fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Every existing path the pattern matches, sorted; a pattern without wildcards is
/// itself when it exists. Hidden names match only a pattern that starts with a dot.
pub fn expand(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let mut found = vec![PathBuf::new()];
    for comp in path.components() {
        let part = comp.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for base in &found {
            match comp {
                Component::Normal(_) if is_pattern(&part) => {
                    let dir = if base.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        base.as_path()
                    };
                    let Ok(entries) = std::fs::read_dir(dir) else {
                        continue;
                    };
                    let mut names: Vec<String> = entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| {
                            matches(&part, n) && (!n.starts_with('.') || part.starts_with('.'))
                        })
                        .collect();
                    names.sort();
                    next.extend(names.into_iter().map(|n| base.join(n)));
                }
                _ => next.push(base.join(comp)),
            }
        }
        found = next;
    }
    found.retain(|p| p.exists());
    found
}

/// `*` any run of characters, `?` one character, anything else itself.
fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // The classic two-pointer match with one backtrack point for the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_within_a_component() {
        assert!(matches("step-*", "step-0001000"));
        assert!(matches("*.gguf", "pythia-70m.gguf"));
        assert!(matches("s?ep*0", "step-1000"));
        assert!(!matches("step-*", "steps"));
        assert!(!matches("*.gguf", "a.gguf.tmp"));
        assert!(matches("*", ""));
    }

    #[test]
    fn a_pattern_expands_to_existing_paths_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for p in [
            "a/step-2",
            "a/step-10",
            "b/step-1",
            "b/other",
            "a/.hidden-step",
        ] {
            std::fs::create_dir_all(dir.path().join(p)).unwrap();
        }
        let pattern = format!("{}/*/step-*", dir.path().display());
        let got: Vec<String> = expand(&pattern)
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(got, ["a/step-10", "a/step-2", "b/step-1"]);
        assert!(expand(&format!("{}/none-*", dir.path().display())).is_empty());
        assert_eq!(expand(&format!("{}/a", dir.path().display())).len(), 1);
    }
}
