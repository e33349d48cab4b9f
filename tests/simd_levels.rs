//! Every SIMD level of the numeric kernels, on any machine: the machine code
//! of each level's build is vectorised for that level and makes no call per
//! element (the regression that once made the AVX2 build three times slower
//! than it should be: a fused multiply-add compiled outside the level's
//! target features became a library call), and `RELATE_SIMD` runs each level
//! the CPU has, all giving the same vectors within 1e-6 (int8: within a
//! cosine of 0.995). The matrix
//! product's innermost loop must also keep its sums in registers: storing
//! them to the stack at every step (what the compiler made of a tile of
//! plain arrays) halved the AVX-512 speed.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{model_dir, read_references};

/// The kernels compiled once per level, as `module::function`.
const KERNELS: &[(&str, bool)] = &[
    ("relate::embed::matmul::block_product_dispatch", true),
    // (path, whether it does multiply-adds that should be fused)
    ("relate::embed::kernels::softmax_numerators", true),
    ("relate::embed::kernels::bias_activation_dispatch", true),
    ("relate::embed::kernels::layer_norm_dispatch", true),
    ("relate::embed::kernels::add_rows", false),
    ("relate::embed::int8::quantize_rows", false),
    ("relate::embed::int8::add_outliers", false),
    ("relate::simd::dot", false),
];

fn tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Start address and size of every demangled symbol, by name.
fn symbols(binary: &Path) -> Vec<(String, u64, u64)> {
    let out = Command::new("nm")
        .args(["-C", "-S", "--defined-only"])
        .arg(binary)
        .output()
        .expect("nm runs");
    assert!(out.status.success(), "nm failed on {}", binary.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, ' ');
            let addr = u64::from_str_radix(parts.next()?, 16).ok()?;
            let size = u64::from_str_radix(parts.next()?, 16).ok()?;
            let _kind = parts.next()?;
            Some((parts.next()?.to_string(), addr, size))
        })
        .collect()
}

