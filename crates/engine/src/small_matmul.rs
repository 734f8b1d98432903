//! Products too small for the `gemm` crate to pay off: attention's per-head products
//! (k = head width, or a causal row's length), where packing both operands for every
//! call costs more than the multiply. `A` is read where it lies, one element broadcast
//! at a time, so any strides do (a transpose is free); `B` is read 16 columns of a row
//! at a time: plain rows, or [`Panels`] packed once per head for a transposed `B`.
//!
//! Each output element is one chain of fused multiply-adds over `p` in increasing
//! order, so the result does not depend on the thread count.

/// `A(i, p) = data[i * rs + p * ps]`.
#[derive(Clone, Copy)]
pub struct ByElement<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub ps: usize,
}

/// `B(p, j) = data[p * ld + j]`: rows that are contiguous in `j`.
#[derive(Clone, Copy)]
pub struct ByRow<'a> {
    pub data: &'a [f32],
    pub ld: usize,
}

/// Columns per register tile: two 8-lane vectors.
const COLS: usize = 16;
/// Rows per register tile: 6 × 2 accumulators, 2 for `B`, 1 broadcast: 15 of 16.
pub const TILE_ROWS: usize = 6;
/// Rows per AVX-512 tile: 12 accumulators (one 16-lane register each), enough
/// independent chains to keep both FMA units busy through their latency; 14 of 32.
const TILE_ROWS_512: usize = 12;

/// The rows of C one call does best at a time on this CPU: callers that bound work per
/// tile of rows (causal attention) step by this.
pub fn tile_rows() -> usize {
    rows_for(crate::simd::tier())
}

fn rows_for(tier: crate::simd::Tier) -> usize {
    if tier == crate::simd::Tier::Avx512 {
        TILE_ROWS_512
    } else {
        TILE_ROWS
    }
}

/// A matrix `M (rows × k)` stored as `Mᵀ` in panels of 16 columns, zero-padded:
/// panel `jp` holds `M(16·jp .. 16·jp + 16, p)` for every `p`, contiguously. Packing
/// keys (or values) this way once per head makes `Q · Kᵀ` read `B` by row.
#[derive(Default)]
pub struct Panels {
    data: Vec<f32>,
    k: usize,
}

impl Panels {
    /// Packs `M(j, p) = src[j * ld + p]`, `j < rows`, `p < k`, reusing the buffer.
    pub fn pack(&mut self, src: &[f32], ld: usize, rows: usize, k: usize) {
        let panels = rows.div_ceil(COLS);
        self.k = k;
        self.data.clear();
        self.data.resize(panels * k * COLS, 0.0);
        if k == 0 {
            return;
        }
        assert!(
            (rows - 1) * ld + k <= src.len(),
            "packed rows out of bounds"
        );
        for (jp, panel) in self.data.chunks_exact_mut(k * COLS).enumerate() {
            let j0 = jp * COLS;
            let live = COLS.min(rows - j0);
            for (p, out) in panel.chunks_exact_mut(COLS).enumerate() {
                for (jj, x) in out[..live].iter_mut().enumerate() {
                    *x = src[(j0 + jj) * ld + p];
                }
            }
        }
    }

    /// The packed `Mᵀ` as `B (k × rows)`, for [`small_matmul_panels`].
    fn panel(&self, j0: usize) -> &[f32] {
        &self.data[(j0 / COLS) * self.k * COLS..]
    }
}

/// `C (m × n, row stride ldc) (+)= A (m × k) · B (k × n)`.
#[allow(clippy::too_many_arguments)]
pub fn small_matmul(
    c: &mut [f32],
    ldc: usize,
    a: ByElement,
    b: ByRow,
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    check_bounds(c, ldc, a, m, n, k);
    if k > 0 {
        assert!((k - 1) * b.ld + n <= b.data.len(), "B out of bounds");
    }
    for j0 in (0..n).step_by(COLS) {
        let cols = COLS.min(n - j0);
        let strip = if k == 0 { &[][..] } else { &b.data[j0..] };
        // SAFETY: every element read or written lies inside the bounds checked above:
        // B(p, j0 + jj) for p < k, jj < cols; C and A likewise.
        unsafe { tiles(c, ldc, a, strip, b.ld, m, k, j0, cols, accumulate) }
    }
}

/// `C (+)= A · Mᵀ[.., 0..n]` with `Mᵀ` packed in `panels` (`n` at most its rows).
#[allow(clippy::too_many_arguments)]
pub fn small_matmul_panels(
    c: &mut [f32],
    ldc: usize,
    a: ByElement,
    panels: &Panels,
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    check_bounds(c, ldc, a, m, n, k);
    assert!(k == panels.k, "panels packed for k = {}", panels.k);
    assert!(
        n.div_ceil(COLS) * COLS * k <= panels.data.len(),
        "B out of bounds"
    );
    for j0 in (0..n).step_by(COLS) {
        let cols = COLS.min(n - j0);
        // SAFETY: a panel holds 16 × k floats (zero-padded), all in bounds.
        unsafe {
            tiles(
                c,
                ldc,
                a,
                panels.panel(j0),
                COLS,
                m,
                k,
                j0,
                cols,
                accumulate,
            )
        }
    }
}

