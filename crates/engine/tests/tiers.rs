//! Every vector tier the CPU runs (AVX-512, AVX2, the baseline; `simd::set_cap`) gives
//! the same bits: a training step's loss, gradient norm and updated weights, and the
//! scores of a forward pass, for every architecture. The goldens check one tier against
//! PyTorch; this makes that check hold for all of them.

use emergent_engine::simd::{default_cap, detected, set_cap, Tier};
use emergent_engine::{AdamW, AdamWConfig, Architecture, Backend, ModelConfig};

fn config(arch: Architecture) -> ModelConfig {
    ModelConfig {
        // GPT-NeoX has no grouped-query attention.
        num_key_value_heads: if arch == Architecture::GptNeox { 4 } else { 2 },
        bos_token_id: Some(0),
        eos_token_id: Some(0),
        architecture: arch,
        block: arch.block(),
        // Widths that are not multiples of 16 leave every kernel a remainder.
        ..ModelConfig::llama(67, 40, 2, 4, 72, 40)
    }
}

/// The bits of two training steps and a scoring pass at the current tier.
fn step_bits(arch: Architecture) -> Vec<u64> {
    let (b, t) = (3, 37);
    let tokens: Vec<u32> = (0..b * (t + 1))
        .map(|i| ((i * 31 + i / 7) % 67) as u32)
        .collect();
    let rows: Vec<&[u32]> = tokens.chunks(t + 1).collect();
    let inputs: Vec<u32> = rows.iter().flat_map(|r| r[..t].to_vec()).collect();
    let targets: Vec<u32> = rows.iter().flat_map(|r| r[1..].to_vec()).collect();
    let mut model = Backend::default().init(config(arch), 11);
    let opt = AdamW::new(AdamWConfig::default(), model.layout());
    model.set_optimizer(opt);
    let mut bits = Vec::new();
    for _ in 0..2 {
        let loss = model.forward_backward(&inputs, &targets, b, t);
        let norm = model.clip_gradients(1.0);
        model.optimizer_step(1e-2);
        bits.push(loss.to_bits() as u64);
        bits.push(norm.to_bits());
    }
    for (lp, top) in model.next_token_logprobs(&tokens[..t + 1]) {
        bits.push(lp.to_bits());
        bits.push(top as u64);
    }
    let dir = tempfile::tempdir().unwrap();
    model.save_hf(dir.path()).unwrap();
    let weights = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    bits.extend(
        weights
            .chunks(8)
            .map(|c| c.iter().fold(0u64, |h, &x| h << 8 | x as u64)),
    );
    bits
}

#[test]
fn every_tier_gives_the_same_bits_for_every_architecture() {
    let tiers: Vec<Tier> = Tier::ALL.into_iter().filter(|&t| t <= detected()).collect();
    eprintln!(
        "tiers on this CPU: {:?}",
        tiers.iter().map(|t| t.name()).collect::<Vec<_>>()
    );
    for arch in Architecture::ALL {
        let mut first: Option<(Tier, Vec<u64>)> = None;
        for &tier in &tiers {
            set_cap(tier);
            let bits = step_bits(arch);
            match &first {
                None => first = Some((tier, bits)),
                Some((t0, b0)) => {
                    let at = b0.iter().zip(&bits).position(|(a, b)| a != b);
                    assert!(
                        at.is_none() && b0.len() == bits.len(),
                        "{arch:?}: {} and {} differ at value {at:?}",
                        t0.name(),
                        tier.name()
                    );
                }
            }
        }
    }
    set_cap(default_cap());
}
