"""Inside one unit (issue 16): receptive-field boxes against hand computation, one activation's arithmetic
against a separate onnxruntime run, kernels against the ONNX initializers, dataset examples against PyTorch."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from app.backends.onnx_inspect import expose
from app.serving import preprocess as pre
from tests.helpers.drawn_digits import render

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "static" / "samples" / "chelsea.jpg"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("unit-models")
    for f in ("lenet5.onnx", "lenet5.card.json", "lenet5-1998.onnx", "lenet5-1998.card.json"):
        shutil.copy(ROOT / "models" / f, d / f)
    return d


@pytest.fixture(scope="module")
def api(models: Path) -> Iterator:
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.web.app import create_app

    with TestClient(create_app(Settings.from_env(models_dir=models)), raise_server_exceptions=False) as c:
        yield c


def _digit() -> list[list[float]]:
    return pre.mnistify(render(3)).tolist()


def _photo() -> str:
    return "data:image/jpeg;base64," + base64.b64encode(SAMPLE.read_bytes()).decode()


def _session(path: Path, extra: list[str] = ()) -> ort.InferenceSession:  # type: ignore[assignment]
    m = onnx.load(str(path))
    if extra:
        m = expose(m, list(extra))
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


# ---- receptive fields: top = start + Y*jump - size/2, by hand for each layer

HAND = {  # (model, layer, y, x) -> [top, left, bottom, right], worked out on paper from k/s/p of each layer
    ("lenet5", "C1", 0, 0): [0, 0, 4, 4], ("lenet5", "C1", 27, 27): [27, 27, 31, 31],
    ("lenet5", "C1", 14, 3): [14, 3, 18, 7],
    ("lenet5", "S2", 0, 0): [0, 0, 5, 5], ("lenet5", "S2", 13, 13): [26, 26, 31, 31],
    ("lenet5", "S2", 7, 7): [14, 14, 19, 19],
    ("lenet5", "C3", 0, 0): [0, 0, 13, 13], ("lenet5", "C3", 9, 9): [18, 18, 31, 31],
    ("lenet5", "C3", 5, 2): [10, 4, 23, 17],
    ("lenet5", "S4", 0, 0): [0, 0, 15, 15], ("lenet5", "S4", 4, 4): [16, 16, 31, 31],
    ("lenet5", "S4", 2, 2): [8, 8, 23, 23],
    ("lenet5", "C5", 0, 0): [0, 0, 31, 31],
    # VGG16: conv5_3 size 196, jump 16, start 8; pool5 size 212, jump 32, start 16
    ("vgg16", "conv5_3", 0, 0): [-90, -90, 105, 105], ("vgg16", "conv5_3", 13, 13): [118, 118, 313, 313],
    ("vgg16", "conv5_3", 7, 7): [22, 22, 217, 217], ("vgg16", "conv5_3", 0, 13): [-90, 118, 105, 313],
    ("vgg16", "pool5", 0, 0): [-90, -90, 121, 121], ("vgg16", "pool5", 6, 6): [102, 102, 313, 313],
    ("vgg16", "pool5", 3, 3): [6, 6, 217, 217],
    # ResNet-18, the longest path (every 3x3 of the main branch, never the 1x1 shortcut): conv1 7/2 pad 3 gives
    # size 7, jump 2, start 0.5; pool1 3/2 pad 1 -> 11, 4; each 3x3 adds 2 jumps: layer1.1 43, layer4.1 435, jump 32
    ("resnet18", "conv1", 0, 0): [-3, -3, 3, 3], ("resnet18", "pool1", 0, 0): [-5, -5, 5, 5],
    ("resnet18", "layer1.1", 55, 55): [199, 199, 241, 241],
    ("resnet18", "layer4.1", 0, 0): [-217, -217, 217, 217], ("resnet18", "layer4.1", 6, 6): [-25, -25, 409, 409],
    ("resnet18", "layer4.1", 3, 3): [-121, -121, 313, 313],
}
SIZES = {"C1": 5, "S2": 6, "C3": 14, "S4": 16, "C5": 32, "conv5_3": 196, "pool5": 212,
         "conv1": 7, "pool1": 11, "layer1.1": 43, "layer4.1": 435}


@pytest.mark.parametrize(("key", "box"), list(HAND.items()), ids=lambda v: str(v))
def test_rf_box_equals_hand_computation(api, key: tuple, box: list[int]) -> None:
    model, layer, y, x = key
    r = api.get(f"/api/models/{model}/rf", params={"layer": layer, "y": y, "x": x})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["box"] == box and d["size"] == SIZES[layer]
    assert d["box"][2] - d["box"][0] + 1 == d["size"]


@pytest.mark.parametrize(("params", "fragment"), [
    ({"layer": "C9", "y": 0, "x": 0}, "its layers: C1, S2, C3, S4, C5, F6, output"),
    ({"layer": "C3", "y": 10, "x": 0}, "y=10 is outside 0..9"),
    ({"layer": "C3", "y": 0, "x": -1}, "x=-1 is outside 0..9"),
    ({"layer": "F6", "y": 0, "x": 0}, "layers with one: C1, S2, C3, S4, C5"),
])
def test_rf_bad_requests_say_the_valid_range(api, params: dict, fragment: str) -> None:
    r = api.get("/api/models/lenet5/rf", params=params)
    assert r.status_code == 422 and fragment in r.json()["error"]["message"]


# ---- one activation's arithmetic

def _check_conv(d: dict) -> None:
    """Internal consistency: products, sum, bias, pre-activation, ReLU."""
    patch, kernel = np.array(d["patch"]), np.array(d["kernel"])
    assert patch.shape == kernel.shape == np.array(d["products"]).shape
    assert np.allclose(np.array(d["products"]), patch * kernel, rtol=1e-6, atol=1e-7)
    assert d["sum"] == pytest.approx(float((patch * kernel).sum()), abs=1e-4)
    assert sum(p["sum"] for p in d["partial_sums"]) == pytest.approx(d["sum"], abs=1e-5)
    mags = [abs(p["sum"]) for p in d["partial_sums"]]
    assert mags == sorted(mags, reverse=True) and len(mags) == patch.shape[0]
    assert d["pre_activation"] == pytest.approx(d["sum"] + d["bias"], abs=1e-9)
    assert d["value"] == pytest.approx(max(d["pre_activation"], 0.0), abs=1e-4)


def _unit(api, model: str, body: dict, layer: str, channel: int, y: int, x: int) -> dict:
    r = api.post(f"/api/models/{model}/unit", json={**body, "layer": layer, "channel": channel, "y": y, "x": x})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("layer", ["C1", "C3"])
def test_lenet_unit_matches_onnxruntime(api, models: Path, layer: str) -> None:
    pixels = _digit()
    x = pre.digit_tensor(np.array(pixels, np.float32))
    sess = _session(models / "lenet5.onnx")
    want = dict(zip(["S2", layer], sess.run(["S2", layer], {"input": x}), strict=True))
    c_out, h, _ = want[layer][0].shape
    for c, y, xx in [(0, 0, 0), (c_out - 1, h - 1, h - 1), (c_out // 2, h // 2, h // 3)]:
        d = _unit(api, "lenet5", {"pixels": pixels}, layer, c, y, xx)
        _check_conv(d)
        assert d["value"] == pytest.approx(float(want[layer][0, c, y, xx]), abs=1e-4)
        src = x[0] if layer == "C1" else want["S2"][0]
        assert d["reads"] == ("input" if layer == "C1" else "S2")
        assert np.array_equal(np.array(d["patch"], np.float32), src[:, y:y + 5, xx:xx + 5])
    assert d["rf"]["box"] == ([h // 2, h // 3, h // 2 + 4, h // 3 + 4] if layer == "C1" else [10, 6, 23, 19])


@pytest.mark.parametrize("layer", ["C1", "S2", "C3", "S4", "C5"])
def test_lenet1998_unit_follows_its_squashing(api, layer: str) -> None:
    """The 1998 net's layers end in 1.7159·tanh(2a/3) (× constant, tanh, × constant in its graph): the
    panel's steps reproduce onnxruntime's output from the pre-activation; C3 reads Table I's maps only."""
    from app.nets.lenet import c3_table

    yx = 0 if layer == "C5" else 1  # C5 is 120x1x1
    d = _unit(api, "lenet5-1998", {"pixels": _digit()}, layer, 3, yx, yx)
    patch, kernel = np.array(d["patch"]), np.array(d["kernel"])
    assert np.allclose(np.array(d["products"]), patch * kernel, rtol=1e-6, atol=1e-7)
    assert d["pre_activation"] == pytest.approx(d["sum"] + d["bias"], abs=1e-9)
    assert [s["op"] for s in d["steps"]] == ["Mul", "Tanh", "Mul"]
    assert [s["factor"] for s in d["steps"] if s["op"] == "Mul"] == pytest.approx([2 / 3, 1.7159], abs=1e-6)
    v = d["pre_activation"]
    for s in d["steps"]:
        v = v * s["factor"] if s["op"] == "Mul" else float(np.tanh(v))
        assert s["value"] == pytest.approx(v, abs=1e-5)
    assert d["value"] == d["output"] and v == pytest.approx(d["output"], abs=1e-5)
    if layer == "C3":  # map 3 sees S2 maps (3, 4, 5): the others' kernel slices are zero
        seen = c3_table()[3]
        assert [bool(np.any(kernel[i])) for i in range(6)] == [i in seen for i in range(6)]
    k = api.get("/api/models/lenet5-1998/kernels", params={"layer": layer})
    assert k.status_code == 200, k.text


