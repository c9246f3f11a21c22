"""Two languages: the catalogs are complete, the language is negotiated and announced, pages and API follow it."""

from __future__ import annotations

import pytest

from app import i18n, i18n_catalog


def test_zh_catalog_translates_every_message() -> None:
    assert len(i18n_catalog.extract()) > 100
    assert i18n_catalog.check() == []  # no message missing, untranslated, fuzzy or with other {placeholders}


def test_check_reports_a_missing_translation(monkeypatch) -> None:
    from babel.messages.catalog import Catalog

    extra = i18n_catalog.extract()
    extra.add("a sentence nobody translated", None, [("static/js/x.js", 1)])
    monkeypatch.setattr(i18n_catalog, "extract", lambda: extra)
    assert any("a sentence nobody translated" in p for p in i18n_catalog.check())
    assert isinstance(extra, Catalog)


@pytest.mark.parametrize(("query", "cookie", "accept", "want"), [
    (None, None, None, "en"),
    (None, None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    (None, None, "fr-FR, en;q=0.5, zh;q=0.9", "zh"),
    (None, None, "de", "en"),
    (None, "zh", "en-US", "zh"),
    ("en", "zh", "zh", "en"),
    ("zh", None, None, "zh"),
    ("ZH-hans", None, None, "zh"),
    ("fr", "zh", "zh", "en"),  # an unknown explicit choice is English, and says so
    ("", None, "zh", "en"),
])
def test_negotiate(query, cookie, accept, want) -> None:
    assert i18n.negotiate(query, cookie, accept) == want


def test_translations_and_js_messages() -> None:
    zh = i18n.gettext_for("zh")
    assert zh("Gallery") == "模型库" and zh("receptive field") == "感受野"
    assert i18n.gettext_for("xx")("Gallery") == "Gallery"
    js = i18n.js_messages("zh")
    assert js["Check"] == "检查" and "Gallery" not in js  # only what static/js uses travels to the browser


def test_api_language(client) -> None:
    r = client.get("/api/models/lenet5?lang=zh")
    assert r.status_code == 200 and r.headers["content-language"] == "zh"
    d = r.json()
    assert d["layers"][0]["explain"]["formulas"][0] == "参数量 = (5·5·1 + 1)·6 = 156"
    assert "全连接层" in d["explain"]["text"]
    assert d["layers"][0]["name"] == "C1"  # names unchanged
    r = client.get("/api/models/lenet5?lang=klingon")
    assert r.headers["content-language"] == "en"
    assert r.json()["layers"][0]["explain"]["formulas"][0].startswith("params")
    assert "set-cookie" not in r.headers  # the API does not set the page cookie
    r = client.get("/api/models/lenet5")
    assert r.headers["content-language"] == "en"


def test_pages_language(client) -> None:
    for path in ("/", "/draw", "/compare", "/models/lenet5", "/models/resnet18"):
        r = client.get(path + "?lang=zh")
        assert r.status_code == 200 and r.headers["content-language"] == "zh", path
        assert 'lang="zh-Hans"' in r.text and "lang=zh" in r.headers["set-cookie"]
        r = client.get(path, headers={"accept-language": "en-GB,en;q=0.9"})  # the cookie outranks the browser
        assert r.headers["content-language"] == "zh", path
    client.cookies.clear()
    r = client.get("/models/vgg16-1", headers={"accept-language": "zh-CN"})
    assert r.headers["content-language"] == "zh" and "卷积层" in r.text and "感受野" in r.text
    r = client.get("/compare?lang=en")
    assert r.headers["content-language"] == "en" and "Compare architectures" in r.text


def test_error_messages_follow_the_language(client) -> None:
    blank = {"model": "lenet5", "pixels": [[0.0] * 28] * 28}
    r = client.post("/predict", json=blank)
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("draw a digit first")
    r = client.post("/predict?lang=zh", json=blank)
    assert r.status_code == 422 and r.headers["content-language"] == "zh"
    assert r.json()["error"] == {"status": 422, "code": "no_digit", "message": "请先写一个数字：画面上没有笔迹。"}
    big = b"0" * (11 * 1024 * 1024)  # refused by the body-limit middleware, before any route: still in Chinese
    r = client.post("/predict?lang=zh", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["message"] == "上传的内容太大。"
    with client.websocket_connect("/ws/predict?lang=zh") as ws:  # the pad's live channel follows the page too
        ws.send_json(blank)
        err = ws.receive_json()["error"]
        assert err == {"status": 422, "code": "no_digit", "message": "请先写一个数字：画面上没有笔迹。"}
    with client.websocket_connect("/ws/predict", headers={"accept-language": "zh-CN"}) as ws:
        ws.send_json({"model": "nope", "pixels": blank["pixels"]})
        msg = ws.receive_json()["error"]["message"]
        assert msg.startswith("未找到。（") and "'nope'" in msg  # the sentence, then the English details
    r = client.put("/predict?lang=zh")
    assert r.status_code == 405 and r.json()["error"]["message"].startswith("这个地址不接受")
    r = client.get("/api/models/nope", headers={"accept-language": "zh-CN"})
    assert r.status_code == 404 and r.json()["error"]["message"].startswith("未找到。（")
    r = client.post("/predict?lang=zh", json={"model": "lenet5", "pixels": blank["pixels"], "top_k": 0})
    msg = r.json()["error"]["message"]  # a bad field keeps its name and bounds after the sentence
    assert r.status_code == 422 and msg.startswith("无法理解这个请求") and "top_k" in msg, msg


def _raised_codes() -> dict[str, str]:
    """Every error code app/ raises (AppError, bad_input, error_body and the middleware's _reply calls) -> where."""
    import ast
    import re
    from pathlib import Path

    app_dir = Path(i18n.__file__).parent
    codes: dict[str, str] = {}
    for path in sorted(app_dir.rglob("*.py")):
        for n in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(n, ast.Call):
                continue
            name = getattr(n.func, "id", None) or getattr(n.func, "attr", None)
            if name not in ("AppError", "bad_input", "error_body", "_reply"):  # _reply: the body-limit middleware
                continue
            for a in [*n.args, *(k.value for k in n.keywords if k.arg == "code")]:
                if isinstance(a, ast.Constant) and isinstance(a.value, str) and re.fullmatch(r"[a-z_]+", a.value):
                    codes.setdefault(a.value, f"{path.relative_to(app_dir.parent)}:{n.lineno}")
    return codes


def test_every_error_code_has_a_sentence_in_each_language() -> None:
    """A page in Chinese shows an error's translated sentence (i18n.error_message): a code raised
    without one would reach the page in English."""
    codes = _raised_codes()
    assert {"no_digit", "run_failed", "model_unavailable", "timeout", "invalid_input", "body_timeout"} <= set(codes)
    missing = {c: where for c, where in codes.items()
               if c not in i18n.ERROR_SENTENCES.keys() | i18n.TRANSLATED_AT_RAISE | i18n.BEFORE_ANY_REQUEST}
    assert not missing, f"error codes with no sentence in app/i18n.py ERROR_SENTENCES: {missing}"
    zh = i18n.gettext_for("zh")
    assert all(zh(s) != s for s in i18n.ERROR_SENTENCES.values())


