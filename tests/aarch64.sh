#!/usr/bin/env bash
# relate on 64-bit ARM, from an x86-64 machine: lints the crate for
# aarch64-unknown-linux-gnu (its NEON kernels included), runs the unit
# tests under qemu, checks the NEON kernels' machine code and compares the
# NEON encoder with the reference vectors on the odd inputs (fetching the
# model); `tests/aarch64.sh --model` also runs the embedding tests on the
# sample abstracts, in f32 and in int8 (the `sdot` kernel): tens of minutes
# under emulation.
#
# Needs a C cross compiler (Debian: gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross), qemu-user (qemu-user-static) and either the
# aarch64 standard library (`rustup target add aarch64-unknown-linux-gnu`)
# or the standard library's source for this exact compiler (`rustup
# component add rust-src`, or a distribution's rust-src package of the same
# version linked at `$(rustc --print sysroot)/lib/rustlib/src/rust/library`),
# from which it is built. Skips, saying what is missing, without them.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu
TARGET_DIR=${CARGO_TARGET_DIR:-target}/aarch64-check

skip() {
  echo "aarch64 check skipped: $*"
  exit 0
}

command -v aarch64-linux-gnu-gcc >/dev/null ||
  skip "no aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"
QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
[ -n "$QEMU" ] || skip "no qemu-aarch64 (apt-get install qemu-user-static)"

build_std=()
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  library="$(rustc --print sysroot)/lib/rustlib/src/rust/library"
  [ -f "$library/Cargo.lock" ] ||
    skip "neither the $TARGET standard library nor the standard library's source for $(rustc --version) (rustup target add $TARGET, or rustup component add rust-src)"
  # Building the standard library from source is an unstable cargo feature.
  export RUSTC_BOOTSTRAP=1
  build_std=(-Zbuild-std)
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$QEMU -L /usr/aarch64-linux-gnu"
# `arm SUBCOMMAND ARGS...`: cargo's SUBCOMMAND for aarch64.
arm() {
  local subcommand=$1
  shift
  cargo "$subcommand" "${build_std[@]}" --target "$TARGET" --target-dir "$TARGET_DIR" "$@"
}

arm clippy --all-targets -- -D warnings
# The command-line tests start relate as a program, which this machine can
# run only through binfmt; the library's own tests run in-process.
arm test --lib
# The machine code of every NEON kernel, read with the cross binutils (the
# test only inspects the program, which it cannot start here).
RELATE_BINUTILS_PREFIX=aarch64-linux-gnu- arm test --test simd_levels -- \
  every_level_of_every_kernel_is_vectorised_without_calls
# The NEON encoder against the reference vectors on the odd inputs (short
# texts: seconds under emulation).
models/fetch.sh >/dev/null
arm test --test embedding -- odd_inputs_give_unit_vectors_and_match_reference
if [ "${1:-}" = --model ]; then
  arm test --test embedding -- matches_reference_on_sample_abstracts \
    int8_stays_close_to_the_reference_and_keeps_the_neighbours
fi
echo "aarch64 check passed"