def _relu_tensor(path: Path, stage: str) -> str:
    m = onnx.load(str(path), load_external_data=False)
    return next(n.output[0] for n in m.graph.node if n.name.startswith(f"{stage}/Relu"))


@pytest.mark.parametrize(("layer", "channel", "groups", "reads"), [
    ("conv1", 5, 1, [0, 3]), ("conv2", 200, 2, [48, 96]), ("conv2", 3, 2, [0, 48])])
def test_alexnet_unit_matches_onnxruntime(api, models: Path, layer: str, channel: int, groups: int,
                                          reads: list[int]) -> None:
    d = _unit(api, "alexnet", {"image": _photo()}, layer, channel, 10, 20)
    path = models / "alexnet.onnx"
    relu = _relu_tensor(path, layer)
    out = _session(path, [relu]).run([relu, layer], {"input": _photo_tensor(path)})
    _check_conv(d)
    assert d["groups"] == groups and d["reads_channels"] == reads
    assert np.array(d["patch"]).shape[0] == reads[1] - reads[0]
    assert d["value"] == pytest.approx(float(out[0][0, channel, 10, 20]), abs=1e-4)  # after the ReLU
    assert [s["op"] for s in d["steps"]] == ["Relu", "LRN"]
    assert d["steps"][-1]["value"] == pytest.approx(float(out[1][0, channel, 10, 20]), abs=1e-4)  # after LRN
    assert d["output"] == pytest.approx(float(out[1][0, channel, 10, 20]), abs=1e-6)


