//! Byte-level BPE through Hugging Face `tokenizers`, saved as `tokenizer.json` so
//! `transformers` and emergent encode identically.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::AddedToken;

use crate::DataError;

/// The one special token: document separator, BOS and EOS at once (as in GPT-2).
pub const EOS_TOKEN: &str = "<|endoftext|>";

/// A loaded tokenizer.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    bos: Option<u32>,
    memo: Option<Mutex<Memo>>,
}

/// Encodings of texts seen before, up to a size: scoring the same tasks on every
/// checkpoint of a study encodes the same prompts each time, and byte-level BPE costs
/// as much as a small model's forward pass. Encoding is a pure function of the text,
/// so a remembered encoding is the encoding.
#[derive(Default)]
struct Memo {
    /// Without and with special tokens, indexed by `special as usize`.
    maps: [HashMap<String, Vec<u32>>; 2],
    bytes: usize,
    max_bytes: usize,
}

impl Memo {
    fn get(&self, special: bool, text: &str) -> Option<Vec<u32>> {
        self.maps[special as usize].get(text).cloned()
    }

    fn put(&mut self, special: bool, text: &str, ids: &[u32]) {
        let size = text.len() + 4 * ids.len();
        if self.bytes + size > self.max_bytes {
            return;
        }
        let map = &mut self.maps[special as usize];
        if map.insert(text.to_string(), ids.to_vec()).is_none() {
            self.bytes += size;
        }
    }
}

/// Trains a byte-level BPE of `vocab_size` entries (special token included) on `docs`.
pub fn train_bpe(docs: &[String], vocab_size: usize) -> Result<Tokenizer, DataError> {
    let alphabet = ByteLevel::alphabet().into_iter().collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from(EOS_TOKEN, true)])
        .initial_alphabet(alphabet)
        .build()
        .into();
    let mut tok = tokenizers::Tokenizer::new(BPE::default());
    // No prefix space: " " + word is its own token, as lm-evaluation-harness expects.
    tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tok.with_decoder(Some(ByteLevel::new(false, true, true)));
    tok.with_post_processor(Some(ByteLevel::new(false, true, true)));
    tok.train(&mut trainer, docs.iter())
        .map_err(|e| DataError::Tokenizer(format!("training failed: {e}")))?;
    Ok(Tokenizer::from_inner(tok))
}

impl Tokenizer {
    /// Loads a Hugging Face `tokenizer.json`.
    pub fn load(path: &Path) -> Result<Tokenizer, DataError> {
        if !path.exists() {
            return Err(DataError::file(path, "no such file"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        // JSON errors with their line and column first; the `tokenizers` crate panics
        // on some malformed parts (its decoder's deserialiser), so that is caught too.
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
            return Err(DataError::file(path, format!("not valid JSON: {e}")));
        }
        let parsed = std::panic::catch_unwind(|| text.parse::<tokenizers::Tokenizer>());
        let inner = match parsed {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                return Err(DataError::file(
                    path,
                    format!("not a valid tokenizer.json: {e}"),
                ))
            }
            Err(_) => {
                return Err(DataError::file(
                    path,
                    "not a valid tokenizer.json (its decoder or another part is malformed)",
                ))
            }
        };
        Ok(Tokenizer::from_inner(inner))
    }

    fn from_inner(inner: tokenizers::Tokenizer) -> Tokenizer {
        Tokenizer {
            inner,
            bos: None,
            memo: None,
        }
    }

    /// Remembers the encodings of the texts it is given, up to `max_bytes` of texts and
    /// ids, for a tokenizer that encodes the same texts many times.
    pub fn remember_encodings(&mut self, max_bytes: usize) {
        self.memo = Some(Mutex::new(Memo {
            max_bytes,
            ..Memo::default()
        }));
    }

    /// `encode_raw` through the memo when there is one.
    fn encode_memo(&self, text: &str, special: bool) -> Vec<u32> {
        let Some(memo) = &self.memo else {
            return self.encode_raw(text, special);
        };
        let lock = || memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ids) = lock().get(special, text) {
            return ids;
        }
        let ids = self.encode_raw(text, special);
        lock().put(special, text, &ids);
        ids
    }

    fn encode_raw(&self, text: &str, special: bool) -> Vec<u32> {
        let plain = || {
            self.inner
                .encode_fast(text, false)
                .map(|e| e.get_ids().to_vec())
                .unwrap_or_else(|e| panic!("encoding cannot fail for byte-level BPE: {e}"))
        };
        if !special {
            return plain();
        }
        self.inner
            .encode_fast(text, true)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_else(|_| plain())
    }

