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

    /// The first `n` rows.
    pub fn rows(self, n: usize) -> Self {
        assert!(n <= self.rows, "row range out of bounds");
        Mat { rows: n, ..self }
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

/// Backward of [`linear`]: `dx (+)= dy · W` and `dW += dyᵀ · x`.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    dx: &mut [f32],
    accumulate_dx: bool,
    dw: &mut [f32],
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    rows: usize,
    inp: usize,
    out: usize,
) {
    matmul(
        dx,
        inp,
        Mat::new(dy, rows, out),
        Mat::new(w, out, inp),
        accumulate_dx,
        Threads::All,
    );
    matmul(
        dw,
        inp,
        Mat::new(dy, rows, out).t(),
        Mat::new(x, rows, inp),
        true,
        Threads::All,
    );
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
