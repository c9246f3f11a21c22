"""No test module imports another test module: shared pieces live in tests/helpers/ (a test module's import
runs its collection side effects and ties two files' fixtures together)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TEST_IMPORT = re.compile(r"^\s*(from\s+tests(\.\w+)*\s+import\s+test_\w+"  # from tests.x import test_y
                         r"|(from|import)\s+tests(\.\w+)*\.test_\w+)", re.M)  # (from|import) tests.x.test_y


def test_no_test_module_imports_another() -> None:
    offenders = [f"{p.relative_to(TESTS.parent)}: {m.group(0).strip()}"
                 for p in sorted(TESTS.rglob("*.py")) for m in TEST_IMPORT.finditer(p.read_text(encoding="utf-8"))]
    assert offenders == []
