//! The key/value-cached paths against the full forward pass: batched, shared-prefix
//! scoring and batched greedy decoding give what one uncached pass per request gives.

use emergent_engine::{CpuModel, LanguageModel, ModelConfig, Rng, ScoreGroup};

fn model() -> CpuModel {
    let config = ModelConfig {
        num_key_value_heads: 2,
        bos_token_id: Some(0),
        eos_token_id: Some(0),
        ..ModelConfig::llama(97, 48, 2, 6, 80, 64)
    };
    CpuModel::init(config, 7)
}

fn tokens(rng: &mut Rng, n: usize) -> Vec<u32> {
    (0..n).map(|_| rng.below(97) as u32).collect()
}

#[test]
fn shared_prefix_scoring_matches_one_pass_per_request() {
    let mut m = model();
    let mut rng = Rng::new(3);
    let mut groups = Vec::new();
    for (shared_len, tails) in [
        (10, vec![3, 5, 1]),
        (1, vec![4, 2]),
        (0, vec![6, 2]),
        (20, vec![7]),
    ] {
        let shared = tokens(&mut rng, shared_len);
        let tails: Vec<Vec<u32>> = tails.iter().map(|&n| tokens(&mut rng, n)).collect();
        let scored = tails
            .iter()
            .map(|t| {
                if shared_len == 0 {
                    t.len() - 1
                } else {
                    t.len()
                }
            })
            .collect();
        groups.push(ScoreGroup {
            shared,
            tails,
            scored,
        });
    }
    let got = m.score_groups(&groups);
    let mut worst = 0f64;
    for (g, res) in groups.iter().zip(&got) {
        for ((tail, &n), r) in g.tails.iter().zip(&g.scored).zip(res) {
            let mut seq = g.shared.clone();
            seq.extend_from_slice(tail);
            let full = m.next_token_logprobs(&seq);
            let want = &full[full.len() - n..];
            assert_eq!(r.len(), n);
            for (a, b) in r.iter().zip(want) {
                worst = worst.max((a.0 - b.0).abs());
                assert_eq!(a.1, b.1, "arg-max flags differ");
            }
        }
    }
    assert!(worst < 1e-5, "log-probabilities differ by {worst}");
}

#[test]
fn batched_cached_greedy_matches_recomputing_each_step() {
    let mut m = model();
    let mut rng = Rng::new(5);
    let prompts: Vec<Vec<u32>> = [5, 12, 1, 30]
        .iter()
        .map(|&n| tokens(&mut rng, n))
        .collect();
    let got = m.greedy_batch(&prompts, 9, &mut |i, out: &[u32]| i == 1 && out.len() == 4);
    for (i, p) in prompts.iter().enumerate() {
        let mut seq = p.clone();
        let want_len = if i == 1 { 4 } else { 9 };
        for _ in 0..want_len {
            let t = seq.len();
            let v = m.config.vocab_size;
            let logits = m.logits(&seq, 1, t)[(t - 1) * v..].to_vec();
            let best = (0..v).fold(0, |b, j| if logits[j] > logits[b] { j } else { b });
            seq.push(best as u32);
        }
        assert_eq!(got[i], seq[p.len()..], "prompt {i}");
    }
}
