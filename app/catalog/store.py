"""Model files on disk, read back: cards, what weights a built file holds, a file's signature,
building a built-in's file (written atomically by app.backends.onnx_write), and the safety checks a
foreign file passes before it is read (symlinks, non-regular files, external data outside the folder,
input sizes)."""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnx

from app import nets
from app.backends.onnx_build import read_metadata
from app.backends.onnx_write import card_path, write_model
from app.weights.init import HeWeights

log = logging.getLogger("convscope")

WEIGHT_KINDS = ("trained", "imported", "untrained")
KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
         (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def check_link(path: Path) -> None:
    """Refuse a file that is a symlink out of its folder (ValueError naming where it points)."""
    folder = path.parent.resolve()
    if path.is_symlink() and folder not in path.resolve().parents:
        raise ValueError(f"{path.name} is a symlink to {path.resolve()}, outside the models directory")


def read_regular(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file. Opened without blocking and looked at before reading, so a FIFO,
    device, socket or directory under the name is refused instead of waited on (ValueError saying what it
    is); so is an unreadable file, and a file over ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = next((name for test, name in KINDS if test(st.st_mode)), "a special file")
            raise ValueError(f"not a regular file but {what}; refused")
        if limit is not None and st.st_size > limit:
            raise ValueError(f"too big: {st.st_size:,} bytes; the limit is {limit:,} bytes")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read() if limit is None else f.read(limit + 1)
        except OSError as exc:
            raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    if limit is not None and len(data) > limit:  # grew after the look
        raise ValueError(f"too big: over {limit:,} bytes, the limit")
    return data


def is_regular(path: Path) -> bool:
    """Whether ``path`` (followed through symlinks) is a regular file; False when it is missing."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def read_card(models_dir: Path, name: str, weights: str) -> dict[str, Any]:
    """A built-in model's card, or {} when there is none, it is unreadable, or it describes other
    weights than the file holds (e.g. imported, then rebuilt untrained): a card may outlive its weights."""
    cp = card_path(models_dir, name)
    if not is_regular(models_dir / f"{name}.onnx") or not cp.exists():
        return {}
    try:
        check_link(cp)
        card = json.loads(read_regular(cp, 1 << 20))
    except (ValueError, RecursionError) as exc:
        log.warning("ignoring unreadable model card %s: %s", cp, exc)
        return {}
    if not isinstance(card, dict):
        log.warning("ignoring model card %s: it is a JSON %s, not an object", cp, type(card).__name__)
        return {}
    if card and card.get("weights") != weights:
        log.warning("ignoring %s: it describes %s weights but %s.onnx holds %s weights",
                    cp.name, card.get("weights"), name, weights)
        return {}
    return card


def built_weights(path: Path) -> str:
    """What the weights of a built-in model's file are, read from the file's own convscope metadata
    (written by app.backends.onnx_build): "trained", "imported" or "untrained". A file not built yet will be
    built with seeded random weights, so "untrained"; "file" only for a file convscope did not write.
    A model card never decides this: a card may outlive the weights it described."""
    if not path.exists():
        return "untrained"
    try:
        meta = read_metadata(onnx.load_model_from_string(read_regular(path))) or {}
    except Exception as exc:  # unreadable here; loading it later reports the error
        log.warning("could not read the metadata of %s: %s", path.name, exc)
        return "file"
    weights = meta.get("weights") if isinstance(meta, dict) else None
    return weights if weights in WEIGHT_KINDS else "file"


def write_builtin(name: str, models_dir: Path, seed: int = 0) -> Path:
    """Build a built-in model with seeded untrained weights, its weights as external data
    (NAME.onnx.data beside NAME.onnx), and write both atomically."""
    net = nets.get(name)
    return write_model(net, HeWeights(net, seed), models_dir, "untrained", {"seed": seed})


def signature(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of a file, or None when it is gone: how a change on disk is noticed."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def check_input_size(shape: list[int | None], limit: int) -> None:
    """Refuse a model whose declared input (C, H, W) holds more than ``limit`` values: its input
    tensor alone, and every activation after it, would be sized by that declaration; and one whose
    channels are neither 1 (gray) nor 3 (RGB), the images convscope can feed."""
    bad = next((d for d in shape if d is not None and d <= 0), None)
    if bad is not None:
        raise ValueError(f"the model declares an input dimension of {bad} ({shape}); every dimension must be positive")
    if shape and shape[0] not in (None, 1, 3):
        raise ValueError(f"the model takes {shape[0]} input channels; convscope feeds images of 1 (gray) or 3 (RGB)")
    n = math.prod(d or 1 for d in shape)
    if n > limit:
        raise ValueError(f"the model declares an input of {shape} = {n:,} values; the limit is {limit:,} "
                         "(CONVSCOPE_MAX_INPUT_ELEMENTS)")


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
    check_link(path)
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

