"""Settings: one class, read once from CONVSCOPE_* environment variables."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

DEFAULT_URL_BASE = "https://download.pytorch.org/models/"  # torchvision's published checkpoints


PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
# Run from a checkout, static/, templates/ and models/ sit beside app/; installed from a wheel, setup.py
# has copied them (and only the committed models) into the package as app/_data/.
FROM_CHECKOUT = (ROOT / "pyproject.toml").is_file() and (ROOT / "templates").is_dir() and (ROOT / "static").is_dir()
DATA_DIR = ROOT if FROM_CHECKOUT else PACKAGE_DIR / "_data"
STATIC_DIR = DATA_DIR / "static"
TEMPLATES_DIR = DATA_DIR / "templates"
BUNDLED_MODELS_DIR = DATA_DIR / "models"  # lenet5.onnx, its card and imagenet_classes.tsv
SEED_FILES = ("lenet5.onnx", "lenet5.card.json")


def user_data_dir() -> Path:
    """Where an installed convscope keeps its models: the platform's per-user data folder."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "convscope"


def seed_models_dir(models_dir: Path) -> Path:
    """Create ``models_dir`` if needed and copy the trained LeNet-5 (and its card) in when it is missing."""
    models_dir.mkdir(parents=True, exist_ok=True)
    if not (models_dir / "lenet5.onnx").exists() and not (models_dir / "lenet5.card.json").exists():
        for f in SEED_FILES:
            shutil.copyfile(BUNDLED_MODELS_DIR / f, models_dir / f)
    return models_dir


def _default_models_dir() -> Path:
    """The checkout's models/ from a checkout; otherwise a per-user data folder seeded with LeNet-5."""
    if FROM_CHECKOUT:
        return ROOT / "models"
    return seed_models_dir(user_data_dir() / "models")


@dataclass(frozen=True)
class Settings:
    models_dir: Path = field(default_factory=_default_models_dir)
    cache_mb: int = 3072  # bound on the memory held by onnxruntime sessions (estimated)
    max_concurrent: int = 2  # inferences running at once
    max_queue: int = 16  # inferences waiting for a slot; beyond that 503 + Retry-After
    inference_timeout_s: float = 60.0  # per inference; 504 when exceeded
    intra_op_threads: int = 1  # onnxruntime threads per inference (see bench/README)
    max_body_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 16_777_216  # 4096 x 4096
    max_input_elements: int = 3 * 1024 * 1024  # a model's declared input (C*H*W); larger models are refused
    run_memory_mb: int = 2048  # memory one run of a foreign model may take (estimated at load; refused beyond)
    max_layers: int = 512  # layers of a foreign graph exposed for summaries and maps (the first ones)
    max_response_bytes: int = 32 * 1024 * 1024  # maps per answer (raw bytes); the rest is paged
    header_timeout_s: float = 10.0  # a request's headers must arrive within this (slow clients are closed)
    body_timeout_s: float = 30.0  # and its whole body within this after the headers (408 otherwise)
    max_connections: int = 512  # open connections; beyond it a new one gets an immediate 503 (and below ulimit -n)
    eager: tuple[str, ...] = ("lenet5",)  # models whose session is created at start-up
    build_on_demand: bool = True  # write missing built-in ONNX files on first use
    allow_downloads: bool | None = None  # trained weights fetched from the page; `serve`: on iff bound to loopback
    download_url: str = DEFAULT_URL_BASE  # where torchvision's .pth files live (or a mirror's URL)
    provider: str = "auto"  # onnxruntime execution provider: auto (CUDA when installed), cuda or cpu

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, overridden by CONVSCOPE_<FIELD> variables, overridden by keyword arguments."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"CONVSCOPE_{f.name.upper()}")
            if raw is None:
                continue
            if f.name == "models_dir":
                values[f.name] = Path(raw)
            elif f.name == "eager":
                values[f.name] = tuple(x for x in raw.split(",") if x)
            elif f.name in ("build_on_demand", "allow_downloads"):
                values[f.name] = raw.lower() in ("1", "true", "yes", "on")
            elif f.name in ("download_url", "provider"):
                values[f.name] = raw
            else:
                kind = float if f.name.endswith("_s") else int
                try:
                    values[f.name] = kind(raw)
                except ValueError:
                    what = "an integer" if kind is int else "a number"
                    raise ValueError(f"CONVSCOPE_{f.name.upper()} must be {what}, not {raw[:40]!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "models_dir" in values:
            values["models_dir"] = Path(values["models_dir"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]
