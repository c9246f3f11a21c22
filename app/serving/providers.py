"""Which onnxruntime execution provider runs the models: CUDA when the installed onnxruntime has it
(the `gpu` extra), otherwise the CPU; `CONVSCOPE_PROVIDER=cpu|cuda|auto` chooses."""

from __future__ import annotations

from functools import cache
from typing import Any

import onnxruntime as ort
from jinja2 import pass_context

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
SHORT = {CUDA: "CUDA", CPU: "CPU"}


def choose(available: list[str], wanted: str = "auto") -> list[str]:
    """The providers to create sessions with, best first, from what onnxruntime offers."""
    wanted = wanted.lower()
    if wanted == "cpu":
        return [CPU]
    if wanted == "cuda":
        if CUDA not in available:
            raise ValueError("CONVSCOPE_PROVIDER=cuda, but this onnxruntime has no CUDA provider "
                             f"(it offers {', '.join(available)}): install the gpu extra (see the README)")
        return [CUDA, CPU]
    if wanted != "auto":
        raise ValueError(f"CONVSCOPE_PROVIDER must be auto, cuda or cpu, not {wanted!r}")
    return [p for p in (CUDA, CPU) if p in available] or [CPU]


@cache
def available() -> tuple[str, ...]:
    return tuple(ort.get_available_providers())


def chosen(wanted: str = "auto") -> list[str]:
    return choose(list(available()), wanted)


def session_options(threads: int, arena: bool = True) -> ort.SessionOptions:
    """The onnxruntime options every convscope session runs with (the server's and the benchmark's):
    ``threads`` intra-op threads that do not spin, one inter-op thread, every graph optimisation,
    warnings off; ``arena=False`` hands a run's memory back after it (for foreign files)."""
    o = ort.SessionOptions()
    o.enable_cpu_mem_arena = arena
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.log_severity_level = 3
    return o


def used(session: ort.InferenceSession | None, wanted: str = "auto") -> str:
    """The provider a session actually runs on (onnxruntime drops one it cannot initialise), or for no
    session yet, the one it will be created with."""
    return session.get_providers()[0] if session is not None else chosen(wanted)[0]


@pass_context
def for_page(ctx: Any) -> str:
    """The page footer's word for the provider this server's models run on (CPU or CUDA)."""
    wanted = ctx["request"].app.state.service.settings.provider
    return SHORT.get(chosen(wanted)[0], chosen(wanted)[0])
