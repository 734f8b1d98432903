//! A gate against a published result: the phase change of in-context copying on
//! repeated random tokens (Olsson et al. 2022, "In-context learning and induction
//! heads", whose two-layer models show it as a sudden drop of the loss on the repeated
//! tokens). A two-layer model trained on documents that repeat a random string
//! (`qhx…|qhx…`, a new string every document) first learns nothing its context could
//! tell it: its loss sits at the level of guessing each letter. Then, within a few
//! hundred steps, it drops to the loss of copying the second copy perfectly. Trained by
//! `emergent run` on its own corpus path, with a character vocabulary and documents
//! exactly one window long, so every copied letter's source is in the window and the
//! two levels are known exactly. The copy's source is always 32 tokens back, which one
//! layer can attend to by position alone (a one-layer model learns it too);
//! `docs/builtin-study.md` (pilot N) records the version with a varying offset, which
//! needs an induction head.

use std::path::Path;
use std::process::Command;

use emergent_engine::Rng;

/// Letters per copy: with `|` and the end-of-text token a document is 64 tokens, one
/// training window.
const LETTERS: usize = 31;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

/// `n` documents, each a random string of [`LETTERS`] letters, `|`, and the same string.
fn corpus(path: &Path, n: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut out = String::new();
    for _ in 0..n {
        let s: String = (0..LETTERS)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())] as char)
            .collect();
        out.push_str(&serde_json::json!({ "text": format!("{s}|{s}") }).to_string());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// A tokenizer of one token per character: the end-of-text token and `chars`.
fn char_tokenizer(path: &Path, chars: impl Iterator<Item = char>) {
    let mut vocab = serde_json::Map::new();
    vocab.insert("<|endoftext|>".into(), 0.into());
    for (i, c) in chars.enumerate() {
        vocab.insert(c.to_string(), (i + 1).into());
    }
    let tok = serde_json::json!({
        "version": "1.0",
        "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": false,
            "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": []}
    });
    std::fs::write(path, tok.to_string()).unwrap();
}

/// Trains one model by `emergent run` on `corpus.jsonl` and `chars.json` in `d`: each
/// checkpoint's tokens and validation loss, in order.
fn train(d: &Path, layers: usize, budget: u64, checkpoints: usize) -> Vec<(u64, f64)> {
    let study = format!(
        "name = \"phase change\"\nseed = 1\nthreads = 2\n\
         [corpus]\nsource = \"{0}/corpus.jsonl\"\nvalidation_fraction = 0.01\n\
         [tokenizer]\npath = \"{0}/chars.json\"\n\
         [[models]]\nlayers = {layers}\nhidden = 64\nheads = 4\n\
         [training]\nbudgets = [{budget}]\nbatch_size = 8\nseq_len = 64\nlr = 3e-3\n\
         warmup_steps = 100\ncheckpoints = {checkpoints}\nfirst_checkpoint_tokens = 8000\n\
         [eval]\ntasks = []\n",
        d.display()
    );
    std::fs::write(d.join("study.toml"), study).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_emergent"))
        .args(["run", d.join("study.toml").to_str().unwrap(), "--out"])
        .arg(d.join("out"))
        .arg("--no-report")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    losses(&d.join("out"))
}

/// Each checkpoint's tokens and validation loss, in order.
fn losses(out: &Path) -> Vec<(u64, f64)> {
    let mut pts = Vec::new();
    for run in std::fs::read_dir(out.join("runs")).unwrap() {
        for ck in std::fs::read_dir(run.unwrap().path()).unwrap() {
            let meta = ck.unwrap().path().join("meta.json");
            if let Ok(text) = std::fs::read_to_string(&meta) {
                let m: serde_json::Value = serde_json::from_str(&text).unwrap();
                pts.push((
                    m["tokens"].as_u64().unwrap(),
                    m["val_loss"].as_f64().unwrap(),
                ));
            }
        }
    }
    pts.sort_by_key(|p| p.0);
    pts
}

