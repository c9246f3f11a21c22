"""`convscope bench`: speed figures taken side by side with their baselines in the same run,
interleaved and repeated, reported as medians and ratios (the machines are shared and noisy).

Sections: peak (a float32 GEMM), engine (onnxruntime vs PyTorch eager), activations (all
layers vs logits only), payload (maps bytes and encode time), http (convscope vs a minimal
FastAPI endpoint vs in-process), cold start and memory, explain (Grad-CAM vs predict, occlusion per
position; app/bench/explain.py), browser (the live pad in Chromium: pen movement to prediction painted).
Prints tables, writes JSON.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from app import nets
from app.analysis import analyse, totals
from app.bench.common import interleaved, median_ms, session
from app.config import BUNDLED_MODELS_DIR, FROM_CHECKOUT, ROOT, Settings

QUICK_MODELS = ["lenet5", "alexnet", "vgg16-3", "resnet50"]


def peak_gflops(n: int = 2048, reps: int = 7) -> float:
    """Practical float32 peak: the best of a few large GEMMs."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    best = min(interleaved({"gemm": lambda: a @ b}, reps, warmup=1)["gemm"])
    return 2 * n**3 / best / 1e9


def model_file(name: str, models_dir: Path) -> Path:
    from app.catalog.store import write_builtin

    path = models_dir / f"{nets.canonical(name)}.onnx"
    if not path.exists():
        write_builtin(name, models_dir)
    return path


