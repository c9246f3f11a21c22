#!/usr/bin/env bash
# Run the app from this checkout: creates .venv on first use (or $CONVSCOPE_VENV), installs convscope
# into it (editable, runtime dependencies only), then `convscope serve` with any extra arguments
# (e.g. scripts/serve.sh --port 8080). Works on a stock Debian/Ubuntu Python (PEP 668).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
# reinstall only when pyproject.toml changed since the last install
stamp="$VENV/.convscope-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! "$PY" -c "import app" 2>/dev/null; then
  echo "== installing convscope into $VENV"
  "${PIP[@]}" -e .
  touch "$stamp"
fi
exec "$VENV/bin/convscope" serve "$@"
