//! Task templates: Jinja (through minijinja) over a document's fields, resolved the way
//! lm-evaluation-harness resolves `doc_to_text`, `doc_to_choice` and `doc_to_target`.
//! Nothing in a task file runs as code: templates see the document and a few filters.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// A field of the spec: a document key, a template, or (for choices) a literal list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Field {
    Text(String),
    List(Vec<String>),
    Index(usize),
}

/// What `doc_to_text` or `doc_to_target` gives for one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Text(String),
    Index(usize),
    List(Vec<String>),
}

pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.add_filter("regex_replace", regex_replace);
        env.set_unknown_method_callback(python_methods);
        Templates { env }
    }
}

/// lm-evaluation-harness's `regex_replace` filter (`re.sub`).
/// Patterns are compiled once per process: a template runs the filter on every document.
fn regex_replace(s: String, pattern: String, repl: String) -> Result<String, Error> {
    static COMPILED: OnceLock<Mutex<HashMap<String, regex::Regex>>> = OnceLock::new();
    let cache = COMPILED.get_or_init(Default::default);
    let cached = cache.lock().ok().and_then(|c| c.get(&pattern).cloned());
    let re = match cached {
        Some(re) => re,
        None => {
            let re = regex::Regex::new(&pattern)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("bad regex: {e}")))?;
            if let Ok(mut c) = cache.lock() {
                c.insert(pattern, re.clone());
            }
            re
        }
    };
    Ok(re.replace_all(&s, python_repl(&repl).as_str()).into_owned())
}

/// Python's `\1` group references to the regex crate's `${1}`.
fn python_repl(repl: &str) -> String {
    let mut out = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(d)) if d.is_ascii_digit() => {
                out.push_str(&format!("${{{d}}}"));
                chars.next();
            }
            ('$', _) => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out
}

/// Python methods templates written for Jinja2 use: minijinja-contrib's set plus
/// `index` on strings and lists (ARC's `choices.label.index(answerKey)`).
fn python_methods(
    state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if method == "index" && args.len() == 1 {
        let not_found = || Error::new(ErrorKind::InvalidOperation, "index: value not found");
        if let Some(s) = value.as_str() {
            let needle = args[0].as_str().unwrap_or_default();
            let at = s.find(needle).ok_or_else(not_found)?;
            return Ok(Value::from(s[..at].chars().count()));
        }
        if let Ok(items) = value.try_iter() {
            let pos = items
                .into_iter()
                .position(|x| x == args[0])
                .ok_or_else(not_found)?;
            return Ok(Value::from(pos));
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_numeric())
}

impl Templates {
    /// Renders `template` against `doc`; a whole-expression template (`{{ expr }}`) keeps
    /// the expression's value (a list stays a list, an integer an integer).
    fn eval(&self, template: &str, doc: &Json) -> Result<Value, Error> {
        let ctx = Value::from_serialize(doc);
        let t = template.trim();
        if let Some(inner) = t.strip_prefix("{{").and_then(|x| x.strip_suffix("}}")) {
            if !inner.contains("{{") && !inner.contains("}}") {
                let expr = self.env.compile_expression(inner.trim())?;
                let v = expr.eval(ctx)?;
                if v.is_undefined() {
                    return Err(Error::new(
                        ErrorKind::UndefinedError,
                        format!("`{}` is an undefined value", inner.trim()),
                    ));
                }
                return Ok(v);
            }
        }
        Ok(Value::from(self.env.render_str(template, ctx)?))
    }

    fn lookup<'d>(&self, field: &str, doc: &'d Json) -> Option<&'d Json> {
        doc.as_object().and_then(|o| o.get(field))
    }

    /// `doc_to_text`: a string, or an index (Winogrande-style tasks whose choices are contexts).
    pub fn text(&self, f: &Field, doc: &Json, has_choices: bool) -> Result<Resolved, Error> {
        match f {
            Field::Index(i) => Ok(Resolved::Index(*i)),
            Field::List(_) => Err(Error::new(
                ErrorKind::InvalidOperation,
                "a list is not a text",
            )),
            Field::Text(s) => {
                if let Some(v) = self.lookup(s, doc) {
                    return Ok(json_to_resolved(v));
                }
                let v = self.eval(s, doc)?;
                Ok(value_to_resolved(&v, has_choices))
            }
        }
    }

    /// `doc_to_target`.
    pub fn target(&self, f: &Field, doc: &Json, has_choices: bool) -> Result<Resolved, Error> {
        match f {
            Field::List(l) => Ok(Resolved::List(l.clone())),
            _ => self.text(f, doc, has_choices),
        }
    }

    /// `doc_to_choice`: a list of strings.
    pub fn choices(&self, f: &Field, doc: &Json) -> Result<Vec<String>, Error> {
        let bad = |what: String| Error::new(ErrorKind::InvalidOperation, what);
        match f {
            Field::List(l) => Ok(l.clone()),
            Field::Index(_) => Err(bad("choices must be a list".into())),
            Field::Text(s) => {
                if let Some(v) = self.lookup(s, doc) {
                    return match v {
                        Json::Array(a) => Ok(a.iter().map(json_text).collect()),
                        _ => Err(bad(format!("field `{s}` is not a list"))),
                    };
                }
                let v = self.eval(s, doc)?;
                if let Some(text) = v.as_str() {
                    // A rendered list, as Python's ast.literal_eval reads it.
                    let json = text.replace('\'', "\"");
                    let parsed: Vec<Json> = serde_json::from_str(&json)
                        .map_err(|_| bad(format!("`{text}` is not a list")))?;
                    return Ok(parsed.iter().map(json_text).collect());
                }
                let items = v
                    .try_iter()
                    .map_err(|_| bad(format!("`{v}` is not a list")))?;
                Ok(items.map(|x| value_text(&x)).collect())
            }
        }
    }

    /// Renders a plain string template (descriptions), or returns it unchanged.
    pub fn render(&self, template: &str, doc: &Json) -> Result<String, Error> {
        self.env.render_str(template, Value::from_serialize(doc))
    }
}

fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn value_text(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

fn json_to_resolved(v: &Json) -> Resolved {
    match v {
        Json::Number(n) if n.as_u64().is_some() => Resolved::Index(n.as_u64().unwrap() as usize),
        Json::Array(a) => Resolved::List(a.iter().map(json_text).collect()),
        other => Resolved::Text(json_text(other)),
    }
}

fn value_to_resolved(v: &Value, has_choices: bool) -> Resolved {
    if let Some(s) = v.as_str() {
        if has_choices && is_digits(s) {
            if let Ok(i) = s.parse() {
                return Resolved::Index(i);
            }
        }
        if s.len() >= 2 && s.starts_with('[') && s.ends_with(']') {
            if let Ok(list) = serde_json::from_str::<Vec<Json>>(&s.replace('\'', "\"")) {
                return Resolved::List(list.iter().map(json_text).collect());
            }
        }
        return Resolved::Text(s.to_string());
    }
    if let Some(i) = v.as_usize() {
        if has_choices {
            return Resolved::Index(i);
        }
        return Resolved::Text(i.to_string());
    }
    if let Ok(items) = v.try_iter() {
        return Resolved::List(items.map(|x| value_text(&x)).collect());
    }
    Resolved::Text(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_like_lm_eval() {
        let t = Templates::default();
        let arc = json!({"question": "Which?", "choices": {"text": ["a", "b c"], "label": ["A", "B"]}, "answerKey": "B"});
        let text = t.text(
            &Field::Text("Question: {{question}}\nAnswer:".into()),
            &arc,
            true,
        );
        assert_eq!(
            text.unwrap(),
            Resolved::Text("Question: Which?\nAnswer:".into())
        );
        let c = t
            .choices(&Field::Text("{{choices.text}}".into()), &arc)
            .unwrap();
        assert_eq!(c, ["a", "b c"]);
        let g = t.target(
            &Field::Text("{{choices.label.index(answerKey)}}".into()),
            &arc,
            true,
        );
        assert_eq!(g.unwrap(), Resolved::Index(1));
        let wino = json!({"sentence": "The cup fell because _ was slippery.", "option1": "it", "option2": "he", "answer": "1"});
        let text = t.text(
            &Field::Text("{{ {'1': 0, '2': 1}[answer] }}".into()),
            &wino,
            true,
        );
        assert_eq!(text.unwrap(), Resolved::Index(0));
        let tgt = "{{ sentence[sentence.index('_') + 1:].strip() }}";
        let g = t.target(&Field::Text(tgt.into()), &wino, true).unwrap();
        assert_eq!(g, Resolved::Text("was slippery.".into()));
        let piqa = json!({"goal": "g", "sol1": "x", "sol2": "y", "label": 1});
        assert_eq!(
            t.choices(&Field::Text("{{[sol1, sol2]}}".into()), &piqa)
                .unwrap(),
            ["x", "y"]
        );
        assert_eq!(
            t.target(&Field::Text("label".into()), &piqa, true).unwrap(),
            Resolved::Index(1)
        );
        let hs = "{{ 'a [title] b [x]c  d' | regex_replace('\\\\[.*?\\\\]', '') }}";
        assert_eq!(
            t.text(&Field::Text(hs.into()), &piqa, false).unwrap(),
            Resolved::Text("a  b c  d".into())
        );
        let err = t
            .text(&Field::Text("{{ missing }}".into()), &piqa, false)
            .unwrap_err();
        assert!(err.to_string().contains("undefined"), "{err}");
    }
}
