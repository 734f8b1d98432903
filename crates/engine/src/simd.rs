//! Which vector width the CPU kernels (`kernels.rs`, `small_matmul.rs`) use, chosen at
//! run time: AVX2 with FMA where the CPU has it, else the baseline; AVX-512 on AMD CPUs
//! that have it (Zen 4 and later), and on others when `EMERGENT_SIMD=avx512` asks for it.
//! Every tier gives bit-identical results (each output is the same chain of operations in
//! the same order; Rust never fuses a multiply and an add by itself, and `mul_add` is one
//! rounding everywhere, an instruction with FMA and libm's `fmaf` without), so the tier
//! changes speed only. The default follows what was measured at the study's sizes
//! (docs/benchmarks.md): on an AVX-512 Intel Xeon these kernels' AVX-512 builds were no
//! faster (training 1.00×, the forward pass 0.94×), on an AMD Zen 4 they were 1–2% faster.
//! The `gemm` crate's products use AVX-512 wherever the CPU has it either way.
//! `EMERGENT_SIMD` (`baseline`, `avx2`, `avx512`) sets the tier for a process; [`set_cap`]
//! for tests.

use std::sync::atomic::{AtomicU8, Ordering};

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

/// The widest tier `EMERGENT_SIMD` allows, [`default_cap`] when it is unset. A value that
/// names no tier is reported on stderr and ignored: every tier gives the same results.
fn cap_from_env() -> Tier {
    let Ok(value) = std::env::var("EMERGENT_SIMD") else {
        return default_cap();
    };
    Tier::ALL
        .into_iter()
        .find(|t| t.name() == value)
        .unwrap_or_else(|| {
            let cap = default_cap();
            eprintln!(
                "EMERGENT_SIMD={value:?} names no tier (baseline, avx2, avx512); using {}",
                cap.name()
            );
            cap
        })
}

/// The widest tier used unless `EMERGENT_SIMD` says otherwise: AVX-512 on AMD, AVX2 on
/// other vendors (where it measured faster).
pub fn default_cap() -> Tier {
    if is_amd() {
        Tier::Avx512
    } else {
        Tier::Avx2
    }
}

/// Whether the CPU's vendor string is AMD's.
fn is_amd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let id = std::arch::x86_64::__cpuid(0);
        let vendor: Vec<u8> = [id.ebx, id.edx, id.ecx]
            .iter()
            .flat_map(|r| r.to_le_bytes())
            .collect();
        vendor == b"AuthenticAMD"
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
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
    Tier::ALL[usize::from(x)]
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
    let tier = detected().min(cap_from_env());
    // A tier stored meanwhile by `set_cap` wins.
    match RESOLVED.compare_exchange(UNRESOLVED, tier as u8, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => tier,
        Err(x) => from_u8(x),
    }
}

/// Sets the widest tier the kernels may use (for tests), over `EMERGENT_SIMD`.
pub fn set_cap(cap: Tier) {
    RESOLVED.store(detected().min(cap) as u8, Ordering::Relaxed);
}
