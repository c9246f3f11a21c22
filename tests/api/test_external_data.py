"""Issue 12 item 10: external data is checked wherever a tensor appears (initializers, Constant
nodes, other attributes, subgraphs), resolved against the model's folder, before it is listed."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from onnx import TensorProto, helper, numpy_helper

from app.config import Settings
from app.web.app import create_app
from tests.helpers.hostile_models import conv_classifier


def _external(name: str, location: str, n: int = 10) -> onnx.TensorProto:
    t = numpy_helper.from_array(np.zeros(n, np.float32), name)
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(4 * n))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def _with_constant(path, tensor: onnx.TensorProto, in_subgraph: bool = False) -> None:
    """Adds `extra = Constant(tensor)` (or the same inside an If's branches) feeding nothing useful."""
    m = onnx.load(str(path))
    const = helper.make_node("Constant", [], ["extra"], value=tensor)
    if in_subgraph:
        out = helper.make_tensor_value_info("extra", TensorProto.FLOAT, [10])
        branch = helper.make_graph([const], "branch", [], [out])
        m.graph.initializer.append(numpy_helper.from_array(np.array(True), "cond"))
        m.graph.node.append(helper.make_node("If", ["cond"], ["extra_if"], then_branch=branch, else_branch=branch))
        m.graph.output.append(helper.make_tensor_value_info("extra_if", TensorProto.FLOAT, [10]))
    else:
        m.graph.node.append(const)
        m.graph.output.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [10]))
    onnx.save(m, str(path))


@pytest.mark.parametrize(("case", "expect"), [
    ("constant-via-symlink", "is a symlink"),
    ("constant-dotdot", "must be a plain relative path"),
    ("constant-absolute", "must be a plain relative path"),
    ("subgraph-constant-via-symlink", "is a symlink"),
    ("constant-missing", "is missing"),
    ("constant-in-linked-dir", "is a symlink"),
])
def test_external_data_anywhere_is_checked_before_listing(tmp_path, case: str, expect: str) -> None:
    d, outside = tmp_path / "models", tmp_path / "outside"
    d.mkdir()
    outside.mkdir()
    secret = outside / "secret.bin"
    secret.write_bytes(b"s" * 40)
    (d / "link.bin").symlink_to(secret)
    (d / "linked").symlink_to(outside, target_is_directory=True)
    path = conv_classifier(d / "evil.onnx")
    location = {"constant-dotdot": "../outside/secret.bin", "constant-absolute": str(secret),
                "constant-missing": "nothere.bin", "constant-in-linked-dir": "linked/secret.bin"}.get(case, "link.bin")
    _with_constant(path, _external("c", location), in_subgraph=case.startswith("subgraph"))
    with TestClient(create_app(Settings.from_env(models_dir=d)), raise_server_exceptions=False) as c:
        info = {m["name"]: m for m in c.get("/api/models").json()}["evil"]
        assert info["status"] == "error", info
        assert expect in info["error"] and "Constant" in info["error"], info["error"]
        r = c.post("/predict", data={"model": "evil"}, files={"image": ("x.png", b"\x89PNG")})
        assert r.status_code == 503


def test_external_data_inside_the_folder_is_accepted(tmp_path) -> None:
    d = tmp_path / "models"
    d.mkdir()
    (d / "ok.bin").write_bytes(np.zeros(10, np.float32).tobytes())
    path = conv_classifier(d / "fine.onnx")
    _with_constant(path, _external("c", "ok.bin"))
    with TestClient(create_app(Settings.from_env(models_dir=d)), raise_server_exceptions=False) as c:
        info = {m["name"]: m for m in c.get("/api/models").json()}["fine"]
        assert info["status"] == "available", info["error"]
