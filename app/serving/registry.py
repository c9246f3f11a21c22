"""What can be served: built-in definitions and foreign .onnx files, behind one interface,
plus the memory-bounded cache of onnxruntime sessions.

Names are looked up in a dict, never joined into a path: a request can only reach a file
the start-up scan found in the models directory.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import onnx
import onnxruntime as ort

from app import nets
from app.analysis import LayerInfo, analyse, totals
from app.backends.onnx_inspect import expose, inspect, run_bytes
from app.config import Settings
from app.errors import AppError, not_found
from app.serving.preprocess import MNIST_MEAN, MNIST_STD
from app.serving.providers import session_options

log = logging.getLogger("convscope")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ModelInfo:
    """Everything the API and pages say about a model, whether or not it is loaded."""

    name: str
    title: str
    family: str
    year: int | None
    source: str  # "builtin" or "file"
    input_kind: str  # "digit" or "photo"
    input_shape: list[int | None]
    labels: str  # "mnist", "imagenet" or "index"
    weights: str  # "trained", "imported", "file" or "untrained"
    layers: list[LayerInfo]
    outputs: list[str]  # graph tensor of each layer
    input_name: str = "input"
    prob_output: str = "prob"
    prob_is_softmax: bool = True
    description: str = ""
    status: str = "available"  # "available", "loaded" or "error"
    error: str | None = None
    card: dict[str, Any] = field(default_factory=dict)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    pixel_range: float = 1.0  # pixels scaled to [0, pixel_range] before mean/std (255 for Caffe-style models)
    bgr: bool = False  # channel order BGR (Caffe) instead of RGB
    label_names: list[str] | None = None  # a foreign model's own class names (from its sidecar)
    assumed: list[str] = field(default_factory=list)
    run_bytes: int = 0  # estimated memory of one run with every layer exposed (counted in the cache bound)
    layer_cap: dict[str, int] | None = None  # {"shown", "total"} when a foreign graph has more layers than exposed

    def summary(self) -> dict[str, Any]:
        t = totals(self.layers)
        return {
            "name": self.name, "title": self.title, "family": self.family, "year": self.year,
            "source": self.source, "input_kind": self.input_kind, "input_shape": self.input_shape,
            "params": t["params"], "macs": t["macs"], "depth": t["depth"], "weights": self.weights,
            "status": self.status, "error": self.error, "description": self.description,
            "labels": self.labels, "assumed": self.assumed, "layer_cap": self.layer_cap,
            "sha256": self.card.get("checkpoint_sha256") or self.card.get("sha256"),
        }

    def detail(self) -> dict[str, Any]:
        return {**self.summary(), "layers": [layer.as_dict() for layer in self.layers],
                "totals": totals(self.layers), "card": self.card}


class ModelSource(Protocol):
    """A source of one servable model (Netron-style: built-in definition or foreign file)."""

    info: ModelInfo
    path: Path
    signature: tuple[int, int] | None

    def onnx_path(self) -> Path:
        """A file onnxruntime can load with every layer exposed; may build it first."""
        ...


def card_path(models_dir: Path, name: str) -> Path:
    return models_dir / f"{name}.card.json"


class BuiltinSource:
    def __init__(self, name: str, settings: Settings) -> None:
        self.net = nets.get(name)
        self.settings = settings
        self.path = settings.models_dir / f"{name}.onnx"
        self._lock = threading.Lock()
        self.signature = signature(self.path)
        weights = built_weights(self.path)
        card: dict[str, Any] = {}
        cp = card_path(settings.models_dir, name)
        if self.path.exists() and cp.exists():
            try:
                card = json.loads(cp.read_text())
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable model card %s: %s", cp, exc)
            if card and card.get("weights") != weights:  # e.g. imported, then rebuilt untrained
                log.warning("ignoring %s: it describes %s weights but %s holds %s weights",
                            cp.name, card.get("weights"), self.path.name, weights)
                card = {}
        layers = analyse(self.net)
        self.info = ModelInfo(
            name=name, title=self.net.title, family=self.net.family, year=self.net.year, source="builtin",
            input_kind=self.net.input_kind, input_shape=list(self.net.input_shape), labels=self.net.labels_kind,
            weights=weights, layers=layers, outputs=[layer.name for layer in layers],
            description=self.net.description, card=card,
            # digits: LeNet-5's training statistics (app.train normalises with the same constants)
            run_bytes=4 * ((totals(layers)["activations"] or 0) + 2 * max(
                (layer.activation_size or 0 for layer in layers), default=0)),
            mean=(MNIST_MEAN,) if self.net.input_kind == "digit" else IMAGENET_MEAN,
            std=(MNIST_STD,) if self.net.input_kind == "digit" else IMAGENET_STD,
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


WEIGHT_KINDS = ("trained", "imported", "untrained")


def built_weights(path: Path) -> str:
    """What the weights of a built-in model's file are, read from the file's own convscope metadata
    (written by app.backends.onnx_build): "trained", "imported" or "untrained". A file not built yet will be
    built with seeded random weights, so "untrained"; "file" only for a file convscope did not write.
    A model card never decides this: a card may outlive the weights it described."""
    if not path.exists():
        return "untrained"
    from app.backends.onnx_build import read_metadata

    try:
        meta = read_metadata(onnx.load(str(path), load_external_data=False)) or {}
    except Exception as exc:  # unreadable here; loading it later reports the error
        log.warning("could not read the metadata of %s: %s", path.name, exc)
        return "file"
    weights = meta.get("weights") if isinstance(meta, dict) else None
    return weights if weights in WEIGHT_KINDS else "file"


def write_builtin(name: str, models_dir: Path, seed: int = 0) -> Path:
    """Build a built-in model with seeded untrained weights, its weights as external data
    (NAME.onnx.data beside NAME.onnx), and write both atomically."""
    from app.weights.init import HeWeights

    net = nets.get(name)
    return write_model(net, HeWeights(net, seed), models_dir, "untrained", {"seed": seed})


def write_model(net: nets.Net, weights: Any, models_dir: Path, source: str,
                extra_meta: dict[str, Any] | None = None) -> Path:
    """Write NAME.onnx (+ NAME.onnx.data) via temporary files and renames: never half a model."""
    from app.backends.onnx_build import build

    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"{net.name}.onnx"
    data_path = models_dir / f"{net.name}.onnx.data"
    fd, tmp = tempfile.mkstemp(dir=models_dir, prefix=f".{net.name}.", suffix=".data.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            model = build(net, weights, source, extra_meta, data=f, data_location=data_path.name)
        os.chmod(tmp, 0o644)
        os.replace(tmp, data_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return save_model(model, path, check=True)


def save_model(model: onnx.ModelProto, path: Path, check: bool = False) -> Path:
    """Write via a temporary file and rename, so a crash never leaves half a model behind;
    with ``check``, onnx.checker reads the written file (external data included) first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a model file is for everyone to read
        if check:
            onnx.checker.check_model(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def signature(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of a file, or None when it is gone: how a change on disk is noticed."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def all_tensors(graph: onnx.GraphProto) -> Iterator[tuple[str, onnx.TensorProto]]:
    """Every tensor a graph carries, with where it is: initializers, sparse initializers, tensors
    in node attributes (Constant's value and any other), and the same inside every subgraph."""
    for t in graph.initializer:
        yield f"initializer {t.name!r}", t
    for st in graph.sparse_initializer:
        yield f"sparse initializer {st.values.name!r}", st.values
        yield f"sparse initializer {st.values.name!r} (indices)", st.indices
    for node in graph.node:
        where = f"node {(node.name or node.op_type)!r} ({node.op_type})"
        for a in node.attribute:
            if a.HasField("t"):
                yield f"{where} attribute {a.name!r}", a.t
            for t in a.tensors:
                yield f"{where} attribute {a.name!r}", t
            if a.HasField("sparse_tensor"):
                yield f"{where} attribute {a.name!r}", a.sparse_tensor.values
                yield f"{where} attribute {a.name!r} (indices)", a.sparse_tensor.indices
            for st in a.sparse_tensors:
                yield f"{where} attribute {a.name!r}", st.values
            if a.HasField("g"):
                yield from all_tensors(a.g)
            for g in a.graphs:
                yield from all_tensors(g)


def check_file(path: Path, model: onnx.ModelProto) -> None:
    """Refuse a model file that is a symlink out of its folder, or whose external data -- on any
    tensor, wherever it appears (initializers, Constant nodes, attributes, subgraphs) -- lies
    outside its folder or behind a symlink (ValueError naming the tensor and the path)."""
    folder = path.parent.resolve()
    if path.is_symlink() and folder not in path.resolve().parents:
        raise ValueError(f"{path.name} is a symlink to {path.resolve()}, outside the models directory")
    for where, t in all_tensors(model.graph):
        if t.data_location != onnx.TensorProto.EXTERNAL and not t.external_data:
            continue
        loc = next((e.value for e in t.external_data if e.key == "location"), "")
        target = folder / loc
        if not loc or Path(loc).is_absolute() or ".." in Path(loc).parts:
            raise ValueError(f"{where}: external data location {loc!r} must be a plain relative path")
        if target.is_symlink() or any(p.is_symlink() for p in target.parents if folder in p.parents):
            raise ValueError(f"{where}: external data {loc!r} is a symlink; refused")
        if folder not in target.resolve().parents:
            raise ValueError(f"{where}: external data {loc!r} lies outside {folder}")
        if not target.is_file():
            raise ValueError(f"{where}: external data file {loc!r} is missing")


def check_input_size(shape: list[int | None], limit: int) -> None:
    """Refuse a model whose declared input (C, H, W) holds more than ``limit`` values: its input
    tensor alone, and every activation after it, would be sized by that declaration; and one whose
    channels are neither 1 (gray) nor 3 (RGB), the images convscope can feed."""
    if shape and shape[0] not in (None, 1, 3):
        raise ValueError(f"the model takes {shape[0]} input channels; convscope feeds images of 1 (gray) or 3 (RGB)")
    n = 1
    for d in shape:
        n *= d or 1
    if n > limit:
        raise ValueError(f"the model declares an input of {shape} = {n:,} values; the limit is {limit:,} "
                         "(CONVSCOPE_MAX_INPUT_ELEMENTS)")


class FileSource:
    """A foreign .onnx file: introspected once; layer outputs added by graph edit into a side file."""

    def __init__(self, path: Path, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        self.path = path
        self.signature = signature(path)
        name = path.stem
        self.exposed = path.with_name(f".{name}.convscope.onnx")
        self.info = ModelInfo(name=name, title=name, family="ONNX file", year=None, source="file",
                              input_kind="photo", input_shape=[], labels="index", weights="file",
                              layers=[], outputs=[])
        try:
            model = onnx.load(str(path), load_external_data=False)
            check_file(path, model)
            # unknown ops and opsets are caught here, not at first use; external data (checked above) is
            # looked for beside the file, so the checker gets the file's path when there is some
            external = any(t.external_data for _, t in all_tensors(model.graph))
            onnx.checker.check_model(str(path) if external else model)
            found = inspect(model)
            check_input_size(found.input_shape, settings.max_input_elements)
        except Exception as exc:
            self.info.status, self.info.error = "error", f"{path.name}: {exc}"
            return
        self._model = model
        info = self.info
        info.layers, info.outputs, info.input_name = found.layers, found.outputs, found.input_name
        if len(found.layers) > settings.max_layers:  # each exposed layer is a graph output held per run
            info.layers, info.outputs = found.layers[:settings.max_layers], found.outputs[:settings.max_layers]
            info.layer_cap = {"shown": settings.max_layers, "total": len(found.layers)}
        try:  # the memory of a run, bounded before the model is offered (issue 12: run-time bombs)
            info.run_bytes = run_bytes(model, info.outputs)
            budget = settings.run_memory_mb << 20
            if info.run_bytes > budget:
                raise ValueError(f"a run would take about {-(-info.run_bytes >> 20):,} MB; the budget per model is "
                                 f"{settings.run_memory_mb:,} MB (CONVSCOPE_RUN_MEMORY_MB)")
        except ValueError as exc:
            info.status, info.error = "error", f"{path.name}: {exc}"
            return
        info.input_shape = found.input_shape
        info.prob_output, info.prob_is_softmax = found.final_output, found.final_is_softmax
        c = found.input_shape[0]
        info.input_kind = "digit" if c == 1 else "photo"
        if info.input_kind == "photo":
            info.assumed.append("ImageNet normalisation (mean 0.485 0.456 0.406, std 0.229 0.224 0.225)")
        last = found.layers[-1].output_shape if found.layers else None
        n_out = last[-1] if last else None
        info.labels = {1000: "imagenet", 10: "mnist"}.get(n_out or 0, "index")
        if info.labels != "index":
            info.assumed.append(f"{info.labels} labels ({n_out} outputs)")
        if info.input_kind == "digit":
            info.mean, info.std = (0.0,), (1.0,)
        sidecar = path.with_suffix(".json")
        if sidecar.exists():
            try:
                apply_sidecar(info, json.loads(sidecar.read_text()), n_out)
                check_input_size(info.input_shape, settings.max_input_elements)
            except (ValueError, TypeError, KeyError) as exc:
                info.status, info.error = "error", f"{sidecar.name}: {exc}"

    def onnx_path(self) -> Path:
        if signature(self.path) != self.signature:
            raise AppError(503, "model_unavailable", f"{self.path.name} changed on disk; it is being reloaded")
        if not self.exposed.exists() or self.exposed.stat().st_mtime_ns < (self.signature or (0, 0))[0]:
            save_model(expose(self._model, self.info.outputs), self.exposed)
        return self.exposed


def rss_bytes() -> int:
    """Resident memory of this process (Linux; 0 elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def file_bytes(path: Path) -> int:
    """A model's size on disk, its external data file included."""
    data = path.with_name(path.name + ".data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)


def apply_sidecar(info: ModelInfo, side: dict[str, Any], n_out: int | None) -> None:
    """NAME.json beside NAME.onnx: what the graph cannot say. Keys (all optional): title,
    description, kind ("photo" | "digit"), input_shape [C, H, W] (NCHW), mean, std,
    pixel_range (1 or 255), channel_order ("RGB" | "BGR"), labels ("imagenet" | "mnist" | [names])."""
    if not isinstance(side, dict):
        raise ValueError("must be a JSON object")
    known = {"title", "description", "kind", "input_shape", "mean", "std", "pixel_range", "channel_order", "labels"}
    unknown = sorted(set(side) - known)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
    info.title = str(side.get("title", info.title))
    info.description = str(side.get("description", info.description))
    if "kind" in side:
        if side["kind"] not in ("photo", "digit"):
            raise ValueError("kind must be 'photo' or 'digit'")
        info.input_kind = side["kind"]
    if "input_shape" in side:
        shape = side["input_shape"]
        if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape)):
            raise ValueError("input_shape must be [C, H, W] of positive integers (NCHW without the batch)")
        if any(g is not None and g != d for g, d in zip(info.input_shape, shape, strict=False)):
            raise ValueError(f"input_shape {shape} contradicts the graph's {info.input_shape}")
        info.input_shape = shape
    channels = info.input_shape[0] or 3
    for key in ("mean", "std"):
        if key in side:
            v = side[key]
            if not (isinstance(v, list) and len(v) == channels and all(isinstance(x, int | float) for x in v)):
                raise ValueError(f"{key} must be a list of {channels} numbers")
            if key == "std" and any(x <= 0 for x in v):
                raise ValueError("std must be positive")
            setattr(info, key, tuple(float(x) for x in v))
    if "pixel_range" in side:
        if side["pixel_range"] not in (1, 255):
            raise ValueError("pixel_range must be 1 or 255")
        info.pixel_range = float(side["pixel_range"])
    if "channel_order" in side:
        if side["channel_order"] not in ("RGB", "BGR"):
            raise ValueError("channel_order must be 'RGB' or 'BGR'")
        info.bgr = side["channel_order"] == "BGR"
    if "labels" in side:
        labels = side["labels"]
        if labels in ("imagenet", "mnist", "index"):
            info.labels, info.label_names = labels, None
        elif isinstance(labels, list) and all(isinstance(x, str) for x in labels):
            if n_out is not None and len(labels) != n_out:
                raise ValueError(f"labels has {len(labels)} names but the model has {n_out} outputs")
            info.labels, info.label_names = "sidecar", labels
        else:
            raise ValueError("labels must be 'imagenet', 'mnist', 'index' or a list of names")
    declared = set(side)
    info.assumed = [a for a in info.assumed if not (
        ("normalisation" in a and {"mean", "std"} <= declared) or ("labels" in a and "labels" in declared))]
    info.card = {"sidecar": side}


def providers(wanted: str = "auto") -> list[str]:
    from app.serving.providers import chosen  # CUDA when installed, else CPU; CONVSCOPE_PROVIDER chooses

    return chosen(wanted)


class Registry:
    """Every servable model by name, and a least-recently-used cache of their sessions.

    A cache entry holds a session together with the ModelInfo it was loaded with, so a request
    always sees one version of a model (its output names and its session), even while the file
    is being replaced."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sources: dict[str, ModelSource] = {}
        self._sessions: OrderedDict[str, tuple[ort.InferenceSession, int, ModelInfo]] = OrderedDict()
        self._lock = threading.Lock()
        self._check_lock = threading.RLock()  # one reload at a time
        self._model_locks: dict[str, threading.Lock] = {}
        self.scan()

    def scan(self) -> None:
        self._dir_sig = signature(self.settings.models_dir)
        sources: dict[str, ModelSource] = {name: BuiltinSource(name, self.settings) for name in nets.BUILTIN_NAMES}
        for path in self._foreign_files():
            sources[path.stem] = FileSource(path, self.settings)
        self.sources = sources
        self._scanned = time.monotonic()

    def _foreign_files(self) -> list[Path]:
        d = self.settings.models_dir
        if not d.is_dir():
            return []
        return [p for p in sorted(d.glob("*.onnx"))
                if not p.name.startswith(".") and p.stem not in nets.BUILTIN_NAMES and p.stem not in nets.ALIASES]

    def refresh(self, min_interval_s: float = 0.0) -> None:
        """Notice files added, removed or replaced in the models directory since the last look.

        A removed file's model becomes unavailable. A replaced file is reloaded; if the new file
        is broken, the previous good session keeps serving and the model reports why."""
        if time.monotonic() - self._scanned < min_interval_s:
            return
        with self._check_lock:
            self._scanned = time.monotonic()
            self._dir_sig = signature(self.settings.models_dir)
            present = {p.stem: p for p in self._foreign_files()}
            for name, path in present.items():
                if name not in self.sources:
                    self.sources[name] = FileSource(path, self.settings)
            for name in list(self.sources):
                self.check(name)

    def check(self, name: str) -> None:
        """Compare one model's file with what was loaded; reload, or mark it unavailable."""
        if signature(self.sources[name].path) == self.sources[name].signature:
            return
        with self._check_lock:
            src = self.sources[name]
            sig = signature(src.path)
            if sig == src.signature:
                return
            if isinstance(src, BuiltinSource):  # rebuilt or re-imported: read its card again, load lazily
                self._drop(name)
                self.sources[name] = BuiltinSource(name, self.settings)
                return
            if sig is None:
                self._drop(name)
                src.signature = None
                src.info.status, src.info.error = "error", f"{src.path.name} was deleted"
                return
            fresh = FileSource(src.path, self.settings)
            held = name in self._sessions
            if held and fresh.info.status != "error":
                try:
                    sess, cost = self._load(fresh.onnx_path(), fresh)
                except Exception as exc:
                    fresh.info.status, fresh.info.error = "error", f"{src.path.name}: could not load: {exc}"
                else:
                    fresh.info.status = "loaded"
                    with self._lock:  # the new version's session and info replace the old pair at once
                        self._sessions[name] = (sess, cost, fresh.info)
                        self.sources[name] = fresh
                    return
            if held and fresh.info.status == "error":  # a failed reload keeps the previous good session
                src.signature = sig
                src.info.error = f"reload failed, still serving the previous version: {fresh.info.error}"
                return
            with self._lock:
                self._sessions.pop(name, None)
                self.sources[name] = fresh

    def _drop(self, name: str) -> None:
        with self._lock:
            self._sessions.pop(name, None)

    def get(self, name: str) -> ModelSource:
        """The source of a model by name (404 otherwise). A file added to or restored in the models
        directory is noticed here, by the directory's modification time, without a listing first."""
        key = nets.canonical(name)
        if key not in self.sources and signature(self.settings.models_dir) != self._dir_sig:
            self.refresh()
        src = self.sources.get(key)
        if src is None:  # names are case-insensitive: VGG16-3 is vgg16-3
            folded = nets.canonical(name.lower())
            src = next((s for k, s in self.sources.items() if k.lower() == folded), None)
        if src is None:
            raise not_found(f"no model named {name[:100]!r}; GET /api/models lists the {len(self.sources)} "
                            f"models available")
        return src

    def changed(self, name: str) -> bool:
        """Whether the model's file differs from what was read (a stat; the reload is current()'s)."""
        src = self.get(name)
        return signature(src.path) != src.signature

    def current(self, name: str) -> ModelSource:
        """Like get(), after comparing the model's file with what was loaded (a stat): a deleted
        then restored file serves again, a replaced one is reloaded."""
        src = self.get(name)
        self.check(src.info.name)
        return self.sources[src.info.name]

    def info(self, name: str) -> ModelInfo:
        return self.get(name).info

    def closest(self, name: str, n: int = 3) -> list[str]:
        """The model names nearest to a mistyped one (for the 404 page), best first."""
        names = list(self.sources)
        return difflib.get_close_matches(name.lower()[:100], names, n=n, cutoff=0.4)

    def loaded(self) -> list[str]:
        return list(self._sessions)

    def memory_bytes(self) -> int:
        return sum(entry[1] for entry in list(self._sessions.values()))

    def cached(self, name: str) -> ort.InferenceSession | None:
        """The model's session if it is loaded and its file unchanged (cheap: no thread needed)."""
        src = self.get(name)
        entry = self._sessions.get(src.info.name)
        if entry is None or signature(src.path) != src.signature:
            return None
        with self._lock:
            if src.info.name in self._sessions:
                self._sessions.move_to_end(src.info.name)
        return entry[0]

    def session(self, name: str) -> ort.InferenceSession:
        """The model's session, created on first use (blocking: call it off the event loop)."""
        return self.session_and_info(name)[0]

    def session_and_info(self, name: str) -> tuple[ort.InferenceSession, ModelInfo]:
        """The model's session and the ModelInfo of the same version (blocking: off the event loop)."""
        src = self.current(name)
        key = src.info.name
        with self._lock:
            entry = self._sessions.get(key)
            if entry is not None:
                self._sessions.move_to_end(key)
                return entry[0], entry[2]
            mlock = self._model_locks.setdefault(key, threading.Lock())
        if src.info.status == "error":
            raise AppError(503, "model_unavailable", f"model {key!r} is unavailable: {src.info.error}")
        with mlock:
            with self._lock:
                entry = self._sessions.get(key)
                if entry is not None:
                    return entry[0], entry[2]
            t0 = time.perf_counter()
            try:
                sess, cost = self._load(src.onnx_path(), src)
            except AppError:
                raise
            except Exception as exc:
                src.info.status, src.info.error = "error", f"{key}: could not load: {exc}"
                log.warning("model %s failed to load: %s", key, exc)
                raise AppError(503, "model_unavailable", f"model {key!r} is unavailable: {exc}") from exc
            with self._lock:
                if self.sources.get(key) is not src:  # replaced while loading: serve, but do not cache
                    return sess, src.info
                self._sessions[key] = (sess, cost, src.info)
                src.info.status = "loaded"
                self._evict(keep=key)
            log.info("loaded %s in %.2fs (~%d MB)", key, time.perf_counter() - t0, cost >> 20)
            return sess, src.info

    def _load(self, path: Path, src: ModelSource | None = None) -> tuple[ort.InferenceSession, int]:
        """A new session and its cost: the measured growth of the process (at least the weights on
        disk) plus the memory its runs take (estimated from the graph: the cache bound counts both).
        Foreign files run without onnxruntime's memory arena, so a run's memory goes back after it."""
        foreign = src is not None and src.info.source == "file"
        rss0 = rss_bytes()
        sess = ort.InferenceSession(str(path), session_options(self.settings.intra_op_threads, arena=not foreign),
                                    providers=providers(self.settings.provider))
        runs = src.info.run_bytes if src is not None else 0
        return sess, max(rss_bytes() - rss0, file_bytes(path)) + runs + (8 << 20)

    def _evict(self, keep: str) -> None:
        limit = self.settings.cache_mb << 20
        while self.memory_bytes() > limit and len(self._sessions) > 1:
            old = next(iter(self._sessions))
            if old == keep:
                self._sessions.move_to_end(old)
                old = next(iter(self._sessions))
            self._sessions.pop(old)
            self.sources[old].info.status = "available"
            log.info("evicted %s from the session cache", old)