def _photo_tensor(path: Path) -> np.ndarray:
    from app.catalog.info import IMAGENET_MEAN, IMAGENET_STD

    size = 227 if path.stem == "alexnet" else 224
    img = pre.open_image(SAMPLE.read_bytes(), 1 << 24)
    return pre.photo(img, [3, size, size], IMAGENET_MEAN, IMAGENET_STD)


def test_vgg_conv3_1_partial_sums_and_value(api, models: Path) -> None:
    d = _unit(api, "vgg16", {"image": _photo()}, "conv3_1", 17, 0, 31)
    _check_conv(d)
    assert d["reads"] == "pool2" and np.array(d["patch"]).shape == (128, 3, 3)
    assert len(d["partial_sums"]) == 128
    assert d["inside"][0] == [0, 0, 0] and d["inside"][1] == [1, 1, 1]  # the top row is padding
    assert np.all(np.array(d["patch"])[:, 0, :] == 0)
    sess = _session(models / "vgg16-3.onnx")
    out = sess.run(["conv3_1"], {"input": _photo_tensor(models / "vgg16-3.onnx")})[0]
    assert d["value"] == pytest.approx(float(out[0, 17, 0, 31]), abs=1e-4)
    del sess


def test_resnet_conv1_folds_batch_norm(api, models: Path) -> None:
    d = _unit(api, "resnet18", {"image": _photo()}, "conv1", 9, 55, 0)
    _check_conv(d)
    path = models / "resnet18.onnx"
    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    bn = d["batch_norm"]
    assert bn["folded"] and "onnxruntime" in bn["note"]
    scale = inits["bn1.weight"][9] / np.sqrt(inits["bn1.running_var"][9] + np.float32(1e-5))
    assert np.allclose(np.array(d["kernel"]), inits["conv1.weight"][9] * scale, rtol=1e-6)
    assert d["bias"] == pytest.approx(float(inits["bn1.bias"][9] - inits["bn1.running_mean"][9] * scale), abs=1e-6)
    out = _session(path).run(["conv1"], {"input": _photo_tensor(path)})[0]
    assert d["value"] == pytest.approx(float(out[0, 9, 55, 0]), abs=1e-4)
    assert d["inside"][3] == [0, 0, 0, 1, 1, 1, 1]  # x=0 with padding 3: three columns outside the image


