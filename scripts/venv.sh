# Sourced by scripts/serve.sh and scripts/test.sh: make sure a virtual environment exists and set $PY to
# its python. PEP 668 systems (Debian/Ubuntu's own Python) refuse pip outside one, so we never use the
# system interpreter's pip. $CONVSCOPE_VENV picks the folder (default .venv), $PYTHON the interpreter.
VENV=${CONVSCOPE_VENV:-.venv}
BASE_PY=${PYTHON:-python3}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating the virtual environment $VENV ($("$BASE_PY" --version 2>&1))"
  if ! "$BASE_PY" -m venv "$VENV" 2>/dev/null; then
    # Debian/Ubuntu ship venv's ensurepip in a separate package
    rm -rf "$VENV"
    if command -v apt-get >/dev/null 2>&1; then
      ver=$("$BASE_PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      echo "== installing python${ver}-venv (Debian package) to create it"
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "python${ver}-venv" >/dev/null \
        || DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
    fi
    "$BASE_PY" -m venv "$VENV"
  fi
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install -q --no-compile --disable-pip-version-check)  # bytecode is compiled on first import
