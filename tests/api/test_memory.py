"""Issue 12 item 3: run-time memory bombs. A model's run memory is bounded when it is loaded
(estimated from the graph; beyond the per-model budget, or unknowable, it is refused with the
reason), counted in the session-cache bound, and returned after each run; answers have a size
ceiling (maps beyond it are paged); foreign graphs expose at most max_layers layers."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from app.config import Settings
from app.serving.registry import rss_bytes
from app.web.app import create_app
from tests.helpers.hostile_models import constant_bomb, conv_classifier, long_chain
from tests.helpers.images import PHOTO, SEVEN_PIXELS
from tests.helpers.server import copy_lenet

GOOD = {"model": "lenet5", "pixels": SEVEN_PIXELS}


def _client(d, **kw) -> TestClient:
    return TestClient(create_app(Settings.from_env(models_dir=d, **kw)), raise_server_exceptions=False)


def _models(c: TestClient) -> dict:
    return {m["name"]: m for m in c.get("/api/models").json()}


def _photo(c: TestClient, model: str, **fields: str):
    return c.post("/predict", data={"model": model, **fields}, files={"image": ("x.png", PHOTO, "image/png")})


def test_bombs_are_refused_at_load_and_others_keep_answering(tmp_path) -> None:
    copy_lenet(tmp_path)
    computed = constant_bomb(tmp_path / "computed.onnx", 2.0, computed=True)  # the form
    constant_bomb(tmp_path / "static.onnx", 1.0)
    assert computed.stat().st_size < 2000
    with _client(tmp_path, run_memory_mb=512) as c:
        rss0 = rss_bytes()
        m = _models(c)
        assert m["computed"]["status"] == "error" and "cannot be known before running" in m["computed"]["error"]
        assert m["static"]["status"] == "error", m["static"]
        assert "about 2,049 MB" in m["static"]["error"] and "budget per model is 512 MB" in m["static"]["error"]
        for name in ("computed", "static"):
            r = _photo(c, name)
            assert r.status_code == 503 and "unavailable" in r.json()["error"]["message"]
        assert c.post("/predict", json=GOOD).status_code == 200
        assert rss_bytes() - rss0 < 200 << 20  # nothing was allocated for the bombs


def test_run_memory_counts_in_the_cache_and_goes_back(tmp_path) -> None:
    constant_bomb(tmp_path / "big.onnx", 0.25)  # 256 MiB per run, inside a 1 GiB budget
    with _client(tmp_path, run_memory_mb=1024) as c:
        r = _photo(c, "big")
        assert r.status_code == 200, r.text
        text = c.get("/metrics").text
        line = next(ln for ln in text.splitlines() if ln.startswith("convscope_session_cache_bytes"))
        cache = float(line.split()[-1])
        assert cache >= 512 << 20, cache  # the run's 2 x 256 MiB estimate is counted, not just the file
        rss0 = rss_bytes()
        for _ in range(3):
            assert _photo(c, "big").status_code == 200
        assert rss_bytes() - rss0 < 128 << 20  # no arena keeps the 256 MiB after a run


def test_cache_bound_evicts_on_run_memory(tmp_path) -> None:
    copy_lenet(tmp_path)
    constant_bomb(tmp_path / "big.onnx", 0.125)
    conv_classifier(tmp_path / "small.onnx")
    with _client(tmp_path, run_memory_mb=1024, cache_mb=200) as c:
        assert _photo(c, "big").status_code == 200
        assert _photo(c, "small").status_code == 200
        assert c.post("/predict", json=GOOD).status_code == 200
        loaded = {n for n, m in _models(c).items() if m["status"] == "loaded"}
        assert "big" not in loaded and {"small", "lenet5"} <= loaded, loaded


def test_long_chain_is_capped_and_stated(tmp_path) -> None:
    long_chain(tmp_path / "chain.onnx", 5000)
    assert (tmp_path / "chain.onnx").stat().st_size < 400_000
    with _client(tmp_path) as c:
        info = _models(c)["chain"]
        assert info["status"] == "available" and info["layer_cap"] == {"shown": 512, "total": 5001}, info
        r = _photo(c, "chain", activations="maps", map_size="32")
        assert r.status_code == 200
        assert len(r.json()["layers"]) == 512
        page = c.get("/models/chain")
        assert page.status_code == 200 and "512" in page.text and "5001" in page.text


def test_maps_beyond_the_ceiling_are_paged(tmp_path) -> None:
    copy_lenet(tmp_path)
    with _client(tmp_path, max_response_bytes=3000) as c:
        r = c.post("/predict", json={**GOOD, "activations": "maps", "map_channels": 16})
        body = r.json()
        assert r.status_code == 200 and len(r.content) < 3000 * 4 // 3 + 20_000
        sent = sum(layer["maps"]["channels"] * layer["maps"]["height"] * layer["maps"]["width"]
                   for layer in body["layers"] if "maps" in layer)
        assert 0 < sent <= 3000
        page = body["maps_page"]
        assert page["complete"] is False and page["limit_bytes"] == 3000
        nxt = page["next"]
        assert nxt["layer"] == nxt["layers"][0] and "map_offset" in page["message"]
        # following the page: the missing channels of that layer come next
        r2 = c.post("/predict", json={**GOOD, "activations": "maps", "map_channels": 16, "layers": [nxt["layer"]],
                                      "map_offset": nxt["map_offset"]})
        m = next(layer for layer in r2.json()["layers"] if layer["name"] == nxt["layer"])["maps"]
        assert m["offset"] == nxt["map_offset"] and m["channels"] > 0
        # and the whole answer fits when the ceiling allows
    with _client(tmp_path) as c:
        full = c.post("/predict", json={**GOOD, "activations": "maps", "map_channels": 16}).json()
        assert "maps_page" not in full and all("maps" in layer for layer in full["layers"])
        json.dumps(full, allow_nan=False)
