"""No merge-conflict markers left in tracked source: a rebase once committed one into templates/model.html,
and the page rendered it as text without any other test noticing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^(<{7} |={7}$|>{7} )", re.M)
TEXT = (".py", ".js", ".html", ".css", ".po", ".pot", ".md", ".toml", ".txt", ".json", ".yml", ".yaml", ".sh", ".cfg")


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / f for f in out.splitlines() if f.endswith(TEXT) and (ROOT / f).is_file()]


def test_no_conflict_markers_in_tracked_files() -> None:
    hits = []
    for path in _tracked():
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in MARKER.finditer(text):
            hits.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0).strip()}")
    assert not hits, "merge-conflict markers:\n" + "\n".join(hits)


def test_the_pattern_finds_a_marker() -> None:
    assert MARKER.search("a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> 1234 (x)\n")
    assert not MARKER.search("a ======= b\n<<<<<<<x\n")
