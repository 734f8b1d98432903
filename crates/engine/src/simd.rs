//! Which vector width the CPU kernels (`kernels.rs`, `small_matmul.rs`) use, chosen at
//! run time: AVX2 with FMA where the CPU has it, else the baseline; AVX-512 (Intel Xeon
//! since Skylake-SP, AMD since Zen 4) when `EMERGENT_SIMD=avx512` asks for it. Every tier
//! gives bit-identical results (each output is the same chain of operations in the same
//! order; Rust never fuses a multiply and an add by itself, and `mul_add` is one rounding
//! everywhere, an instruction with FMA and libm's `fmaf` without), so the tier changes speed
//! only. AVX-512 is not the default because it measured no faster for these kernels at
//! the study's sizes (training 1.00×, the forward pass 0.94× on an AVX-512 Xeon;
//! docs/benchmarks.md); the `gemm` crate's products use AVX-512 wherever the CPU has it
//! either way. `EMERGENT_SIMD` (`baseline`, `avx2`, `avx512`) sets the tier for a
//! process; [`set_cap`] for tests.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Once;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Baseline = 0,
    Avx2 = 1,
    Avx512 = 2,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Baseline, Tier::Avx2, Tier::Avx512];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Baseline => "baseline",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
        }
    }
}

static CAP: AtomicU8 = AtomicU8::new(Tier::Avx2 as u8);
static FROM_ENV: Once = Once::new();

/// Applies `EMERGENT_SIMD` once; an unknown value is ignored (every tier is exact).
fn cap_from_env() {
    FROM_ENV.call_once(|| {
        let tier = match std::env::var("EMERGENT_SIMD").as_deref() {
            Ok("baseline") => Tier::Baseline,
            Ok("avx2") => Tier::Avx2,
            Ok("avx512") => Tier::Avx512,
            _ => return,
        };
        CAP.store(tier as u8, Ordering::Relaxed);
    });
}

/// The widest tier this CPU runs.
pub fn detected() -> Tier {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return Tier::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Tier::Avx2;
        }
    }
    Tier::Baseline
}

/// The tier in use, once resolved: every kernel call reads it, so it is one atomic load.
static RESOLVED: AtomicU8 = AtomicU8::new(UNRESOLVED);
const UNRESOLVED: u8 = u8::MAX;

fn from_u8(x: u8) -> Tier {
    match x {
        0 => Tier::Baseline,
        1 => Tier::Avx2,
        _ => Tier::Avx512,
    }
}

/// The tier the kernels use now: the CPU's, at most the cap.
#[inline]
pub fn tier() -> Tier {
    match RESOLVED.load(Ordering::Relaxed) {
        UNRESOLVED => resolve(),
        x => from_u8(x),
    }
}

#[cold]
fn resolve() -> Tier {
    cap_from_env();
    let tier = detected().min(from_u8(CAP.load(Ordering::Relaxed)));
    // A tier stored meanwhile by `set_cap` wins.
    match RESOLVED.compare_exchange(UNRESOLVED, tier as u8, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => tier,
        Err(x) => from_u8(x),
    }
}

/// Sets the widest tier the kernels may use (for tests).
pub fn set_cap(cap: Tier) {
    cap_from_env();
    CAP.store(cap as u8, Ordering::Relaxed);
    RESOLVED.store(detected().min(cap) as u8, Ordering::Relaxed);
}
