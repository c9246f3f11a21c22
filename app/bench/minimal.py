"""The floor any server pays: a minimal FastAPI endpoint that decodes a LeNet-5 pixel array,
makes the same onnxruntime call as convscope's /predict (same session options, same outputs)
and returns JSON. Run: python -m app.bench.minimal --port 8001 [--model path/to/lenet5.onnx] (default: the
LeNet-5 that ships with convscope, in the checkout or the installed package)"""

from __future__ import annotations

import argparse

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, Request

from app.config import BUNDLED_MODELS_DIR
from app.serving.providers import CPU, session_options


def make_app(model: str) -> FastAPI:
    sess = ort.InferenceSession(model, session_options(1), providers=[CPU])
    names = [o.name for o in sess.get_outputs()]
    app = FastAPI()

    @app.get("/readyz")
    async def ready() -> dict:
        return {"status": "ready"}

    @app.post("/predict")
    async def predict(request: Request) -> dict:
        body = await request.json()
        x = np.pad(np.asarray(body["pixels"], np.float32), 2)[None, None]
        outs = dict(zip(names, sess.run(names, {"input": (x - 0.1307) / 0.3081}), strict=True))
        p = outs["prob"][0]
        top = np.argsort(-p)[:5]
        return {"top_k": [{"index": int(i), "probability": float(p[i])} for i in top]}

    return app


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--model", default=str(BUNDLED_MODELS_DIR / "lenet5.onnx"))
    a = ap.parse_args()
    uvicorn.run(make_app(a.model), host="127.0.0.1", port=a.port, log_level="error", access_log=False)