fn check_bounds(c: &[f32], ldc: usize, a: ByElement, m: usize, n: usize, k: usize) {
    assert!((m - 1) * ldc + n <= c.len(), "C out of bounds");
    if k > 0 {
        assert!(
            (m - 1) * a.rs + (k - 1) * a.ps < a.data.len(),
            "A out of bounds"
        );
    }
}

/// `$kernel::tile::<rows>(…)` for a run-time `rows` among the listed heights, else 1.
#[cfg(target_arch = "x86_64")]
macro_rules! by_rows {
    ($kernel:ident, $rows:expr, $t:expr, $cols:expr, $acc:expr; $($r:literal)*) => {
        match $rows {
            $($r => $kernel::tile::<$r>($t, $cols, $acc),)*
            _ => $kernel::tile::<1>($t, $cols, $acc),
        }
    };
}

/// One 16-column strip of C: row tiles of [`TILE_ROWS`], then the rest.
///
/// # Safety
/// `b` must hold `B(p, 0..cols)` at `b[p * ldb ..]` for every `p < k`, and `c`, `a`
/// the elements [`check_bounds`] checked.
#[allow(clippy::too_many_arguments)]
unsafe fn tiles(
    c: &mut [f32],
    ldc: usize,
    a: ByElement,
    b: &[f32],
    ldb: usize,
    m: usize,
    k: usize,
    j0: usize,
    cols: usize,
    accumulate: bool,
) {
    let (cp, ap, bp) = (c.as_mut_ptr().add(j0), a.data.as_ptr(), b.as_ptr());
    #[cfg(target_arch = "x86_64")]
    {
        let tier = crate::simd::tier();
        if tier != crate::simd::Tier::Baseline {
            let mut i = 0;
            let tile_rows = rows_for(tier);
            while i < m {
                let rows = tile_rows.min(m - i);
                let t = Tile {
                    c: cp.add(i * ldc),
                    ldc,
                    a: ap.add(i * a.rs),
                    ars: a.rs,
                    aps: a.ps,
                    b: bp,
                    ldb,
                    k,
                };
                if tier == crate::simd::Tier::Avx512 {
                    by_rows!(avx512, rows, t, cols, accumulate; 12 11 10 9 8 7 6 5 4 3 2);
                } else {
                    by_rows!(avx2, rows, t, cols, accumulate; 6 5 4 3 2);
                }
                i += rows;
            }
            return;
        }
    }
    for i in 0..m {
        for jj in 0..cols {
            let mut s = if accumulate {
                *cp.add(i * ldc + jj)
            } else {
                0.0
            };
            for p in 0..k {
                s = (*ap.add(i * a.rs + p * a.ps)).mul_add(*bp.add(p * ldb + jj), s);
            }
            *cp.add(i * ldc + jj) = s;
        }
    }
}

/// Where one register tile reads and writes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Tile {
    c: *mut f32,
    ldc: usize,
    a: *const f32,
    ars: usize,
    aps: usize,
    b: *const f32,
    ldb: usize,
    k: usize,
}

