//! Matrix products through the `gemm` crate. Every operand is a strided view, so a
//! transpose is a swap of strides and never a copy.

use gemm::Parallelism;

/// A read-only strided matrix view over a slice.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }

    pub fn strided(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        if rows > 0 && cols > 0 {
            assert!(
                (rows - 1) * rs + (cols - 1) * cs < data.len(),
                "matrix view out of bounds"
            );
        }
        Mat {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    pub fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// How many threads the products may use; 1 inside already-parallel loops.
#[derive(Clone, Copy)]
pub enum Threads {
    One,
    /// Half the pool (at least one): for one of two products that run at once.
    Half,
    All,
}

/// `dst (m × n, row stride dst_rs) = a · b`, or `dst += a · b` when `accumulate`.
pub fn matmul(dst: &mut [f32], dst_rs: usize, a: Mat, b: Mat, accumulate: bool, threads: Threads) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * dst_rs + n <= dst.len(),
        "destination out of bounds"
    );
    let parallelism = match threads {
        Threads::One => Parallelism::None,
        Threads::Half if rayon::current_num_threads() < 4 => Parallelism::None,
        Threads::Half => Parallelism::Rayon(rayon::current_num_threads() / 2),
        Threads::All => Parallelism::Rayon(rayon::current_num_threads()),
    };
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                dst[i * dst_rs..i * dst_rs + n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: the asserts above bound every index the product touches.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `y (rows × out) = x (rows × in) · Wᵀ` for a Hugging Face linear weight `W (out × in)`.
pub fn linear(y: &mut [f32], x: &[f32], w: &[f32], rows: usize, inp: usize, out: usize) {
    matmul(
        y,
        out,
        Mat::new(x, rows, inp),
        Mat::new(w, out, inp).t(),
        false,
        Threads::All,
    );
}

/// Backward of linears that all read `x (rows × inp)` and whose weights lie one after
/// another, `W = [W₀; W₁; …]` with `Wᵢ` of `outs[i] × inp` (q/k/v, or gate/up): with
/// `dys[i]` the gradient of output `i`, `dx (+)= Σᵢ dyᵢ · Wᵢ` and `dWᵢ += dyᵢᵀ · x`.
///
/// The input gradient and the weight gradients are the same number of FLOPs, so they
/// run at once on two halves of the threads: a product on one core runs closer to the
/// machine's limit than one split across cores. Each product runs in a fixed order
/// whatever the thread count, so the result does not depend on it.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    dx: &mut [f32],
    accumulate_dx: bool,
    dw: &mut [f32],
    dys: &[&[f32]],
    outs: &[usize],
    x: &[f32],
    w: &[f32],
    rows: usize,
    inp: usize,
) {
    assert_eq!(dys.len(), outs.len(), "one output gradient per weight");
    // A product as large as the output head's splits well across cores by itself.
    let large = rows * inp * outs.iter().sum::<usize>() >= 1 << 30;
    let half = if large { Threads::All } else { Threads::Half };
    let mut input_grad = || {
        let mut offset = 0;
        for (i, (&dy, &out)) in dys.iter().zip(outs).enumerate() {
            let wi = Mat::new(&w[offset..offset + out * inp], out, inp);
            let acc = accumulate_dx || i > 0;
            matmul(dx, inp, Mat::new(dy, rows, out), wi, acc, half);
            offset += out * inp;
        }
    };
    let mut weight_grads = || {
        let mut rest = &mut dw[..];
        for (&dy, &out) in dys.iter().zip(outs) {
            let (dwi, tail) = std::mem::take(&mut rest).split_at_mut(out * inp);
            let x = Mat::new(x, rows, inp);
            matmul(dwi, inp, Mat::new(dy, rows, out).t(), x, true, half);
            rest = tail;
        }
    };
    if large {
        input_grad();
        weight_grads();
    } else {
        rayon::join(input_grad, weight_grads);
    }
}

/// The machine's matrix-multiply throughput on all threads, in GFLOP/s: the best of
/// five `n × n × n` products (`n` = 1536, large enough that packing is amortised). The
/// ceiling a whole model's forward pass is measured against.
pub fn matmul_peak_gflops() -> f64 {
    let n = 1536;
    let a = vec![0.5f32; n * n];
    let b = vec![0.25f32; n * n];
    let mut c = vec![0.0f32; n * n];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        linear(&mut c, &a, &b, n, n, n);
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (n * n * n) as f64 / best / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn products_and_transposes_match_naive() {
        let (m, k, n) = (7, 5, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut got = vec![0.0; m * n];
        matmul(
            &mut got,
            n,
            Mat::new(&a, m, k),
            Mat::new(&b, k, n),
            false,
            Threads::All,
        );
        for (x, y) in got.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5);
        }
        // (Bᵀ Aᵀ)ᵀ = A B
        let mut gt = vec![0.0; n * m];
        matmul(
            &mut gt,
            m,
            Mat::new(&b, k, n).t(),
            Mat::new(&a, m, k).t(),
            false,
            Threads::One,
        );
        for i in 0..m {
            for j in 0..n {
                assert!((gt[j * m + i] - want[i * n + j]).abs() < 1e-5);
            }
        }
        matmul(
            &mut got,
            n,
            Mat::new(&a, m, k),
            Mat::new(&b, k, n),
            true,
            Threads::One,
        );
        for (x, y) in got.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-5);
        }
    }
}