@pytest.mark.parametrize(("model", "layer", "y", "x"), [("lenet5", "S2", 6, 7), ("resnet18", "pool1", 0, 0)])
def test_max_pool_window_and_winner(api, model: str, layer: str, y: int, x: int) -> None:
    body = {"pixels": _digit()} if model == "lenet5" else {"image": _photo()}
    d = _unit(api, model, body, layer, 2, y, x)
    win = np.array([[np.nan if v is None else v for v in row] for row in d["window"]])
    i, j = d["argmax"]
    assert d["value"] == win[i, j] == np.nanmax(win)
    if model == "resnet18":  # padding 1: the top row and left column are outside the input
        assert d["window"][0] == [None, None, None] and d["window"][1][0] is None


@pytest.mark.parametrize(("model", "body", "fragment"), [
    ("lenet5", {"layer": "F6", "channel": 0, "y": 0, "x": 0}, "no spatial map"),
    ("lenet5", {"layer": "C1", "channel": 6, "y": 0, "x": 0}, "channel=6 is outside 0..5"),
    ("lenet5", {"layer": "C1", "channel": 0, "y": 28, "x": 0}, "y=28 is outside 0..27"),
    ("lenet5", {"layer": "nope", "channel": 0, "y": 0, "x": 0}, "its layers: C1"),
    ("lenet5", {"layer": "C1", "y": 0, "x": 0}, "channel"),
    ("lenet5", {"layer": "C1", "channel": True, "y": 0, "x": 0}, "channel: Value error, must be an integer, not a"),
    ("lenet5", {"layer": "C1", "channel": 0, "y": False, "x": 0}, "y: Value error, must be an integer, not a boolean"),
    ("lenet5", {"layer": "C1", "channel": 0, "y": 0, "x": True}, "x: Value error, must be an integer, not a boolean"),
    ("resnet18", {"layer": "layer1.0", "channel": 0, "y": 0, "x": 0}, "not a single convolution or max pool"),
])
def test_unit_bad_requests(api, model: str, body: dict, fragment: str) -> None:
    inp = {"pixels": _digit()} if model == "lenet5" else {"image": _photo()}
    r = api.post(f"/api/models/{model}/unit", json={**inp, **body})
    assert r.status_code == 422 and fragment in r.json()["error"]["message"], r.text


def test_unit_takes_multipart_like_predict(api) -> None:
    r = api.post("/api/models/lenet5/unit", data={"layer": "C1", "channel": "1", "y": "3", "x": "4"},
                 files={"image": ("d.png", base64.b64decode(pre.data_url(render(7)).split(",")[1]), "image/png")})
    assert r.status_code == 200, r.text
    _check_conv(r.json())


# ---- kernels: the initializer, bit for bit