    /// The largest token id, which a model's vocabulary must exceed.
    pub fn max_id(&self) -> Option<u32> {
        self.inner.get_vocab(true).into_values().max()
    }

    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        emergent_files::write_via_temp(path, |tmp| {
            self.inner
                .save(tmp, false)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map_err(|e| DataError::io(path, e))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of `text`, without special tokens added.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encode_memo(text, false)
    }

    /// Token ids as Hugging Face's `tokenizer.encode(text)` gives them: special tokens
    /// added by the post-processor where `tokenizer.json` has one (lm-eval's convention).
    pub fn encode_with_special(&self, text: &str) -> Vec<u32> {
        self.encode_memo(text, true)
    }

    /// Text of `ids`, special tokens left out (`skip_special_tokens=True`).
    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, true).unwrap_or_default()
    }

    /// Text of `ids` with special tokens written out.
    pub fn decode_with_special(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, false).unwrap_or_default()
    }

    /// The BOS id if `tokenizer_config.json`-style metadata named one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn set_bos(&mut self, id: Option<u32>) {
        self.bos = id;
    }

    /// A tokenizer from `tokenizer.json` text.
    pub fn from_json(json: &str) -> Result<Tokenizer, DataError> {
        let inner = json
            .parse::<tokenizers::Tokenizer>()
            .map_err(|e| DataError::Tokenizer(format!("not a valid tokenizer: {e}")))?;
        Ok(Tokenizer::from_inner(inner))
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The id used as BOS/EOS: the end-of-text token if present.
    pub fn eos_id(&self) -> Option<u32> {
        self.token_id(EOS_TOKEN)
    }
}

/// `tokenizer_config.json` so `AutoTokenizer` loads `tokenizer.json` as a fast tokenizer.
pub fn write_tokenizer_config(
    dir: &Path,
    max_len: usize,
    eos: Option<&str>,
) -> Result<(), DataError> {
    let cfg = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": eos,
        "eos_token": eos,
        "unk_token": null,
        "pad_token": eos,
        "add_bos_token": false,
        "add_eos_token": false,
        "clean_up_tokenization_spaces": false,
        "model_max_length": max_len,
    });
    let path = dir.join("tokenizer_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap())
        .map_err(|e| DataError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fox_tokenizer() -> Tokenizer {
        let docs: Vec<String> = (0..200)
            .map(|i| format!("The fox number {i} lives in Amber Hollow. 数字 {}", i * 7))
            .collect();
        train_bpe(&docs, 300).unwrap()
    }

    #[test]
    fn trains_saves_loads_and_round_trips() {
        let tok = fox_tokenizer();
        assert_eq!(tok.eos_id(), Some(0));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenizer.json");
        tok.save(&p).unwrap();
        let tok2 = Tokenizer::load(&p).unwrap();
        let text = "The fox number 17 lives in Amber Hollow. 数字 é";
        let ids = tok2.encode(text);
        assert_eq!(ids, tok.encode(text));
        assert_eq!(tok2.decode(&ids), text);
        assert!(tok2.vocab_size() <= 300);
    }

    #[test]
    fn remembered_encodings_are_the_encodings_and_stay_within_their_size() {
        let plain = fox_tokenizer();
        let mut memo = fox_tokenizer();
        let max_bytes = 400;
        memo.remember_encodings(max_bytes);
        let texts: Vec<String> = (0..40).map(|i| format!("fox {i} in {}", i % 3)).collect();
        for _ in 0..3 {
            for t in &texts {
                assert_eq!(memo.encode(t), plain.encode(t), "{t}");
                assert_eq!(memo.encode_with_special(t), plain.encode_with_special(t));
            }
        }
        let m = memo.memo.as_ref().unwrap().lock().unwrap();
        let size = |map: &HashMap<String, Vec<u32>>| -> usize {
            map.iter().map(|(k, v)| k.len() + 4 * v.len()).sum()
        };
        assert_eq!(m.bytes, size(&m.maps[0]) + size(&m.maps[1]));
        assert!(
            m.bytes <= max_bytes && m.bytes > max_bytes / 2,
            "{}",
            m.bytes
        );
        assert!(!m.maps[0].is_empty() && !m.maps[1].is_empty());
    }

    #[test]
    fn a_broken_tokenizer_json_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenizer.json");
        std::fs::write(&p, "{ not json").unwrap();
        let e = Tokenizer::load(&p).err().unwrap().to_string();
        assert!(
            e.contains("tokenizer.json") && e.contains("not valid JSON"),
            "{e}"
        );
    }

    #[test]
    fn a_broken_decoder_is_an_error_not_a_panic() {
        let docs: Vec<String> = (0..50).map(|i| format!("word {i} and more")).collect();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenizer.json");
        train_bpe(&docs, 270).unwrap().save(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        for broken in [
            text.replacen("\"decoder\":{", "\"decoder\":{,", 1),
            text.replacen(
                "\"decoder\":{\"type\":\"ByteLevel\"",
                "\"decoder\":{\"type\":7",
                1,
            ),
            text.replacen("\"decoder\":{", "\"decoder\":[{", 1),
        ] {
            assert_ne!(broken, text, "the decoder was found");
            std::fs::write(&p, &broken).unwrap();
            let e = Tokenizer::load(&p).err().unwrap().to_string();
            assert!(e.contains("tokenizer.json") && e.contains("not"), "{e}");
        }
    }
}
