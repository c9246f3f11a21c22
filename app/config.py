"""Settings: one class, read once from CONVSCOPE_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _default_models_dir() -> Path:
    return ROOT / "models"


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
    max_layers: int = 512  # layers of a foreign graph exposed for summaries and maps (the first ones)
    max_response_bytes: int = 32 * 1024 * 1024  # maps per answer (raw bytes); the rest is paged
    eager: tuple[str, ...] = ("lenet5",)  # models whose session is created at start-up
    build_on_demand: bool = True  # write missing built-in ONNX files on first use

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
            elif f.name == "build_on_demand":
                values[f.name] = raw.lower() in ("1", "true", "yes", "on")
            elif f.name == "inference_timeout_s":
                values[f.name] = float(raw)
            else:
                values[f.name] = int(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "models_dir" in values:
            values["models_dir"] = Path(values["models_dir"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]
