"""Every built-in model: the ONNX graph passes the checker, onnxruntime's actual shapes equal the
layer table, and every layer agrees with the PyTorch reference of the same definition (1e-4)."""

from __future__ import annotations

import gc

import numpy as np
import onnxruntime as ort
import pytest

from app import nets
from app.analysis import analyse
from app.backends.onnx_build import PROB, build, pre_lrn, read_metadata
from app.nets.spec import LRN
from app.weights.init import he_init
from tests.helpers.gradcam_ref import busy_weights

pytestmark = pytest.mark.slow  # ~2 min: every model built and run twice
torch = pytest.importorskip("torch")
from app.backends.torch_ref import NetModule  # noqa: E402


@pytest.mark.parametrize("name", nets.BUILTIN_NAMES)
def test_onnx_matches_pytorch_and_the_layer_table(name: str) -> None:
    torch.set_num_threads(2)
    net = nets.get(name)
    weights = busy_weights(net, seed=7)
    model = build(net, weights)
    meta = read_metadata(model)
    assert meta and meta["name"] == name and len(meta["layers"]) == len(net.stages)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    del model
    batch = 2
    x = np.random.default_rng(0).standard_normal((batch, *net.input_shape), dtype=np.float32)
    names = [o.name for o in sess.get_outputs()]
    outs = dict(zip(names, sess.run(names, {"input": x}), strict=True))
    del sess
    table = analyse(net)
    n = len(table) + 1
    assert names[:n] == [layer.name for layer in table] + [PROB]
    assert names[n:] == [pre_lrn(s.name) for s in net.stages if any(isinstance(o, LRN) for o in s.ops[1:])]
    for layer in table:  # reported shape == the shape onnxruntime produced
        assert list(outs[layer.name].shape) == [batch, *layer.output_shape], layer.name
    np.testing.assert_allclose(outs[PROB].sum(1), 1.0, rtol=1e-5)

    ref = NetModule(net).load_weights(weights).eval()
    with torch.inference_mode():
        expected = ref.forward_all(torch.from_numpy(x))
    for layer in table:
        e = expected[layer.name].numpy()
        scale = max(1.0, float(np.abs(e).max()))
        err = float(np.abs(outs[layer.name] - e).max())
        assert err <= 1e-4 * scale, f"{name}/{layer.name}: max abs diff {err:.3g} at magnitude {scale:.3g}"
        assert np.isfinite(outs[layer.name]).all()
    del ref, expected, outs, weights
    gc.collect()


def test_untrained_activations_stay_readable_at_every_depth() -> None:
    net = nets.get("resnet152")
    sess = ort.InferenceSession(build(net, he_init(net, 0)).SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
    names = [o.name for o in sess.get_outputs()]
    for n, a in zip(names, sess.run(names, {"input": x}), strict=True):
        assert np.isfinite(a).all() and 1e-3 < np.abs(a).max() < 1e3, (n, float(np.abs(a).max()))