fn disassemble(binary: &Path, start: u64, size: u64) -> String {
    let out = Command::new("objdump")
        .args(["-d", "-C", "--no-show-raw-insn"])
        .arg(format!("--start-address={start:#x}"))
        .arg(format!("--stop-address={:#x}", start + size))
        .arg(binary)
        .output()
        .expect("objdump runs");
    assert!(out.status.success(), "objdump failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Where each slot of the global offset table points (a call through the
/// table, `call *slot(%rip)`, names no function in the disassembly).
fn table_slots(binary: &Path) -> HashMap<u64, u64> {
    let out = Command::new("objdump")
        .arg("-R")
        .arg(binary)
        .output()
        .expect("objdump runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let slot = u64::from_str_radix(parts.next()?, 16).ok()?;
            let target = parts.nth(1)?.strip_prefix("*ABS*+0x")?;
            Some((slot, u64::from_str_radix(target, 16).ok()?))
        })
        .collect()
}

/// The name of what a call instruction calls, as far as it can be told.
fn call_target(line: &str, slots: &HashMap<u64, u64>, names: &HashMap<u64, &str>) -> String {
    // Indirect: `call *0x1234(%rip)        # cc0a50 <...>`, the slot after `#`.
    if let Some(comment) = line.split('#').nth(1) {
        let slot = comment.split_whitespace().next().unwrap_or("");
        if let Ok(slot) = u64::from_str_radix(slot, 16) {
            if let Some(target) = slots.get(&slot) {
                return names
                    .get(target)
                    .map_or(format!("{target:#x}"), |n| n.to_string());
            }
        }
    }
    line.to_string()
}

/// Calls that may sit in a kernel's cold paths: bounds and overflow check
/// failures, and `memset` for a buffer cleared once per call.
fn allowed_call(target: &str) -> bool {
    [
        "memset",
        "panic",
        "index_len_fail",
        "index_order_fail",
        "slice_index_fail",
        "slice_error_fail",
    ]
    .iter()
    .any(|p| target.contains(p))
}

#[test]
fn every_level_of_every_kernel_is_vectorised_without_calls() {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("skipped: the machine-code check knows x86-64 builds only");
        return;
    }
    if !tool("nm") || !tool("objdump") {
        eprintln!("skipped: nm and objdump (binutils) are needed to inspect the machine code");
        return;
    }
    let binary = Path::new(env!("CARGO_BIN_EXE_relate"));
    let symbols = symbols(binary);
    let slots = table_slots(binary);
    let names: HashMap<u64, &str> = symbols
        .iter()
        .map(|(name, addr, _)| (*addr, name.as_str()))
        .collect();
    let mut problems = Vec::new();
    for &(kernel, fused) in KERNELS {
        for level in ["baseline", "avx2", "avx512"] {
            let name = format!("{kernel}::{level}");
            let Some((_, start, size)) = symbols.iter().find(|(n, _, _)| *n == name) else {
                problems.push(format!("{name}: no such symbol in the binary"));
                continue;
            };
            let code = disassemble(binary, *start, *size);
            // (mnemonic, whole line) of every instruction.
            let instructions: Vec<(&str, &str)> = code
                .lines()
                .filter_map(|l| {
                    let text = l.split(":\t").nth(1)?;
                    Some((text.split_whitespace().next()?, l))
                })
                .collect();
            for (mnemonic, line) in &instructions {
                if mnemonic.starts_with("call") {
                    let target = call_target(line, &slots, &names);
                    if !allowed_call(&target) {
                        problems.push(format!("{name} calls {target}"));
                    }
                }
            }
            let uses = |needle: &str| instructions.iter().any(|(_, l)| l.contains(needle));
            // Packed single-precision arithmetic on SSE registers.
            let packed_sse = instructions.iter().any(|(m, l)| {
                ["addps", "mulps", "subps", "maxps", "minps", "divps"].contains(m)
                    && l.contains("%xmm")
            });
            let wide = match level {
                // Quantising runs its AVX2 loops at the AVX-512 level too.
                "avx512" if kernel.ends_with("quantize_rows") => uses("%ymm"),
                "avx512" => uses("%zmm"),
                "avx2" => uses("%ymm"),
                _ => packed_sse,
            };
            if !wide {
                problems.push(format!("{name} has no {level} vector instructions"));
            }
            let fma = uses("vfmadd") || uses("vfnmadd");
            if level != "baseline" && fused && !fma {
                problems.push(format!("{name} has no fused multiply-add"));
            }
            if level == "baseline" && (fma || uses("%ymm")) {
                problems.push(format!("{name} uses instructions beyond the baseline"));
            }
            if kernel.ends_with("block_product_dispatch") {
                // A register spilled for a moment is tolerated; sums
                // mirrored to memory (a store per multiply-add) are not.
                match stack_stores_in_hot_loop(&code) {
                    None => problems.push(format!("{name}: no loop of multiply-adds found")),
                    Some((multiplies, stores)) if stores.len() * 2 >= multiplies => {
                        problems.push(format!(
                            "{name} stores {} vector registers to the stack per {multiplies} \
                             multiply-adds in its innermost loop:\n{}",
                            stores.len(),
                            stores.join("\n")
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    // The int8 products: one kernel per instruction set, not per level.
    for (kernel, instruction, register) in [
        ("int8_vnni", "vpdpbusd", "%zmm"),
        ("int8_avx_vnni", "vpdpbusd", "%ymm"),
        ("int8_avx2", "vpmaddubsw", "%ymm"),
    ] {
        let name = format!("relate::embed::int8::block_dispatch::{kernel}");
        let Some((_, start, size)) = symbols.iter().find(|(n, _, _)| *n == name) else {
            problems.push(format!("{name}: no such symbol in the binary"));
            continue;
        };
        let code = disassemble(binary, *start, *size);
        if !code
            .lines()
            .any(|l| l.contains(instruction) && l.contains(register))
        {
            problems.push(format!(
                "{name} has no {instruction} on {register} registers"
            ));
        }
        for line in code.lines().filter(|l| l.contains("\tcall")) {
            let target = call_target(line, &slots, &names);
            if !allowed_call(&target) {
                problems.push(format!("{name} calls {target}"));
            }
        }
        match stack_stores_in_hot_loop(&code) {
            None => problems.push(format!("{name}: no loop of multiply-adds found")),
            Some((multiplies, stores)) if stores.len() * 2 >= multiplies => problems.push(format!(
                "{name} stores {} vector registers to the stack per {multiplies} \
                     multiply-adds in its innermost loop:\n{}",
                stores.len(),
                stores.join("\n")
            )),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The number of multiplies and the vector stores to the stack inside the
/// innermost loop that multiplies (the smallest range closed by a backward
/// jump holding a multiply); `None` when there is no such loop.
fn stack_stores_in_hot_loop(code: &str) -> Option<(usize, Vec<String>)> {
    // (address, mnemonic, operands) of every instruction.
    let instructions: Vec<(u64, &str, &str)> = code
        .lines()
        .filter_map(|l| {
            let (addr, text) = l.split_once(":\t")?;
            let addr = u64::from_str_radix(addr.trim(), 16).ok()?;
            // AVX-VNNI's instructions print with their encoding first.
            let text = text.trim_start_matches("{vex} ");
            let mut parts = text.splitn(2, char::is_whitespace);
            Some((addr, parts.next()?, parts.next().unwrap_or("").trim()))
        })
        .collect();
    let multiplies =
        |m: &str| m.starts_with("vfmadd") || m == "mulps" || m == "vpdpbusd" || m == "vpmaddubsw";
    let mut innermost: Option<(u64, u64)> = None;
    for &(addr, mnemonic, operands) in &instructions {
        if !mnemonic.starts_with('j') {
            continue;
        }
        let Some(target) = operands
            .split_whitespace()
            .next()
            .and_then(|t| u64::from_str_radix(t, 16).ok())
        else {
            continue;
        };
        if target >= addr {
            continue;
        }
        let has_multiply = instructions
            .iter()
            .any(|&(a, m, _)| (target..=addr).contains(&a) && multiplies(m));
        if has_multiply && innermost.is_none_or(|(s, e)| addr - target < e - s) {
            innermost = Some((target, addr));
        }
    }
    let (start, end) = innermost?;
    let count = instructions
        .iter()
        .filter(|&&(a, m, _)| (start..=end).contains(&a) && multiplies(m))
        .count();
    let stores = instructions
        .iter()
        .filter(|&&(a, m, ops)| {
            (start..=end).contains(&a)
                && m.contains("mov")
                && ops
                    .split_once(',')
                    .is_some_and(|(src, dst)| src.contains("mm") && dst.contains("(%rsp)"))
        })
        .map(|(a, m, ops)| format!("  {a:x}: {m} {ops}"))
        .collect();
    Some((count, stores))
}

fn embed_at(level: &str, dtype: &str, input: &str) -> Vec<Vec<f32>> {
    embed_with(level, dtype, None, input).0
}

/// The vectors of `input` at a SIMD level, with the int8 kernel capped at
/// `int8_kernel` when given, and the run's report line.
fn embed_with(
    level: &str,
    dtype: &str,
    int8_kernel: Option<&str>,
    input: &str,
) -> (Vec<Vec<f32>>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_relate"));
    if let Some(kernel) = int8_kernel {
        command.env("RELATE_INT8_KERNEL", kernel);
    }
    let mut child = command
        .args(["embed", "--device", "cpu", "--dtype", dtype])
        .env("RELATE_MODEL", model_dir())
        .env("RELATE_SIMD", level)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("relate starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "RELATE_SIMD={level}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vectors = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).unwrap();
            serde_json::from_value(row["embedding"].clone()).unwrap()
        })
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (vectors, stderr.lines().last().unwrap_or("").to_string())
}

/// A dozen sample abstracts and the odd inputs, as `embed` input lines.
fn level_input() -> String {
    let refs = read_references("all-MiniLM-L6-v2.abstracts.jsonl");
    let odd = read_references("odd-inputs.reference.jsonl");
    refs.iter()
        .take(12)
        .chain(odd.iter())
        .map(|r| serde_json::json!({ "text": r.text }).to_string() + "\n")
        .collect()
}

#[test]
fn every_level_the_cpu_has_gives_the_same_vectors() {
    let input = level_input();
    let levels = relate::simd::SimdLevel::available();
    let vectors: Vec<(String, Vec<Vec<f32>>)> = levels
        .iter()
        .map(|l| (l.name().to_string(), embed_at(l.name(), "f32", &input)))
        .collect();
    eprintln!(
        "levels run: {:?}",
        vectors.iter().map(|v| &v.0).collect::<Vec<_>>()
    );
    let (first_level, first) = &vectors[0];
    for (level, other) in &vectors[1..] {
        assert_eq!(first.len(), other.len());
        let worst = first
            .iter()
            .zip(other)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
            .fold(0.0f32, f32::max);
        eprintln!("{first_level} vs {level}: largest difference {worst:e}");
        assert!(worst <= 1e-6, "{first_level} vs {level}: {worst:e}");
    }
}

/// In int8 every kernel gives the same integer sums, but the f32 steps
/// between the products (attention, norms) differ in their last bits from
/// level to level (the baseline has no fused multiply-add), and a last bit
/// can move an activation to the next step, which the next layers carry
/// on: vectors agree to a cosine of 0.995 (0.9988 at worst when written),
/// not to 1e-6.
#[test]
fn every_level_the_cpu_has_gives_nearly_the_same_int8_vectors() {
    let input = level_input();
    let levels = relate::simd::SimdLevel::available();
    let vectors: Vec<(String, Vec<Vec<f32>>)> = levels
        .iter()
        .map(|l| (l.name().to_string(), embed_at(l.name(), "int8", &input)))
        .collect();
    let (first_level, first) = &vectors[0];
    for (level, other) in &vectors[1..] {
        assert_eq!(first.len(), other.len());
        let worst = first
            .iter()
            .zip(other)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>())
            .fold(1.0f64, f64::min);
        eprintln!("int8 {first_level} vs {level}: lowest cosine {worst:.6}");
        assert!(
            worst >= 0.995,
            "int8 {first_level} vs {level}: cosine {worst}"
        );
    }
}

/// At one level, the int8 kernels of every instruction set this CPU has
/// (AVX-VNNI, AVX2; AVX-512 VNNI at the top level) sum the same integers,
/// so capping the kernel with `RELATE_INT8_KERNEL` changes nothing but the
/// speed.
#[test]
fn every_int8_kernel_at_one_level_gives_the_same_vectors() {
    let input = level_input();
    for level in relate::simd::SimdLevel::available() {
        let (best, report) = embed_with(level.name(), "int8", None, &input);
        for kernel in ["avx-vnni", "avx2", "sse2"] {
            let (capped, capped_report) = embed_with(level.name(), "int8", Some(kernel), &input);
            eprintln!("{level}: {report} / {capped_report}");
            assert_eq!(best, capped, "{level}: {report} and {capped_report} differ");
        }
    }
}