@pytest.mark.parametrize(("model", "layer", "init"), [
    ("lenet5", "C1", "C1.0.weight"), ("lenet5", "C3", "C3.0.weight"), ("resnet18", "conv1", "conv1.weight"),
    ("alexnet", "conv2", "conv2.0.weight")])
def test_kernels_are_the_initializer_bit_for_bit(api, models: Path, model: str, layer: str, init: str) -> None:
    d = api.get(f"/api/models/{model}/kernels", params={"layer": layer}).json()
    path = models / f"{'vgg16-3' if model == 'vgg16' else model}.onnx"
    want = next(numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer if t.name == init)
    got = np.frombuffer(base64.b64decode(d["data"]), "<f4").reshape(d["shape"])
    assert d["shape"] == list(want.shape) and d["dtype"] == "float32"
    assert got.tobytes() == np.ascontiguousarray(want, "<f4").tobytes()
    one = api.get(f"/api/models/{model}/kernels", params={"layer": layer, "filter": 1}).json()
    assert np.frombuffer(base64.b64decode(one["data"]), "<f4").tobytes() == want[1].tobytes()
    norms = api.get(f"/api/models/{model}/kernels", params={"layer": layer, "norms_only": "true"}).json()
    assert "data" not in norms and norms["norms"] == pytest.approx(
        np.sqrt((want.astype(np.float64) ** 2).reshape(len(want), -1).sum(1)).tolist())


def test_kernels_bad_requests(api) -> None:
    r = api.get("/api/models/lenet5/kernels", params={"layer": "S2"})
    assert r.status_code == 422 and "convolution layers: C1, C3, C5" in r.json()["error"]["message"]
    r = api.get("/api/models/lenet5/kernels", params={"layer": "F6"})  # it answered with the unit panel's words
    msg = r.json()["error"]["message"]
    assert r.status_code == 422 and "F6' is a fully connected layer" in msg and "C1, C3, C5" in msg, msg
    r = api.get("/api/models/lenet5/kernels", params={"layer": "C1", "filter": 6})
    assert r.status_code == 422 and "0..5" in r.json()["error"]["message"]
    assert api.get("/api/models/nosuch/kernels", params={"layer": "C1"}).status_code == 404


# ---- dataset examples: recomputed by PyTorch from the MNIST images

def test_examples_recomputed_by_pytorch(api, models: Path) -> None:
    torch = pytest.importorskip("torch")
    from app import data, nets
    from app.backends.torch_ref import NetModule

    images, _ = data.load()["test"]
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(models / "lenet5.onnx")).graph.initializer}
    ref = NetModule(nets.get("lenet5")).load_weights(weights).eval()
    x = ((np.pad(images, ((0, 0), (2, 2), (2, 2))) - pre.MNIST_MEAN) / pre.MNIST_STD)[:, None].astype(np.float32)
    with torch.no_grad():
        outs = {k: v.numpy() for k, v in ref.forward_all(torch.from_numpy(x)).items()}
    for layer, channel in [("C1", 0), ("C1", 5), ("C3", 7), ("C5", 100)]:
        r = api.get("/api/models/lenet5/examples", params={"layer": layer, "channel": channel})
        assert r.status_code == 200, r.text
        ex = r.json()
        assert len(ex) == 9 and len({e["mnist_index"] for e in ex}) == 9
        values = [e["value"] for e in ex]
        assert values == sorted(values, reverse=True)
        per_image = outs[layer][:, channel].reshape(len(x), -1).max(axis=1)
        assert values == pytest.approx(np.sort(per_image)[::-1][:9].tolist(), abs=1e-4)  # truly the top nine
        for e in ex:
            assert outs[layer][e["mnist_index"], channel, e["y"], e["x"]] == pytest.approx(e["value"], abs=1e-4)
            assert e["crop"].startswith("data:image/png;base64,")
            size = {"C1": 5, "C3": 14, "C5": 32}[layer]
            assert e["box"][2] - e["box"][0] + 1 == size
    p = api.get("/api/models/lenet5/examples/progress").json()
    assert p["state"] == "ready" and p["compute_ms"] > 0
    assert list(models.glob("lenet5.examples-*.npz"))  # cached beside the model


