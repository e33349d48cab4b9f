#!/usr/bin/env bash
# Installs what `tests/aarch64.sh` needs on a Debian machine: the C cross
# compiler, qemu-user, and the standard library's source for the Rust
# compiler in use. The source comes from Debian's `rust-src` package of the
# same version, from whichever Debian suite still carries it (stable's
# backports, testing, unstable, experimental), read through a package list
# of its own so the machine's apt sources stay as they are; it is put where
# `rustup component add rust-src` would put it. Does nothing that is done
# already; says what failed and exits 1 when something cannot be installed.
set -euo pipefail

fail() {
  echo "aarch64 tools: $*" >&2
  exit 1
}

packages=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
  command -v apt-get >/dev/null || fail "no apt-get: install ${packages[*]} by hand"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${packages[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${packages[@]}" >/dev/null; } ||
    fail "apt-get install ${packages[*]} failed"
fi

sysroot=$(rustc --print sysroot)
library="$sysroot/lib/rustlib/src/rust/library"
if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu ||
  [ -f "$library/Cargo.lock" ]; then
  exit 0
fi

version=$(rustc --version | awk '{print $2}')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || fail "no $keyring to check Debian's package lists with"
for suite in stable-backports testing unstable experimental; do
  echo "deb [signed-by=$keyring] http://deb.debian.org/debian $suite main"
done >"$work/sources.list"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
apt_options=(
  -o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
  -o APT::Sandbox::User=root
)
apt-get "${apt_options[@]}" update -qq >/dev/null 2>&1 ||
  fail "could not read Debian's package lists (${work}/sources.list)"
debian_version=$(apt-cache "${apt_options[@]}" madison rust-src |
  awk -v v="$version" '$3 ~ "^" v "[+]" {print $3; exit}')
[ -n "$debian_version" ] ||
  fail "no Debian rust-src package for rustc $version (rustup component add rust-src, or rustup target add aarch64-unknown-linux-gnu)"
(cd "$work" && apt-get "${apt_options[@]}" download -qq "rust-src=$debian_version" >/dev/null) ||
  fail "could not download rust-src=$debian_version"
dpkg-deb -x "$work"/rust-src_*.deb "$work/root"
source_library="$work/root/usr/src/rustc-$version/library"
[ -f "$source_library/Cargo.lock" ] || fail "rust-src=$debian_version holds no library/Cargo.lock"
mkdir -p "$(dirname "$library")"
rm -rf "$library.partial" "$library"
cp -a "$source_library" "$library.partial"
mv "$library.partial" "$library"
echo "aarch64 tools: the standard library's source for rustc $version (Debian rust-src $debian_version) is in $library"