def engine(name: str, models_dir: Path, reps: int) -> dict[str, Any]:
    """onnxruntime (logits only) vs PyTorch eager, best of 1 and 2 threads each; all layers vs logits."""
    net = nets.get(name)
    macs = totals(analyse(net))["macs"] or 0
    path = model_file(name, models_dir)
    x1 = np.random.default_rng(0).standard_normal((1, *net.input_shape), dtype=np.float32)
    x8 = np.random.default_rng(1).standard_normal((8, *net.input_shape), dtype=np.float32)
    s1, s2 = session(path, 1), session(path, 2)
    layers = [s.name for s in net.stages]
    fns: dict[str, Callable[[], object]] = {
        "ort_t1": lambda: s1.run(["prob"], {"input": x1}),
        "ort_t2": lambda: s2.run(["prob"], {"input": x1}),
        "ort_all_t1": lambda: s1.run([*layers, "prob"], {"input": x1}),
    }
    torch_note = None
    try:
        import torch

        from app.backends.torch_ref import NetModule
        from app.weights.init import HeWeights

        module = NetModule(net).load_weights(HeWeights(net, 0)).eval()
        t1 = torch.from_numpy(x1)

        def torch_run(threads: int) -> Callable[[], object]:
            def f() -> object:
                torch.set_num_threads(threads)
                with torch.inference_mode():
                    return module(t1)
            return f

        fns["torch_t1"], fns["torch_t2"] = torch_run(1), torch_run(2)
    except ImportError:
        torch_note = "torch not installed (pip install -e '.[train]')"
    t = interleaved(fns, reps)
    med = {k: statistics.median(v) for k, v in t.items()}
    ort_best = min(med["ort_t1"], med["ort_t2"])
    row: dict[str, Any] = {
        "model": name, "macs": macs,
        "ort_ms": round(ort_best * 1000, 3), "ort_threads": 1 if med["ort_t1"] <= med["ort_t2"] else 2,
        "gflops": round(2 * macs / ort_best / 1e9, 1),
        "all_layers_ratio": round(med["ort_all_t1"] / med["ort_t1"], 3),
    }
    if "torch_t1" in med:
        torch_best = min(med["torch_t1"], med["torch_t2"])
        row.update({"torch_ms": round(torch_best * 1000, 3), "ort_vs_torch": round(ort_best / torch_best, 3)})
    else:
        row["torch_note"] = torch_note
    # batch 8 throughput, interleaved too (fewer repetitions: these are 8x longer)
    best_sess = s1 if row["ort_threads"] == 1 else s2
    fns8: dict[str, Callable[[], object]] = {"ort": lambda: best_sess.run(["prob"], {"input": x8})}
    if "torch_t1" in med:
        import torch

        threads = 1 if med["torch_t1"] <= med["torch_t2"] else 2
        t8 = torch.from_numpy(x8)

        def torch8() -> object:
            torch.set_num_threads(threads)
            with torch.inference_mode():
                return module(t8)

        fns8["torch"] = torch8
    b8 = {k: statistics.median(v) for k, v in interleaved(fns8, max(3, reps // 3), warmup=1).items()}
    row["ort_b8_img_s"] = round(8 / b8["ort"], 1)
    if "torch" in b8:
        row["torch_b8_img_s"] = round(8 / b8["torch"], 1)
    # payload: the /predict answer with maps, encoded in-process
    from app.catalog.sources import BuiltinSource
    from app.serving.run import MapOptions, answer

    info = BuiltinSource(name, Settings.from_env(models_dir=models_dir)).info
    outs = dict(zip([*layers, "prob"], s1.run([*layers, "prob"], {"input": x1}), strict=True))
    enc = interleaved({"enc": lambda: json.dumps(answer(info, outs["prob"], outs, 5, "maps", MapOptions()))}, 5, 1)
    row["maps_bytes"] = len(json.dumps(answer(info, outs["prob"], outs, 5, "maps", MapOptions())))
    row["maps_encode_ms"] = median_ms(enc["enc"])
    return row


def main(models: list[str] | None = None, quick: bool = False, out: Path | None = None,
         http: bool = True, ray: bool = False, browser: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    models = [nets.canonical(m) for m in (models or (QUICK_MODELS if quick else list(nets.BUILTIN_NAMES)))]
    for m in models:
        nets.get(m)
    reps = 7 if quick else 15
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.machine(), "cpus": os.cpu_count(),
        "onnxruntime": ort.__version__, "providers": ort.get_available_providers(), "quick": quick,
    }
    print("peak: float32 GEMM 2048^3 ...", flush=True)
    result["peak_gflops"] = round(peak_gflops(), 1)
    print(f"  {result['peak_gflops']} GFLOP/s")
    work = Path(tempfile.mkdtemp(prefix="convscope-bench-"))
    try:
        shutil.copy(BUNDLED_MODELS_DIR / "lenet5.onnx", work / "lenet5.onnx")
        shutil.copy(BUNDLED_MODELS_DIR / "lenet5.card.json", work / "lenet5.card.json")
        rows = []
        for m in tqdm(models, desc="engine", unit="model"):
            rows.append(engine(m, work, reps))
            rows[-1]["peak_fraction"] = round(rows[-1]["gflops"] / result["peak_gflops"], 3)
        result["engine"] = rows
        from app.bench import explain as explain_bench

        print("explain: Grad-CAM and occlusion cost ...", flush=True)
        result["explain"] = explain_bench.section(models, work, reps)
        if http:
            from app.bench import http as bench_http

            result.update(bench_http.run(work, quick))
        if ray:
            from app.bench import http as bench_http

            result["ray"] = bench_http.run_ray(quick)
        if browser:
            from app.bench import browser as bench_browser

            print("browser: the pad in Chromium, one long stroke per digit model ...", flush=True)
            result["browser"] = bench_browser.run(seconds=2.0 if quick else 4.0, rounds=2 if quick else 3)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(result)
    results = ROOT / "bench" / "results" if FROM_CHECKOUT else Path.cwd()
    out = out or results / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    return result


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    head = [h for _, h in cols]
    body = [[("" if r.get(k) is None else str(r.get(k))) for k, _ in cols] for r in rows]
    w = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(h.ljust(n) for h, n in zip(head, w, strict=True)), "  ".join("-" * n for n in w)]
    lines += ["  ".join(c.rjust(n) for c, n in zip(r, w, strict=True)) for r in body]
    return "\n".join(lines)


def report(r: dict[str, Any]) -> None:
    print(f"\n== engine (batch 1, medians; peak {r['peak_gflops']} GFLOP/s)")
    print(_table(r["engine"], [("model", "model"), ("ort_ms", "ORT ms"), ("ort_threads", "thr"),
                               ("torch_ms", "torch ms"), ("ort_vs_torch", "ORT/torch"), ("gflops", "GFLOP/s"),
                               ("peak_fraction", "of peak"), ("all_layers_ratio", "all/logits"),
                               ("ort_b8_img_s", "ORT b8 img/s"), ("torch_b8_img_s", "torch b8 img/s"),
                               ("maps_bytes", "maps bytes"), ("maps_encode_ms", "encode ms")]))
    if "http" in r:
        print("\n== http (loopback; requests/s and latency ms)")
        print(_table(r["http"], [("what", "what"), ("concurrency", "c"), ("rps", "req/s"), ("p50_ms", "p50"),
                                 ("p99_ms", "p99"), ("ratio_rps", "rps vs minimal"),
                                 ("ratio_p50", "p50 vs minimal")]))
    if "explain" in r:
        from app.bench.explain import COLUMNS

        print("\n== explain (batch 1 medians; Grad-CAM = one run + the NumPy backward pass; occlusion batched)")
        print(_table(r["explain"], COLUMNS))
    if "ray" in r:
        print("\n== ray serve vs uvicorn (VGG16-3 /predict, no maps)")
        print(_table(r["ray"], [("what", "what"), ("concurrency", "c"), ("rps", "req/s"), ("p50_ms", "p50"),
                                ("p99_ms", "p99"), ("ready_s", "ready s"), ("non_200", "non-200")]))
    if "browser" in r:
        from app.bench import browser as bench_browser

        print("\n== browser (the pad in Chromium over WS /ws/predict: pen movement -> prediction painted, ms)")
        b = r["browser"]
        print(b["skipped"] if "skipped" in b else
              _table(b["pad"], bench_browser.COLUMNS) + f"\n  painted: {b.get('painted', '')}")
    if "http" in r:
        for k in ("in_process", "vgg_maps", "cold", "memory"):
            if k in r:
                print(f"\n== {k}\n" + json.dumps(r[k], indent=1))


if __name__ == "__main__":
    main(sys.argv[1:] or None)