#[test]
fn a_two_layer_model_learns_to_copy_in_a_phase_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    corpus(&d.join("corpus.jsonl"), 6000, 1);
    char_tokenizer(
        &d.join("chars.json"),
        ALPHABET.iter().chain(b"|").map(|&c| c as char),
    );
    let pts = train(d, 2, 200_000, 20);
    eprintln!("tokens and validation loss: {pts:?}");
    // Each window holds one document: 63 predicted tokens, of which the first copy's 30
    // letters after its first are unpredictable (ln 26 each) and, with copying, nothing
    // else is. Without the context, the second copy's 31 letters are unpredictable too.
    let letter = (ALPHABET.len() as f64).ln();
    let copying = (LETTERS - 1) as f64 * letter / 63.0;
    let no_context = (2 * LETTERS - 1) as f64 * letter / 63.0;
    let said = format!("{pts:?}");
    // A plateau: the first three checkpoints do no better than the best predictor that
    // ignores the context.
    assert!(pts.len() >= 15, "{said}");
    assert!(pts[..3].iter().all(|&(_, l)| l >= no_context), "{said}");
    // The end: copying, within 0.03 nats of its floor.
    let last = pts.last().unwrap().1;
    assert!(
        (last - copying).abs() < 0.03,
        "last {last}, floor {copying}: {said}"
    );
    // Abrupt: from leaving the plateau to within 0.15 of the floor takes at most three
    // times the tokens the plateau lasted to.
    let left = pts.iter().find(|p| p.1 < no_context - 0.05).unwrap().0;
    let arrived = pts.iter().find(|p| p.1 < copying + 0.15).unwrap().0;
    assert!(
        arrived as f64 <= 3.0 * left as f64 && left > pts[0].0,
        "left the plateau at {left} tokens, copying at {arrived}: {said}"
    );
}

/// Symbols of the induction corpus: a hundred CJK characters, one token each.
fn symbols() -> Vec<char> {
    (0..100)
        .filter_map(|i| char::from_u32(0x4E00 + i))
        .collect()
}

/// `n` documents of one window each: `.` × (62 − 2L), then L distinct random symbols
/// (L from 20 to 31), `|`, and the same L symbols. Where the copy starts moves from
/// document to document, so copying needs an induction head: find the current symbol in
/// the first copy, predict the one after it.
fn induction_corpus(path: &Path, n: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let syms = symbols();
    let mut out = String::new();
    for _ in 0..n {
        let len = 20 + rng.below(12);
        let mut pool = syms.clone();
        for i in 0..len {
            let j = i + rng.below(pool.len() - i);
            pool.swap(i, j);
        }
        let s: String = pool[..len].iter().collect();
        let text = format!("{}{s}|{s}", ".".repeat(62 - 2 * len));
        out.push_str(&serde_json::json!({ "text": text }).to_string());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// Olsson et al.'s phase change where it needs an induction head: a two-layer model sits
/// at the loss of guessing the second copy among the symbols it has seen, then drops
/// within a doubling of its tokens to copying it (one layer does not: pilot N).
#[test]
fn an_induction_head_forms_in_a_phase_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    induction_corpus(&d.join("corpus.jsonl"), 190_000, 1);
    char_tokenizer(
        &d.join("chars.json"),
        symbols().into_iter().chain(['.', '|']),
    );
    let pts = train(d, 2, 12_000_000, 16);
    let said = format!("{pts:?}");
    eprintln!("tokens and validation loss: {said}");
    // The plateau: from 0.3M to 2M tokens the loss stays within 0.1 of one level, that
    // of guessing each copied symbol among the copy's (above 3.7 nats a token).
    let plateau: Vec<f64> = pts
        .iter()
        .filter(|p| (300_000..=2_000_000).contains(&p.0))
        .map(|p| p.1)
        .collect();
    let (lo, hi) = plateau
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &l| (a.min(l), b.max(l)));
    assert!(plateau.len() >= 4 && lo > 3.7 && hi - lo < 0.1, "{said}");
    // The drop: copying (below 2.1: the first copy's symbols alone are unpredictable)
    // within 2.5 times the tokens at which the loss left the plateau.
    let left = pts
        .iter()
        .find(|p| p.0 > 300_000 && p.1 < lo - 0.1)
        .unwrap()
        .0;
    let copied = pts.iter().find(|p| p.1 < 2.1).unwrap().0;
    assert!(copied as f64 <= 2.5 * left as f64, "{said}");
    assert!(pts.last().unwrap().1 < 2.1, "{said}");
}
