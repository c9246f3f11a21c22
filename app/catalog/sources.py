"""What can be served, behind one interface (Netron-style): the built-in definitions and foreign .onnx
files dropped into the models directory. A source reads its file once and says what the model is
(its ModelInfo) or, for a file that cannot be served, why (``error`` names the file and what was wrong).

Names are looked up in a dict, never joined into a path: a request can only reach a file the scan found.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import onnx

from app import nets
from app.analysis import analyse, totals
from app.backends.onnx_inspect import expose, inspect, run_bytes
from app.backends.onnx_write import save_model
from app.catalog.info import IMAGENET_MEAN, IMAGENET_STD, MNIST_MEAN, MNIST_STD, ModelInfo
from app.catalog.sidecar import MAX_BYTES, apply_sidecar, parse_sidecar
from app.catalog.store import (
    all_tensors,
    built_weights,
    check_file,
    check_input_size,
    check_link,
    is_regular,
    read_card,
    read_regular,
    signature,
    write_builtin,
)
from app.config import Settings
from app.errors import AppError, not_found

NAME_MAX = 255  # bytes in one file name on the usual file systems


class Unservable(Exception):
    """Why a file cannot be served; the message starts with the file's name."""


class ModelSource(Protocol):
    """A source of one servable model: a built-in definition or a foreign file."""

    info: ModelInfo
    path: Path
    signature: tuple[int, int] | None  # of ``path`` when it was read: how a change on disk is noticed
    error: str | None  # why the model cannot be served, found when its file was read; None when it can

    def onnx_path(self) -> Path:
        """A file onnxruntime can load with every layer exposed; may build it first."""
        ...


class BuiltinSource:
    """A built-in definition; its file (NAME.onnx) is built with seeded weights on first use unless present."""

    error: str | None = None

    def __init__(self, name: str, settings: Settings) -> None:
        self.net = nets.get(name)
        self.settings = settings
        self.path = settings.models_dir / f"{name}.onnx"
        self._lock = threading.Lock()
        self.signature = signature(self.path)
        if self.path.exists() and not self.path.is_file():  # a FIFO would hang whoever opens it
            self.error = f"{self.path.name}: not a regular file; refused"
        weights = built_weights(self.path)
        layers = analyse(self.net)
        digit = self.net.input_kind == "digit"  # digits: LeNet-5's training statistics (app.train uses them too)
        self.info = ModelInfo(
            name=name, title=self.net.title, family=self.net.family, year=self.net.year, source="builtin",
            input_kind=self.net.input_kind, input_shape=list(self.net.input_shape), labels=self.net.labels_kind,
            weights=weights, layers=layers, outputs=[layer.name for layer in layers],
            description=self.net.description, card=read_card(settings.models_dir, name, weights),
            run_bytes=4 * ((totals(layers)["activations"] or 0) + 2 * max(
                (layer.activation_size or 0 for layer in layers), default=0)),
            mean=(MNIST_MEAN,) if digit else IMAGENET_MEAN, std=(MNIST_STD,) if digit else IMAGENET_STD,
        )

    def onnx_path(self) -> Path:
        with self._lock:
            if not self.path.exists():
                if not self.settings.build_on_demand:
                    raise AppError(503, "not_built", f"{self.path.name} is not built; run `convscope build "
                                   f"{self.net.name}`")
                write_builtin(self.net.name, self.settings.models_dir)
                self.signature = signature(self.path)
            return self.path


_BUILTIN_SPELLINGS = {n.lower(): nets.canonical(n) for n in (*nets.BUILTIN_NAMES, *nets.ALIASES)}


