"""The 1998 LeNet-5 (`lenet5-1998`): C3's connection table against the paper's Table I, parameter counts
against ARCHITECTURES.md, and every layer of the ONNX graph recomputed in numpy from the paper's formulas."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from app import nets
from app.analysis import analyse, totals
from app.backends.onnx_build import build
from app.nets.lenet import c3_table, rbf_codes
from app.nets.spec import PartialConv
from app.weights.init import he_init

# Table I of LeCun et al. (1998), transcribed: rows are S2 maps 0-5, columns C3 maps 0-15, X = connected.
TABLE_I = """
X...XXX..XXXX.XX
XX...XXX..XXXX.X
XXX...XXX..X.XXX
.XXX..XXXX..X.XX
..XXX..XXXX.XX.X
...XXX..XXXX.XXX
"""
# ../shared/ARCHITECTURES.md, "LeNet-5 as published in 1998"
PARAMS = {"C1": 156, "S2": 12, "C3": 1_516, "S4": 32, "C5": 48_120, "F6": 10_164, "output": 0}


def test_c3_connection_table_is_the_papers_table_one() -> None:
    grid = [row for row in TABLE_I.split() if row]
    paper = tuple(tuple(i for i in range(6) if grid[i][j] == "X") for j in range(16))
    assert c3_table() == paper
    assert sum(len(t) for t in paper) == 60
    c3 = next(op for op in nets.get("lenet5-1998").stages[2].ops if isinstance(op, PartialConv))
    assert c3.table == paper and c3.connections == 60


def test_parameter_counts_layer_by_layer_and_60000() -> None:
    layers = analyse(nets.get("lenet5-1998"))
    assert {layer.name: layer.params for layer in layers} == PARAMS
    assert totals(layers)["params"] == 60_000 == sum(PARAMS.values())
    assert {layer.name: layer.output_shape for layer in layers} == {
        "C1": [6, 28, 28], "S2": [6, 14, 14], "C3": [16, 10, 10], "S4": [16, 5, 5], "C5": [120, 1, 1],
        "F6": [84], "output": [10]}
    # the weights the graph needs hold exactly those 60,000 numbers; the 840 RBF code values are not weights
    w = he_init(nets.get("lenet5-1998"))
    assert sum(v.size for v in w.values()) == 60_000
    assert w["C3.0.weight"].shape == (60, 5, 5) and w["S2.0.coef"].shape == (6,)


def test_receptive_fields_and_connections() -> None:
    layers = analyse(nets.get("lenet5-1998"))
    assert {la.name: la.receptive_field["size"] for la in layers if la.receptive_field} == {
        "C1": 5, "S2": 6, "C3": 14, "S4": 16, "C5": 32}
    # the paper's connection counts (its section II-B) are MACs plus one bias term per output value
    conns = {la.name: la.macs + (la.output_shape[0] * int(np.prod(la.output_shape[1:])) if la.name != "output"
                                 else 0) for la in layers}
    assert conns["C1"] == 122_304 and conns["C3"] == 151_600 and conns["S2"] == 5_880 and conns["S4"] == 2_000


def test_rbf_codes_are_7x12_bitmaps_of_plus_minus_one() -> None:
    codes = np.array(rbf_codes())
    assert codes.shape == (10, 84) and set(np.unique(codes)) == {-1.0, 1.0}
    hamming = (codes[:, None] != codes[None]).sum(-1)
    assert hamming[~np.eye(10, dtype=bool)].min() >= 4  # every two classes differ in some pixels (3/8: 6)
    ink = (codes > 0).sum(1)
    assert ink.min() >= 14 and ink.max() <= 40  # strokes, not blobs or blanks


def _squash(a: np.ndarray) -> np.ndarray:
    return 1.7159 * np.tanh(2 * a / 3)


def test_onnx_graph_computes_the_papers_formulas() -> None:
    """Each layer recomputed in numpy from the previous layer's ONNX output, from the paper's definitions."""
    net = nets.get("lenet5-1998")
    rng = np.random.default_rng(3)
    w = {k: (v + rng.normal(0, 0.1, v.shape)).astype(np.float32) for k, v in he_init(net, 1).items()}
    sess = ort.InferenceSession(build(net, w).SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.standard_normal((2, 1, 32, 32)).astype(np.float32)
    names = [o.name for o in sess.get_outputs()]
    out = dict(zip(names, sess.run(names, {"input": x}), strict=True))
    assert 1.7159 * np.tanh(2 / 3) == pytest.approx(1.0, abs=1e-4)  # f(1) = 1, the paper's choice of A and S

    def conv(inp: np.ndarray, kern: np.ndarray) -> np.ndarray:  # valid 2-D correlation, one map
        k = kern.shape[0]
        h = inp.shape[-1] - k + 1
        return np.array([[np.sum(inp[..., i:i + k, j:j + k] * kern, axis=(-2, -1)) for j in range(h)]
                         for i in range(h)]).transpose(2, 0, 1)

    c1 = np.stack([conv(x[:, 0], w["C1.0.weight"][m, 0]) + w["C1.0.bias"][m] for m in range(6)], 1)
    np.testing.assert_allclose(out["C1"], _squash(c1), atol=1e-4)

    def subsample(a: np.ndarray, key: str) -> np.ndarray:
        n, c, h, _ = a.shape
        s = a.reshape(n, c, h // 2, 2, h // 2, 2).sum((3, 5))
        return _squash(s * w[f"{key}.coef"][:, None, None] + w[f"{key}.bias"][:, None, None])

    np.testing.assert_allclose(out["S2"], subsample(out["C1"], "S2.0"), atol=1e-4)
    kernels = iter(w["C3.0.weight"])
    c3 = np.stack([sum(conv(out["S2"][:, i], next(kernels)) for i in t) + w["C3.0.bias"][j]
                   for j, t in enumerate(c3_table())], 1)
    np.testing.assert_allclose(out["C3"], _squash(c3), atol=1e-4)
    np.testing.assert_allclose(out["S4"], subsample(out["C3"], "S4.0"), atol=1e-4)
    c5 = out["S4"].reshape(2, -1) @ w["C5.0.weight"].reshape(120, -1).T + w["C5.0.bias"]
    np.testing.assert_allclose(out["C5"][:, :, 0, 0], _squash(c5), atol=1e-4)
    f6 = _squash(out["C5"].reshape(2, -1) @ w["F6.0.weight"].T + w["F6.0.bias"])
    np.testing.assert_allclose(out["F6"], f6, atol=1e-4)
    dist = ((out["F6"][:, None, :] - np.array(rbf_codes())[None]) ** 2).sum(-1)
    np.testing.assert_allclose(out["output"], -dist, rtol=1e-5, atol=1e-3)
    # the prediction is the nearest code; the softmax is exp(-y_i) / sum_k exp(-y_k)
    assert (out["prob"].argmax(1) == dist.argmin(1)).all()
    e = np.exp(-(dist - dist.min(1, keepdims=True)))
    np.testing.assert_allclose(out["prob"], e / e.sum(1, keepdims=True), atol=1e-5)


def test_compare_page_sets_1998_beside_today(client) -> None:
    html = client.get("/compare").text
    assert 'id="lenet-history"' in html
    for name in ("C1", "S2", "C3", "S4", "C5", "F6", "output"):
        assert f'data-layer="{name}"' in html
    assert "60,000" in html and "61,706" in html  # the two totals, summed from the analysis
    assert "Table I" in html and "max pooling" in html and "Euclidean RBF" in html


def test_explorer_and_gallery_show_lenet5_1998(client) -> None:
    assert "lenet5-1998" in client.get("/").text
    page = client.get("/models/lenet5-1998")
    assert page.status_code == 200 and "Subsample" in page.text
    detail = client.get("/api/models/lenet5-1998").json()
    assert detail["params"] == 60_000 and [la["op"] for la in detail["layers"]] == [
        "Conv", "Subsample", "PartialConv", "Subsample", "Conv", "Gemm", "RBF"]