def test_examples_bad_requests(api) -> None:
    r = api.get("/api/models/lenet5/examples", params={"layer": "S2", "channel": 0})
    assert r.status_code == 422 and "C1, C3, C5" in r.json()["error"]["message"]
    r = api.get("/api/models/lenet5/examples", params={"layer": "C1", "channel": 9})
    assert r.status_code == 422 and "0..5" in r.json()["error"]["message"]
    r = api.get("/api/models/resnet18/examples", params={"layer": "conv1", "channel": 0})  # seeded: no photo examples
    assert r.status_code == 422 and "random weights" in r.json()["error"]["message"]


# ---- what excites a channel of a photo model: over the bundled sample photos, trained or imported weights only

def test_photo_examples_need_trained_weights_and_match_onnxruntime(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from app import nets
    from app.backends.onnx_write import write_model
    from app.config import Settings
    from app.serving.service import Service
    from app.units.photo_examples import samples
    from app.web.app import create_app
    from app.weights.init import HeWeights

    net = nets.get("resnet18")
    write_model(net, HeWeights(net, 3), tmp_path, "imported", {"checkpoint": "x.pth"})  # as the importer writes it
    settings = Settings.from_env(models_dir=tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        r = c.get("/api/models/resnet18/examples", params={"layer": "conv1", "channel": 5})
        assert r.status_code == 200, r.text
        got = r.json()
        r = c.get("/api/models/vgg11/examples", params={"layer": "conv1_1", "channel": 0})  # seeded: refused
        assert r.status_code == 422 and "random weights" in r.json()["error"]["message"]
        r = c.get("/api/models/resnet18/examples", params={"layer": "conv1", "channel": 64})
        assert r.status_code == 422 and "0..63" in r.json()["error"]["message"]
    # second path: onnxruntime on each sample as /predict prepares it, every position of channel 5 ranked
    info = Service(settings).registry.info("resnet18")
    sess = _session(tmp_path / "resnet18.onnx", ["conv1"])
    svc = Service(settings)
    acts = [sess.run(["conv1"], {info.input_name: svc.photo_input(info, (SAMPLE.parent / f).read_bytes())[0]})[0][0, 5]
            for f in samples()]
    flat = np.concatenate([a.ravel() for a in acts])
    best = np.sort(flat)[::-1][:9]
    assert [e["value"] for e in got] == pytest.approx(best.tolist(), rel=1e-5)
    for e in got:
        assert "mnist_index" not in e and e["sample"] in samples()
        assert acts[samples().index(e["sample"])][e["y"], e["x"]] == pytest.approx(e["value"], rel=1e-5)
        assert e["box"][2] - e["box"][0] + 1 == 7  # conv1's field, 7x7, shown as an RGB crop
        assert e["crop"].startswith("data:image/png;base64,")


# ---- a model whose numbers overflow: a clear 422, not a 500 from the JSON encoder

@pytest.mark.parametrize("fill", [float("inf"), float("nan")])
def test_unit_of_a_non_finite_model_is_a_422_saying_so(tmp_path: Path, fill: float) -> None:
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.web.app import create_app
    from tests.helpers.hostile_models import conv_classifier

    conv_classifier(tmp_path / "overflow.onnx", weight_fill=fill)
    with TestClient(create_app(Settings.from_env(models_dir=tmp_path)), raise_server_exceptions=False) as c:
        r = c.post("/api/models/overflow/unit", json={"image": _photo(), "layer": "relu", "channel": 0, "y": 0, "x": 0})
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "non_finite" and "not finite (the first: kernel[0][0][0])" in err["message"], err
        assert c.get("/healthz").status_code == 200


def test_first_non_finite_names_the_place() -> None:
    from app.units.unit import first_non_finite

    assert first_non_finite({"a": [1.0, None, 2], "b": {"c": [[0.0, float("-inf")]]}}) == "b.c[0][1]"
    assert first_non_finite({"window": [[None, 1.0]], "value": 3.0}) is None
    assert first_non_finite(float("nan")) == "value"