/// Tiles of up to 12 rows with one 16-lane register per row where AVX2 has two 8-lane
/// ones: half the loads of `B` per row, twice the rows per broadcast of `B`, each output
/// the same chain of fused multiply-adds, so the result is bit-identical to [`avx2`]'s.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Tile;
    use std::arch::x86_64::*;

    /// `R × cols` of C, `cols ≤ 16`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile<const R: usize>(t: Tile, cols: usize, accumulate: bool) {
        if cols == 16 {
            tile_body::<R, true>(t, 0xffff, accumulate)
        } else {
            tile_body::<R, false>(t, ((1u32 << cols) - 1) as __mmask16, accumulate)
        }
    }

    #[inline(always)]
    unsafe fn tile_body<const R: usize, const FULL: bool>(t: Tile, m: __mmask16, accumulate: bool) {
        let load = |p: *const f32| {
            if FULL {
                _mm512_loadu_ps(p)
            } else {
                _mm512_maskz_loadu_ps(m, p)
            }
        };
        let mut acc = [_mm512_setzero_ps(); R];
        if accumulate {
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = load(t.c.add(r * t.ldc));
            }
        }
        for p in 0..t.k {
            let b = load(t.b.add(p * t.ldb));
            let a = t.a.add(p * t.aps);
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(r * t.ars)), b, *acc);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let c = t.c.add(r * t.ldc);
            if FULL {
                _mm512_storeu_ps(c, *acc);
            } else {
                _mm512_mask_storeu_ps(c, m, *acc);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Tile;
    use std::arch::x86_64::*;

    /// Lanes `0..n` of a vector (n clamped to 0..=8) as a load/store mask.
    #[inline(always)]
    unsafe fn mask(n: usize) -> __m256i {
        let n = n.min(8) as i32;
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }

    /// `R × cols` of C, `cols ≤ 16`; full-width tiles skip the masks.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tile<const R: usize>(t: Tile, cols: usize, accumulate: bool) {
        if cols == 16 {
            tile_body::<R, true>(t, mask(8), mask(8), accumulate)
        } else {
            tile_body::<R, false>(t, mask(cols), mask(cols.saturating_sub(8)), accumulate)
        }
    }

    #[inline(always)]
    unsafe fn tile_body<const R: usize, const FULL: bool>(
        t: Tile,
        m0: __m256i,
        m1: __m256i,
        accumulate: bool,
    ) {
        let load = |p: *const f32, m: __m256i| {
            if FULL {
                _mm256_loadu_ps(p)
            } else {
                _mm256_maskload_ps(p, m)
            }
        };
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        if accumulate {
            for (r, acc) in acc.iter_mut().enumerate() {
                acc[0] = load(t.c.add(r * t.ldc), m0);
                acc[1] = load(t.c.add(r * t.ldc + 8), m1);
            }
        }
        for p in 0..t.k {
            let b0 = load(t.b.add(p * t.ldb), m0);
            let b1 = load(t.b.add(p * t.ldb + 8), m1);
            let a = t.a.add(p * t.aps);
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_broadcast_ss(&*a.add(r * t.ars));
                acc[0] = _mm256_fmadd_ps(x, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(x, b1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let c = t.c.add(r * t.ldc);
            if FULL {
                _mm256_storeu_ps(c, acc[0]);
                _mm256_storeu_ps(c.add(8), acc[1]);
            } else {
                _mm256_maskstore_ps(c, m0, acc[0]);
                _mm256_maskstore_ps(c.add(8), m1, acc[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(
        a: ByElement,
        b: impl Fn(usize, usize) -> f32,
        m: usize,
        n: usize,
        k: usize,
    ) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|p| a.data[i * a.rs + p * a.ps] as f64 * b(p, j) as f64)
                    .sum();
            }
        }
        c
    }

    /// Every tier the CPU runs gives the naive product, and the same bits as the others.
    #[test]
    fn products_match_naive_for_every_tile_shape_and_tier() {
        let mut runs: Vec<Vec<u32>> = Vec::new();
        for tier in crate::simd::Tier::ALL {
            if tier > crate::simd::detected() {
                continue;
            }
            crate::simd::set_cap(tier);
            runs.push(products_match_naive());
            crate::simd::set_cap(crate::simd::default_cap());
        }
        assert!(runs.windows(2).all(|w| w[0] == w[1]), "tiers differ");
    }

    /// Checks every shape against the naive product; the bits of every result.
    fn products_match_naive() -> Vec<u32> {
        let mut bits = Vec::new();
        let mut rng = crate::Rng::new(3);
        let mut draw = |n: usize| (0..n).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
        // Row counts around the 6-row tile, column counts around 8 and 16, k = 0 too.
        for (m, n, k) in [
            (1, 1, 1),
            (6, 16, 7),
            (7, 17, 5),
            (13, 40, 33),
            (5, 9, 0),
            (12, 8, 64),
        ] {
            let a_data = draw(m * k + 1);
            let b_data = draw(k * n + 1);
            let c0 = draw(m * n);
            // A transposed (stored k × m), B plain rows.
            let a = ByElement {
                data: &a_data,
                rs: 1,
                ps: m,
            };
            let want = naive(a, |p, j| b_data[p * n + j], m, n, k);
            for accumulate in [false, true] {
                let mut c = c0.clone();
                small_matmul(
                    &mut c,
                    n,
                    a,
                    ByRow {
                        data: &b_data,
                        ld: n,
                    },
                    m,
                    n,
                    k,
                    accumulate,
                );
                for (idx, (&got, &w)) in c.iter().zip(&want).enumerate() {
                    let w = w + if accumulate { c0[idx] as f64 } else { 0.0 };
                    assert!((got as f64 - w).abs() < 1e-4, "{m}x{n}x{k}: {got} vs {w}");
                }
                bits.extend(c.iter().map(|x| x.to_bits()));
            }
            // B = Mᵀ from panels, M (n × k) row-major.
            let mt = draw(n * k);
            let mut panels = Panels::default();
            panels.pack(&mt, k, n, k);
            let want = naive(a, |p, j| mt[j * k + p], m, n, k);
            let mut c = vec![f32::NAN; m * n];
            small_matmul_panels(&mut c, n, a, &panels, m, n, k, false);
            for (&got, &w) in c.iter().zip(&want) {
                assert!(
                    (got as f64 - w).abs() < 1e-4,
                    "panels {m}x{n}x{k}: {got} vs {w}"
                );
            }
            bits.extend(c.iter().map(|x| x.to_bits()));
        }
        bits
    }
}
