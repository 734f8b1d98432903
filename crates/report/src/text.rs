//! Text put into the page: escaped for HTML, and numbers in the report's formats. A leaf
//! that the page (`html.rs`) and the figures' legends (`style.rs`) both use.

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

pub(crate) fn sci(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2e}"))
}
