"""WS /ws/predict: the POST /predict body in, the same JSON out (errors in the same shape), one message at a
time with the newest winning; the pad page for any digit model."""

from __future__ import annotations

import json
import time

from tests.helpers.images import digit_body


def _same_answer(a: dict, b: dict) -> None:
    a, b = dict(a), dict(b)
    a.pop("timing_ms"), b.pop("timing_ms")
    assert a == b


def test_ws_answers_what_post_answers(client) -> None:
    for model in ("lenet5", "lenet5-1998"):
        body = {**digit_body(model), "top_k": 10, "activations": "maps", "map_size": 16}
        posted = client.post("/predict", json=body)
        assert posted.status_code == 200
        with client.websocket_connect("/ws/predict") as ws:
            ws.send_text(json.dumps(body))
            got = ws.receive_json()
            ws.send_text(json.dumps(body))  # the connection serves one request after another
            again = ws.receive_json()
        _same_answer(got, posted.json())
        _same_answer(again, posted.json())
        assert got["model"] == model and len(got["layers"]) == 7 and got["layers"][0]["maps"]


def test_ws_errors_have_the_error_shape_and_keep_the_connection(client) -> None:
    cases = [
        ("{not json", 400, "bad_json"),
        ("[1, 2]", 422, "invalid_input"),
        (json.dumps({"model": "nope", "pixels": digit_body("lenet5")["pixels"]}), 404, None),
        (json.dumps({"model": "lenet5"}), 422, None),
        (json.dumps({**digit_body("lenet5"), "top_k": 0}), 422, "invalid_input"),
        (json.dumps({**digit_body("lenet5"), "surprise": 1}), 422, "invalid_input"),
    ]
    with client.websocket_connect("/ws/predict") as ws:
        for text, status, code in cases:
            ws.send_text(text)
            err = ws.receive_json()["error"]
            assert err["status"] == status and err["message"], (text, err)
            assert code is None or err["code"] == code
            post = client.post("/predict", content=text, headers={"content-type": "application/json"})
            assert post.status_code == status and post.json()["error"]["code"] == err["code"]
        ws.send_text("x" * (client.app.state.service.settings.max_body_bytes + 1))
        assert ws.receive_json()["error"]["status"] == 413
        ws.send_text(json.dumps(digit_body("lenet5")))  # still usable
        assert ws.receive_json()["top_k"][0]["label"] == "1"


def test_ws_newest_wins_while_busy(client, monkeypatch) -> None:
    service = client.app.state.service
    real = service.predict

    async def slow(req):
        import asyncio

        await asyncio.sleep(0.3)
        return await real(req)

    monkeypatch.setattr(service, "predict", slow)
    with client.websocket_connect("/ws/predict") as ws:
        for k in (1, 2, 3):  # the 2nd arrives while the 1st runs and is replaced by the 3rd
            ws.send_text(json.dumps({**digit_body("lenet5"), "top_k": k, "activations": "none"}))
            time.sleep(0.05)
        first, second = ws.receive_json(), ws.receive_json()
    assert len(first["top_k"]) == 1 and len(second["top_k"]) == 3


def test_ws_holds_one_waiting_message_at_most(client, monkeypatch) -> None:
    """A client sending far faster than the model answers: one answer for the running message, one for the
    newest; nothing in between was kept (the next answer is for the next message)."""
    service = client.app.state.service
    real = service.predict

    async def slow(req):
        import asyncio

        await asyncio.sleep(0.3)
        return await real(req)

    monkeypatch.setattr(service, "predict", slow)
    with client.websocket_connect("/ws/predict") as ws:
        ws.send_text(json.dumps({**digit_body("lenet5"), "top_k": 1, "activations": "none"}))
        time.sleep(0.05)
        for _ in range(100):
            ws.send_text(json.dumps({**digit_body("lenet5"), "top_k": 2, "activations": "none"}))
        ws.send_text(json.dumps({**digit_body("lenet5"), "top_k": 3, "activations": "none"}))
        assert len(ws.receive_json()["top_k"]) == 1
        assert len(ws.receive_json()["top_k"]) == 3
        ws.send_text(json.dumps({**digit_body("lenet5"), "top_k": 4, "activations": "none"}))
        assert len(ws.receive_json()["top_k"]) == 4


def test_draw_page_takes_any_digit_model(client) -> None:
    r = client.get("/draw?model=lenet5-1998")
    assert r.status_code == 200
    assert 'data-model="lenet5-1998"' in r.text and 'id="model"' in r.text
    assert '<option value="lenet5-1998" selected>' in r.text and '<option value="lenet5">' in r.text
    assert 'data-model="lenet5"' in client.get("/draw").text
    bad = client.get("/draw?model=vgg16-3")
    assert bad.status_code == 422 and "does not read digits" in bad.json()["error"]["message"]
    assert client.get("/draw?model=nope").status_code == 404
