//! An interrupted run continues from its last checkpoint and ends bit-identical
//! to an uninterrupted one, as does one stopped by a signal between checkpoints; a
//! half-written checkpoint is ignored.

use emergent_data::{write_shard, Shard};
use emergent_engine::{AdamWConfig, LrSchedule, ModelConfig};
use emergent_train::{
    latest_checkpoint, list_checkpoints, resume_point, stop, train, Execution, RunSpec, StopAfter,
    TrainEvent, Validation, RESUME_DIR,
};

fn spec() -> RunSpec {
    let model = ModelConfig {
        num_key_value_heads: 2,
        bos_token_id: Some(0),
        eos_token_id: Some(0),
        ..ModelConfig::llama(50, 32, 2, 4, 64, 16)
    };
    RunSpec {
        name: "tiny".into(),
        model,
        seed: 7,
        batch_size: 4,
        seq_len: 16,
        total_steps: 12,
        checkpoint_steps: vec![4, 8, 12],
        schedule: LrSchedule {
            max_lr: 3e-3,
            min_lr: 3e-4,
            warmup_steps: 3,
            total_steps: 12,
        },
        adamw: AdamWConfig::default(),
        max_grad_norm: 1.0,
    }
}

fn shards(dir: &std::path::Path) -> (Shard, Shard) {
    let tokens: Vec<u32> = (0..3000u32).map(|i| (i * 7 + i / 13) % 50).collect();
    write_shard(&dir.join("train.bin"), &tokens[..2600]).unwrap();
    write_shard(&dir.join("val.bin"), &tokens[2600..]).unwrap();
    (
        Shard::open(&dir.join("train.bin")).unwrap(),
        Shard::open(&dir.join("val.bin")).unwrap(),
    )
}

#[test]
fn resumed_run_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (tr, va) = shards(dir.path());
    let s = spec();

    let whole = dir.path().join("whole");
    let metas = train(
        &s,
        &tr,
        val(&va),
        &[],
        &whole,
        &mut |_| {},
        Execution::default(),
    )
    .unwrap();
    assert_eq!(
        metas.iter().map(|m| m.step).collect::<Vec<_>>(),
        vec![4, 8, 12]
    );
    assert!(
        metas[2].val_loss < metas[0].val_loss,
        "validation loss should fall: {metas:?}"
    );

    let broken = dir.path().join("broken");
    train(
        &s,
        &tr,
        val(&va),
        &[],
        &broken,
        &mut |_| {},
        Execution {
            stop_after: Some(StopAfter(6)),
            ..Execution::default()
        },
    )
    .unwrap();
    assert_eq!(list_checkpoints(&broken).len(), 1);
    // A crash while writing step 8 leaves a .tmp directory behind.
    std::fs::create_dir_all(broken.join("step-0000008.tmp")).unwrap();
    std::fs::write(broken.join("step-0000008.tmp/meta.json"), "{").unwrap();
    let resumed = train(
        &s,
        &tr,
        val(&va),
        &[],
        &broken,
        &mut |_| {},
        Execution::default(),
    )
    .unwrap();
    assert_eq!(
        resumed.iter().map(|m| m.step).collect::<Vec<_>>(),
        vec![8, 12]
    );

    let a = std::fs::read(latest_checkpoint(&whole).unwrap().join("model.safetensors")).unwrap();
    let b = std::fs::read(
        latest_checkpoint(&broken)
            .unwrap()
            .join("model.safetensors"),
    )
    .unwrap();
    assert!(
        a == b,
        "resumed parameters differ from the uninterrupted run"
    );
    let oa = std::fs::read(whole.join("step-0000012/optimizer.safetensors")).unwrap();
    let ob = std::fs::read(broken.join("step-0000012/optimizer.safetensors")).unwrap();
    assert!(oa == ob, "resumed optimiser moments differ");
    assert_eq!(metas[2].val_loss, resumed[1].val_loss);

    // A stop asked for (a signal) at step 6 keeps the state there, between checkpoints;
    // the next start goes on from step 6, not from the checkpoint at 4.
    let signalled = dir.path().join("signalled");
    let mut ask_at_6 = |e: TrainEvent| {
        if let TrainEvent::Step { step: 6, .. } = e {
            stop::request();
        }
    };
    let err = train(
        &s,
        &tr,
        val(&va),
        &[],
        &signalled,
        &mut ask_at_6,
        Execution::default(),
    )
    .unwrap_err();
    assert!(err.is::<stop::Interrupted>(), "{err:#}");
    assert_eq!(list_checkpoints(&signalled).len(), 1);
    assert_eq!(resume_point(&signalled).map(|(_, step)| step), Some(6));
    let _watch = stop::Watch::start();
    let mut starts = Vec::new();
    let again = train(
        &s,
        &tr,
        val(&va),
        &[],
        &signalled,
        &mut |e| {
            if let TrainEvent::Start { step, .. } = e {
                starts.push(step)
            }
        },
        Execution::default(),
    )
    .unwrap();
    assert_eq!(starts, vec![6]);
    assert!(
        resume_point(&signalled).is_none(),
        "kept after a later checkpoint"
    );
    assert!(!signalled.join(RESUME_DIR).exists());
    for name in ["model.safetensors", "optimizer.safetensors"] {
        let a = std::fs::read(whole.join("step-0000012").join(name)).unwrap();
        let b = std::fs::read(signalled.join("step-0000012").join(name)).unwrap();
        assert!(a == b, "{name} differs after a resume from the stop");
    }
    // The mean training loss of the interval the stop cut in two is the uninterrupted one.
    assert_eq!(metas[1].train_loss, again[0].train_loss);
    assert_eq!(metas[2].val_loss, again[1].val_loss);
}

fn val(all: &Shard) -> Validation<'_> {
    Validation { all, domains: &[] }
}
