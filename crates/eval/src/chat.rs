//! A model's chat template (Jinja, from `tokenizer_config.json` or `chat_template.jinja`),
//! rendered as `transformers`' `apply_chat_template` renders it, and lm-eval's prompt
//! layout around it: the system turn, few-shot examples as turns, the generation prompt.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};
use serde_json::Value as Json;

/// A chat template with the special tokens it may name.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    pub source: String,
    pub bos_token: String,
    pub eos_token: String,
}

fn token_text(v: Option<&Json>) -> String {
    match v {
        Some(Json::String(s)) => s.clone(),
        Some(o) => o
            .get("content")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string(),
        None => String::new(),
    }
}

impl ChatTemplate {
    /// The template of a checkpoint directory: `chat_template.jinja`, else
    /// `tokenizer_config.json`'s `chat_template` (its `default` when it is a list).
    pub fn from_checkpoint(dir: &Path) -> Result<Option<ChatTemplate>> {
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg: Json = match std::fs::read_to_string(&cfg_path) {
            Ok(t) => serde_json::from_str(&t)
                .with_context(|| format!("{}: not valid JSON", cfg_path.display()))?,
            Err(_) => Json::Null,
        };
        let file = dir.join("chat_template.jinja");
        let source = if file.is_file() {
            Some(
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?,
            )
        } else {
            match cfg.get("chat_template") {
                Some(Json::String(s)) => Some(s.clone()),
                Some(Json::Array(list)) => list
                    .iter()
                    .find(|t| t.get("name").and_then(Json::as_str) == Some("default"))
                    .and_then(|t| t.get("template").and_then(Json::as_str))
                    .map(str::to_string),
                _ => None,
            }
        };
        Ok(source.map(|source| ChatTemplate {
            source,
            bos_token: token_text(cfg.get("bos_token")),
            eos_token: token_text(cfg.get("eos_token")),
        }))
    }

    /// Renders `(role, content)` messages, ending with the assistant's turn opened when
    /// `add_generation_prompt` (Hugging Face's Jinja settings: blocks trimmed).
    pub fn render(
        &self,
        messages: &[(String, String)],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_function("strftime_now", |_fmt: String| -> Result<Value, Error> {
            // Rendering must not depend on the clock: a fixed date keeps prompts stable.
            Ok(Value::from("01 Jan 2026"))
        });
        env.add_template("chat", &self.source)
            .map_err(|e| anyhow!("the chat template does not parse: {e:#}"))?;
        let msgs: Vec<Json> = messages
            .iter()
            .map(|(r, c)| serde_json::json!({"role": r, "content": c}))
            .collect();
        let ctx = minijinja::context! {
            messages => Value::from_serialize(&msgs),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.clone(),
            eos_token => self.eos_token.clone(),
        };
        env.get_template("chat")
            .and_then(|t| t.render(ctx))
            .map_err(|e| anyhow!("rendering the chat template: {e:#}"))
    }
}

/// lm-eval's `maybe_delimit`: the two joined by `delimiter` unless either is empty or
/// there is already whitespace at the seam.
pub fn maybe_delimit(prefix: &str, suffix: &str, delimiter: &str) -> String {
    if prefix.is_empty() {
        return suffix.to_string();
    }
    if suffix.is_empty() {
        return prefix.to_string();
    }
    let seam = prefix.chars().last().is_some_and(crate::py::is_py_space)
        || suffix.chars().next().is_some_and(crate::py::is_py_space);
    if seam {
        format!("{prefix}{suffix}")
    } else {
        format!("{prefix}{delimiter}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_like_transformers() {
        let t = ChatTemplate {
            source: CHATML.into(),
            bos_token: String::new(),
            eos_token: String::new(),
        };
        let m = vec![
            ("system".to_string(), "Be brief.".to_string()),
            ("user".to_string(), "Hi".to_string()),
        ];
        assert_eq!(
            t.render(&m, true).unwrap(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(maybe_delimit("a", "b", "\n\n"), "a\n\nb");
        assert_eq!(maybe_delimit("a\n", "b", "\n\n"), "a\nb");
        assert_eq!(maybe_delimit("", "b", "\n\n"), "b");
    }
}
