"""An offline wheelhouse: re-pack the distributions installed in this interpreter that a requirement needs.

The wheel test installs convscope's wheel into a clean venv with `pip --no-index`, so nothing leaves the
machine; pip still resolves the wheel's declared dependencies, against exactly the versions installed here.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SKIP = {"INSTALLER", "REQUESTED", "direct_url.json"}  # written by the installer, not part of a wheel


def _dist(name: str) -> md.Distribution | None:
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        return None


def closure(requirements: list[str]) -> dict[str, md.Distribution]:
    """Installed distributions needed by ``requirements`` (markers evaluated, extras followed)."""
    found: dict[str, md.Distribution] = {}
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": extra}):
            continue
        key = canonicalize_name(req.name)
        dist = found.get(key) or _dist(req.name)
        if dist is None:
            raise LookupError(f"{req.name} is not installed here")
        new = key not in found
        found[key] = dist
        for wanted in [""] * new + sorted(req.extras):
            todo += [(Requirement(r), wanted) for r in dist.requires or []]
    return found


def repack(dist: md.Distribution, out: Path) -> Path:
    """Zip an installed distribution's files (per its RECORD) back into a wheel under ``out``."""
    tags = [line.split(":", 1)[1].strip().split("-") for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag:")] or [["py3", "none", "any"]]
    tag = "-".join(".".join(sorted({t[i] for t in tags})) for i in range(3))  # compressed tag set
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    whl = out / f"{name}-{dist.version}-{tag}.whl"
    base = Path(str(dist.locate_file("")))
    with zipfile.ZipFile(whl, "w", zipfile.ZIP_STORED) as z:
        for f in dist.files or []:
            if f.parts[0] == ".." or "__pycache__" in f.parts or f.name in SKIP or not (base / f).is_file():
                continue  # console scripts live outside site-packages; pip writes new ones
            z.write(base / f, str(f))
    return whl


def build(requirements: list[str], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [repack(d, out) for d in closure(requirements).values()]
