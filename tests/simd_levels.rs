//! Every SIMD level of the numeric kernels, on any machine: the machine code
//! of each level's build is vectorised for that level and makes no call per
//! element (the regression that once made the AVX2 build three times slower
//! than it should be: a fused multiply-add compiled outside the level's
//! target features became a library call), and `RELATE_SIMD` runs each level
//! the CPU has, all giving the same vectors within 1e-6 (int8: within a
//! cosine of 0.995). The matrix product's innermost loop must also keep its
//! sums in registers: storing them to the stack at every step (what the
//! compiler made of a tile of plain arrays) halved the AVX-512 speed. The
//! machine code read is the test build's, or that of the build
//! `RELATE_CHECKED_BINARY` names (continuous integration: the release
//! build).

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

/// The binutils program `name` for this build's target: `nm`, or the one
/// `RELATE_BINUTILS_PREFIX` names (`aarch64-linux-gnu-nm` for an aarch64
/// build tested under emulation).
fn binutil(name: &str) -> String {
    format!(
        "{}{name}",
        std::env::var("RELATE_BINUTILS_PREFIX").unwrap_or_default()
    )
}

fn tool(name: &str) -> bool {
    Command::new(binutil(name))
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Start address and size of every demangled symbol, by name.
fn symbols(binary: &Path) -> Vec<(String, u64, u64)> {
    let out = Command::new(binutil("nm"))
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
    let out = Command::new(binutil("objdump"))
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
    let out = Command::new(binutil("objdump"))
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

/// The instruction set of this build, as far as the machine-code check goes.
#[derive(Clone, Copy, PartialEq)]
enum Isa {
    X86_64,
    Aarch64,
}

impl Isa {
    fn of_this_build() -> Option<Isa> {
        if cfg!(target_arch = "x86_64") {
            Some(Isa::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Isa::Aarch64)
        } else {
            None
        }
    }

    /// The builds of each kernel, named after their level.
    fn levels(self) -> &'static [&'static str] {
        match self {
            Isa::X86_64 => &["baseline", "avx2", "avx512"],
            Isa::Aarch64 => &["neon"],
        }
    }

    /// The int8 products: (build, its multiply-add instruction, what marks
    /// its vector registers).
    fn int8_kernels(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Isa::X86_64 => &[
                ("int8_vnni", "vpdpbusd", "%zmm"),
                ("int8_avx_vnni", "vpdpbusd", "%ymm"),
                ("int8_avx2", "vpmaddubsw", "%ymm"),
            ],
            Isa::Aarch64 => &[("int8_neon_dot", "sdot", ".4s")],
        }
    }

    fn is_call(self, mnemonic: &str) -> bool {
        match self {
            Isa::X86_64 => mnemonic.starts_with("call"),
            Isa::Aarch64 => mnemonic == "bl" || mnemonic == "blr",
        }
    }

    fn is_multiply(self, mnemonic: &str) -> bool {
        match self {
            Isa::X86_64 => {
                mnemonic.starts_with("vfmadd")
                    || ["mulps", "vpdpbusd", "vpmaddubsw"].contains(&mnemonic)
            }
            Isa::Aarch64 => ["fmla", "fmul", "sdot"].contains(&mnemonic),
        }
    }

    /// Where a branch goes, when `mnemonic` is one: the last operand that
    /// reads as an address (`jne 4a10 <…>`, `b.ne 4a10 <…>`,
    /// `cbnz x3, 4a10 <…>`).
    fn branch_target(self, mnemonic: &str, operands: &str) -> Option<u64> {
        let branch = match self {
            Isa::X86_64 => mnemonic.starts_with('j'),
            Isa::Aarch64 => {
                mnemonic == "b"
                    || mnemonic.starts_with("b.")
                    || ["cbz", "cbnz", "tbz", "tbnz"].contains(&mnemonic)
            }
        };
        if !branch {
            return None;
        }
        let before_name = operands.split('<').next().unwrap_or("");
        before_name
            .split([',', ' '])
            .rfind(|t| !t.is_empty())
            .and_then(|t| u64::from_str_radix(t.trim_start_matches('#'), 16).ok())
    }

    /// Whether an instruction stores a vector register to the stack.
    fn is_vector_stack_store(self, mnemonic: &str, operands: &str) -> bool {
        match self {
            Isa::X86_64 => {
                mnemonic.contains("mov")
                    && operands
                        .split_once(',')
                        .is_some_and(|(src, dst)| src.contains("mm") && dst.contains("(%rsp)"))
            }
            Isa::Aarch64 => {
                (mnemonic.starts_with("str") || mnemonic.starts_with("stp"))
                    && operands.contains("[sp")
                    && operands.starts_with('q')
            }
        }
    }
}

/// (mnemonic, whole line) of every instruction of a disassembly.
fn instructions(code: &str) -> Vec<(&str, &str)> {
    code.lines()
        .filter_map(|l| {
            let text = l.split(":\t").nth(1)?;
            let text = text.trim_start_matches("{vex} ");
            Some((text.split_whitespace().next()?, l))
        })
        .collect()
}

