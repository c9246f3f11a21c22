"""Class names: MNIST digits and the 1000 ImageNet classes shipped with the app (models/ in a checkout)."""

from __future__ import annotations

from functools import cache

from app.config import BUNDLED_MODELS_DIR


@cache
def imagenet() -> list[str]:
    rows = [line.split("\t", 1) for line in (BUNDLED_MODELS_DIR / "imagenet_classes.tsv").read_text().splitlines()
            if line and not line.startswith("#")]
    return [lemmas.split(",")[0].strip() for _, lemmas in rows]


def label(kind: str, index: int) -> str:
    if kind == "mnist":
        return str(index)
    if kind == "imagenet":
        names = imagenet()
        if 0 <= index < len(names):
            return names[index]
    return f"class {index}"