class FileSource:
    """A foreign .onnx file: checked and introspected once; its layer outputs are added by a graph edit
    into a side file (.NAME.convscope.onnx) that onnxruntime loads. A file that cannot be served keeps
    what could be read of it in ``info`` and says why in ``error``."""

    def __init__(self, path: Path, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        self.path = path
        self.signature = signature(path)
        self.exposed = path.with_name(f".{path.stem}.convscope.onnx")
        self.error: str | None = None
        self.info = ModelInfo(name=path.stem, title=path.stem, family="ONNX file", year=None, source="file",
                              input_kind="photo", input_shape=[], labels="index", weights="file",
                              layers=[], outputs=[])
        try:
            self._read(settings)
        except Unservable as exc:
            self.error = str(exc)

    def _read(self, settings: Settings) -> None:
        """Fill ``info`` step by step (an Unservable error leaves the steps done so far)."""
        path = self.path
        clash = _BUILTIN_SPELLINGS.get(path.stem.lower())
        if clash:  # /api/models/LeNet5 answers for lenet5 (names are case-insensitive): a file may not take it
            raise Unservable(f"{path.name}: the name is built-in {clash}'s in another case; rename the file "
                             "(model names are case-insensitive)")
        if len(self.exposed.name.encode()) > NAME_MAX:  # the side file's name would be refused by the disk
            raise Unservable(f"{path.name[:60]}...: the file name is {len(path.name.encode())} bytes long; "
                             f"file names up to {NAME_MAX - 17} bytes can be served")
        try:
            check_link(path)  # before anything opens it
            model = onnx.load_model_from_string(read_regular(path))
            check_file(path, model)
            # unknown ops and opsets are caught here, not at first use; external data (checked above) is
            # looked for beside the file, so the checker gets the file's path when there is some
            external = any(t.external_data for _, t in all_tensors(model.graph))
            onnx.checker.check_model(str(path) if external else model)
            found = inspect(model)
            check_input_size(found.input_shape, settings.max_input_elements)
        except Exception as exc:
            raise Unservable(f"{path.name}: {exc}") from exc
        self._model = model
        layers, outputs, cap = found.layers, found.outputs, None
        if len(layers) > settings.max_layers:  # each exposed layer is a graph output held per run
            layers, outputs = layers[:settings.max_layers], outputs[:settings.max_layers]
            cap = {"shown": settings.max_layers, "total": len(found.layers)}
        self.info = replace(self.info, layers=layers, outputs=outputs, input_name=found.input_name, layer_cap=cap)
        try:  # the memory of a run, bounded before the model is offered (issue 12: run-time bombs)
            self.info = replace(self.info, run_bytes=run_bytes(model, outputs))
            if self.info.run_bytes > settings.run_memory_mb << 20:
                raise ValueError(f"a run would take about {-(-self.info.run_bytes >> 20):,} MB; the budget per "
                                 f"model is {settings.run_memory_mb:,} MB (CONVSCOPE_RUN_MEMORY_MB)")
        except ValueError as exc:
            raise Unservable(f"{path.name}: {exc}") from exc
        last = found.layers[-1].output_shape if found.layers else None
        n_out = last[-1] if last else None
        digit = found.input_shape[0] == 1
        labels = {1000: "imagenet", 10: "mnist"}.get(n_out or 0, "index")
        assumed = [] if digit else ["ImageNet normalisation (mean 0.485 0.456 0.406, std 0.229 0.224 0.225)"]
        if labels != "index":
            assumed.append(f"{labels} labels ({n_out} outputs)")
        if found.n_outputs > 1:
            assumed.append(f"the first of the graph's {found.n_outputs} outputs ({found.final_output!r}) "
                           "holds the class scores")
        self.info = replace(
            self.info, input_shape=found.input_shape, prob_output=found.final_output,
            prob_is_softmax=found.final_is_softmax, input_kind="digit" if digit else "photo", labels=labels,
            assumed=assumed, **({"mean": (0.0,), "std": (1.0,)} if digit else {}))
        sidecar = path.with_suffix(".json")
        if sidecar.exists() or sidecar.is_symlink():
            try:
                check_link(sidecar)
                info = apply_sidecar(self.info, parse_sidecar(read_regular(sidecar, MAX_BYTES)), n_out)
                check_input_size(info.input_shape, settings.max_input_elements)
            except (ValueError, TypeError, KeyError) as exc:
                raise Unservable(f"{sidecar.name}: {exc}") from exc
            self.info = info
        shape = self.info.input_shape
        if shape and shape[0] is None:
            raise Unservable(f"{path.name}: the input's channel count must be fixed (the graph says {shape}); "
                             f"declare it with input_shape in {sidecar.name}")
        if any(d is None for d in shape):
            raise Unservable(f"{path.name}: the input's height and width must be fixed (the graph says {shape}); "
                             f"declare them with input_shape in {sidecar.name}")
        if self.info.input_kind == "digit" and not self.info.digit_sized:
            raise Unservable(f"{path.name}: a one-channel model is fed digits, which come as 1x28x28 or 1x32x32, "
                             f"but it takes {shape}")

    def onnx_path(self) -> Path:
        if signature(self.path) != self.signature:
            raise AppError(503, "model_unavailable", f"{self.path.name} changed on disk; it is being reloaded")
        ex = self.exposed  # only a regular file of our own is loaded: a FIFO or symlink put there is written over
        if ex.is_symlink() or not is_regular(ex) or ex.stat().st_mtime_ns < (self.signature or (0, 0))[0]:
            save_model(expose(self._model, self.info.outputs), ex)
        return self.exposed


def foreign_files(models_dir: Path) -> list[Path]:
    """The .onnx files in the models directory that are not built-in models (nor hidden side files)."""
    if not models_dir.is_dir():
        return []
    return [p for p in sorted(models_dir.glob("*.onnx"))
            if not p.name.startswith(".") and p.stem not in nets.BUILTIN_NAMES and p.stem not in nets.ALIASES]


def scan(settings: Settings) -> dict[str, ModelSource]:
    """Every servable model by name: the built-in definitions, then the foreign files."""
    sources: dict[str, ModelSource] = {name: BuiltinSource(name, settings) for name in nets.BUILTIN_NAMES}
    for path in foreign_files(settings.models_dir):
        sources[path.stem] = FileSource(path, settings)
    return sources


def lookup(sources: dict[str, ModelSource], name: str) -> ModelSource | None:
    """A source by name or alias, case-insensitively (VGG16-3 is vgg16-3); None when there is none."""
    src = sources.get(nets.canonical(name))
    if src is None:
        folded = nets.canonical(name.lower())
        src = next((s for k, s in sources.items() if k.lower() == folded), None)
    return src


def unknown(name: str, sources: dict[str, ModelSource]) -> AppError:
    """The 404 for a name no source has."""
    return not_found(f"no model named {name[:100]!r}; GET /api/models lists the {len(sources)} models available")
