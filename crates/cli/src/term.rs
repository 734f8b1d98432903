//! Text for an 80–100-column terminal: names cut to a column's width, long
//! sentences wrapped under an indent.

/// The width the summaries fit.
pub const COLUMNS: usize = 100;

/// `s` in at most `width` characters: a long name keeps its start and its end, which
/// tell apart names like `hendrycksTest-high_school_physics` and `…_psychology`.
pub fn fit(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    let tail = (width - 1) / 2;
    let head = width - 1 - tail;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// `text` broken at spaces into lines of at most [`COLUMNS`] characters, the first
/// starting with `first`, the rest indented by `indent` spaces.
pub fn wrap(first: &str, text: &str, indent: usize) -> String {
    let mut out = String::from(first);
    let mut col = first.chars().count();
    let mut line_start = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let w = word.chars().count();
        if !line_start && col + 1 + w > COLUMNS {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
            line_start = true;
        }
        if !line_start {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
        line_start = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_keep_both_ends() {
        let s = fit("hendrycksTest-high_school_government_and_politics", 20);
        assert_eq!(s.chars().count(), 20);
        assert!(s.starts_with("hendrycks") && s.ends_with("politics"), "{s}");
        assert_eq!(fit("qa-en", 20), "qa-en");
    }

    #[test]
    fn wrapped_lines_fit() {
        let text = "emergent in only 48% of refits (104 emergent, 112 smooth; at least 80% needed) and then some more words to make it long enough to wrap twice over the width";
        let w = wrap("  uncertain: ", text, 4);
        assert!(w.lines().count() >= 2);
        for l in w.lines() {
            assert!(l.chars().count() <= COLUMNS, "{l}");
        }
        assert!(w.lines().nth(1).unwrap().starts_with("    "));
    }
}