/// What is wrong with one level's build of one kernel: vector
/// instructions of another level, fused multiply-adds missing where
/// `fused`, instructions beyond the level.
fn level_problems(
    isa: Isa,
    (kernel, fused): (&str, bool),
    level: &str,
    instructions: &[(&str, &str)],
) -> Vec<String> {
    let name = format!("{kernel}::{level}");
    let uses = |needle: &str| instructions.iter().any(|(_, l)| l.contains(needle));
    let mut problems = Vec::new();
    if isa == Isa::Aarch64 {
        // NEON's 128-bit lanes: `v0.4s` (f32, i32), `v0.16b` (bytes).
        if !uses(".4s") && !uses(".16b") && !uses(".8h") {
            problems.push(format!("{name} has no NEON vector instructions"));
        }
        let fma = instructions
            .iter()
            .any(|(m, l)| (*m == "fmla" || *m == "fmls") && l.contains(".4s"));
        if fused && !fma {
            problems.push(format!("{name} has no vector fused multiply-add"));
        }
        return problems;
    }
    // Packed single-precision arithmetic on SSE registers.
    let packed_sse = instructions.iter().any(|(m, l)| {
        ["addps", "mulps", "subps", "maxps", "minps", "divps"].contains(m) && l.contains("%xmm")
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
    // Packed (`…ps`), not one value at a time (`…ss`): a loop the compiler
    // could not vectorise still fuses its scalar multiply-adds.
    let packed_fma = instructions
        .iter()
        .any(|(m, _)| (m.starts_with("vfmadd") || m.starts_with("vfnmadd")) && m.ends_with("ps"));
    if level != "baseline" && fused && !packed_fma {
        problems.push(format!("{name} has no packed fused multiply-add"));
    }
    if level == "baseline" && (fma || uses("%ymm")) {
        problems.push(format!("{name} uses instructions beyond the baseline"));
    }
    problems
}

#[test]
fn every_level_of_every_kernel_is_vectorised_without_calls() {
    let Some(isa) = Isa::of_this_build() else {
        eprintln!("skipped: the machine-code check knows x86-64 and aarch64 builds only");
        return;
    };
    if !tool("nm") || !tool("objdump") {
        eprintln!(
            "skipped: {} and {} (binutils) are needed to inspect the machine code",
            binutil("nm"),
            binutil("objdump")
        );
        return;
    }
    // The test build by default; `RELATE_CHECKED_BINARY` names another
    // build of relate to inspect (the release build users run).
    let checked_binary = std::env::var_os("RELATE_CHECKED_BINARY");
    let binary = checked_binary
        .as_deref()
        .map_or(Path::new(env!("CARGO_BIN_EXE_relate")), Path::new);
    assert!(binary.is_file(), "no relate binary at {}", binary.display());
    println!("inspecting {}", binary.display());
    let symbols = symbols(binary);
    let slots = table_slots(binary);
    let names: HashMap<u64, &str> = symbols
        .iter()
        .map(|(name, addr, _)| (*addr, name.as_str()))
        .collect();
    let disassembled = |name: &str| {
        let (_, start, size) = symbols.iter().find(|(n, _, _)| *n == name)?;
        Some(disassemble(binary, *start, *size))
    };
    // Calls outside the cold paths, and sums mirrored to the stack in the
    // innermost loop (a register spilled for a moment is tolerated; a store
    // per multiply-add is not).
    let calls_and_spills = |name: &str, code: &str, loop_expected: bool| {
        let mut problems = Vec::new();
        for (mnemonic, line) in instructions(code) {
            if isa.is_call(mnemonic) {
                let target = call_target(line, &slots, &names);
                if !allowed_call(&target) {
                    problems.push(format!("{name} calls {target}"));
                }
            }
        }
        if loop_expected {
            match stack_stores_in_hot_loop(isa, code) {
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
        problems
    };
    let mut problems = Vec::new();
    let mut checked = 0;
    for &(kernel, fused) in KERNELS {
        for &level in isa.levels() {
            let name = format!("{kernel}::{level}");
            let Some(code) = disassembled(&name) else {
                problems.push(format!("{name}: no such symbol in the binary"));
                continue;
            };
            problems.extend(level_problems(
                isa,
                (kernel, fused),
                level,
                &instructions(&code),
            ));
            let product = kernel.ends_with("block_product_dispatch");
            problems.extend(calls_and_spills(&name, &code, product));
            checked += 1;
        }
    }
    // The int8 products: one kernel per instruction set, not per level.
    for &(kernel, instruction, register) in isa.int8_kernels() {
        let name = format!("relate::embed::int8::block_dispatch::{kernel}");
        let Some(code) = disassembled(&name) else {
            problems.push(format!("{name}: no such symbol in the binary"));
            continue;
        };
        if !code
            .lines()
            .any(|l| l.contains(instruction) && l.contains(register))
        {
            problems.push(format!(
                "{name} has no {instruction} on {register} registers"
            ));
        }
        problems.extend(calls_and_spills(&name, &code, true));
        checked += 1;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    println!("machine code of {checked} kernel builds checked");
}

/// The number of multiplies and the vector stores to the stack inside the
/// innermost loop that multiplies (the smallest range closed by a backward
/// jump holding a multiply); `None` when there is no such loop.
fn stack_stores_in_hot_loop(isa: Isa, code: &str) -> Option<(usize, Vec<String>)> {
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
    let mut innermost: Option<(u64, u64)> = None;
    for &(addr, mnemonic, operands) in &instructions {
        let Some(target) = isa.branch_target(mnemonic, operands) else {
            continue;
        };
        if target >= addr {
            continue;
        }
        let has_multiply = instructions
            .iter()
            .any(|&(a, m, _)| (target..=addr).contains(&a) && isa.is_multiply(m));
        if has_multiply && innermost.is_none_or(|(s, e)| addr - target < e - s) {
            innermost = Some((target, addr));
        }
    }
    let (start, end) = innermost?;
    let count = instructions
        .iter()
        .filter(|&&(a, m, _)| (start..=end).contains(&a) && isa.is_multiply(m))
        .count();
    let stores = instructions
        .iter()
        .filter(|&&(a, m, ops)| (start..=end).contains(&a) && isa.is_vector_stack_store(m, ops))
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
