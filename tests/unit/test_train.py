"""Training's pieces without training: the elastic field, the two augmentation strengths, the serif flags
added to MNIST 1s, and reading a trained file's weights back for stage 2."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from tests.conftest import ROOT

torch = pytest.importorskip("torch")

from app import nets  # noqa: E402
from app.train import FULL_AUG, LIGHT_AUG, augment, elastic_field, flag_ones, load_onnx_weights  # noqa: E402


def test_elastic_field_scales_with_alpha() -> None:
    g = torch.Generator().manual_seed(0)
    f = elastic_field(64, 28, 28, g, alpha=torch.tensor([0.0] * 32 + [34.0] * 32))
    assert f.shape == (64, 28, 28, 2)
    assert float(f[:32].abs().max()) == 0.0
    rms = float(f[32:].pow(2).mean().sqrt())
    assert 0.5 < rms < 3.0, rms  # Simard's sigma 4, alpha 34: displacements of a pixel or two


def test_light_augmentation_moves_digits_less() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(256, 1, 28, 28)
    x[:, :, 6:22, 12:16] = 1.0  # a bar

    def moved(spec: dict[str, float]) -> float:
        return float((augment(x, g, spec=spec) - x).abs().mean())

    assert moved(LIGHT_AUG) < moved(FULL_AUG)
    still = dict(FULL_AUG, rotate=0.0, scale=0.0, shear=0.0, shift=0.0, elastic_p=0.0)
    y = augment(x, g, spec=still)
    assert float((y - x).abs().max()) <= 1.0 and float((y > 0.5).float().sum()) > 0  # only pen width changes


def test_flags_go_on_ones_only_top_left_of_the_stroke() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(40, 1, 28, 28)
    x[:, :, 4:24, 13:15] = 1.0  # a plain vertical 1, top at row 4, columns 13-14
    y = torch.tensor([1] * 20 + [7] * 20)
    out = flag_ones(x, y, g, p=1.0)
    added = out - x
    assert float(added[20:].abs().max()) == 0.0  # not a 1: untouched
    assert float(added.min()) >= 0.0  # ink is only added
    for i in range(20):
        rows, cols = (added[i, 0] > 0.3).nonzero(as_tuple=True)
        assert len(rows), i
        assert int(rows.max()) <= 4 + 8 and int(rows.min()) >= 3  # from the top down, at most 8 px
        assert int(cols.max()) <= 14 and int(cols.min()) >= 13 - 8  # to the left
    assert float(flag_ones(x, y, g, p=0.0).sub(x).abs().max()) == 0.0


def test_stage2_reads_the_trained_weights_back() -> None:
    from app.backends.torch_ref import NetModule

    path = ROOT / "models" / "lenet5.onnx"
    m = NetModule(nets.get("lenet5")).load_weights(load_onnx_weights(path)).eval()
    x = np.random.default_rng(0).normal(size=(4, 1, 32, 32)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    prob = sess.run(["prob"], {"input": x})[0]
    with torch.no_grad():
        ours = torch.softmax(m(torch.from_numpy(x)), 1).numpy()
    assert np.allclose(prob, ours, atol=1e-5)


def test_stage2_reads_the_1998_weights_back_from_the_built_constants(tmp_path) -> None:
    """The builder turns S2/S4's coefficients and C3's 60 kernels into constants; they come back exactly."""
    import onnx

    from app.backends.onnx_build import build
    from app.backends.torch_ref import NetModule
    from app.train import init_weights

    net = nets.get("lenet5-1998")
    m = NetModule(net)
    init_weights(m, "lenet5-1998")
    w = m.export_weights()
    onnx.save(build(net, w, "trained"), str(tmp_path / "x.onnx"))
    back = load_onnx_weights(tmp_path / "x.onnx", "lenet5-1998")
    assert sorted(back) == sorted(w) and {"S2.0.coef", "C3.0.weight"} <= set(back)
    assert all(np.array_equal(back[k], w[k]) for k in w)


@pytest.mark.parametrize("name", ["lenet5", "lenet5-1998"])
def test_the_card_says_what_the_recipe_does(name: str) -> None:
    """The card's words come from the recipe's numbers: a card built now says what the committed card (and, for
    a stage-2 model, its stage 1) says about data, recipe, augmentation and input, key for key, in order."""
    import json

    from app.train.card import card
    from app.train.recipe import recipe

    committed = json.loads((ROOT / "models" / f"{name}.card.json").read_text())
    stages = [(committed, "stage1" in committed)] + ([(committed["stage1"], False)] if "stage1" in committed else [])
    ds = {"train": (None, np.zeros(50_000)), "valid": (None, np.zeros(10_000)), "test": (None, np.zeros(10_000)),
          "sha256": committed["data_sha256"]}
    extra = {k: committed[k] for k in ("test_accuracy_without_ema",) if k in committed}
    built = card(name, recipe(name, stage2=stages[0][1]), ds, committed["epochs"], committed["batch"],
                 committed["seed"], committed["test_accuracy"], committed["train_seconds"], committed["torch"],
                 None, extra)
    assert list(built.items()) == [(k, v) for k, v in committed.items() if k in built]
    for said, stage2 in stages:
        rc = recipe(name, stage2)
        assert (rc.optimizer, rc.augmentation) == (said["optimizer"], said["augmentation"])
