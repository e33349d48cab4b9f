//! Timing hooks for `benches/products.rs` (not part of the supported
//! API): one of the encoder's matrix products, in f32 at the SIMD level in
//! force and in int8 with each kernel this CPU can run, so that any machine
//! shows how the kernels' rates compare. The int8 cases include quantising
//! the activations, as the encoder does before each product.

use super::int8::{self, Int8Kernel, QuantizedRows, QuantizedWeight, Write};
use super::matmul::{product, worth_threads, Dest, PackedB, RowsView};

/// One product to time: `m × k` activations times an `n × k` weight.
pub struct ProductCase {
    /// `f32_<level>` or `int8_<kernel>`.
    pub name: String,
    run: Box<dyn FnMut()>,
}

impl ProductCase {
    /// Runs the product once, on every thread when it is large enough.
    pub fn run(&mut self) {
        (self.run)()
    }
}

/// Values in [-1, 1) without a generator.
fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5 - 1.0)
        .collect()
}

/// The f32 product at the SIMD level in force (weights packed for it now).
pub fn f32_case(m: usize, n: usize, k: usize) -> ProductCase {
    let level = crate::simd::level();
    let (rows, w) = (values(m * k, 1), values(n * k, 2));
    let packed = PackedB::from_weight(&w, n, k);
    let mut out = vec![0f32; m * n];
    ProductCase {
        name: format!("f32_{level}"),
        run: Box::new(move || {
            let a = RowsView {
                data: &rows,
                row_step: k,
            };
            product(Dest::new(&mut out, n), a, m, &packed, false, true);
        }),
    }
}

/// The int8 product with every int8 kernel this CPU can run (the portable
/// one only where there is no other), whatever the SIMD level in force.
pub fn int8_cases(m: usize, n: usize, k: usize) -> Vec<ProductCase> {
    let (a, w) = (values(m * k, 1), values(n * k, 2));
    // Threads only where the f32 product would take them too: a small
    // product spread over threads times their hand-offs, not the kernel.
    let parallel = worth_threads(m * n * k);
    Int8Kernel::available()
        .into_iter()
        .filter(|&kernel| kernel != Int8Kernel::Portable || cfg!(not(target_arch = "x86_64")))
        .map(|kernel| {
            let weight = QuantizedWeight::for_kernel(&w, n, k, kernel);
            let (a, mut rows, mut out) = (a.clone(), QuantizedRows::default(), vec![0f32; m * n]);
            ProductCase {
                name: format!("int8_{}", kernel.name()),
                run: Box::new(move || {
                    rows.quantize(&a, (m, k), kernel, parallel);
                    let dst = Dest::new(&mut out, n);
                    int8::product(dst, (&rows, &a), &weight, Write::default(), parallel);
                }),
            }
        })
        .collect()
}
