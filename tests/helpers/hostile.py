"""A foreign model with script payloads in every string a page might show: its file name, graph and tensor
names, doc strings, metadata, and its sidecar's title, description and labels; plus a broken file whose
error message carries a payload. For the stored-XSS tests (issue 12 item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from tests.helpers.foreign import tiny_resnet

# Each payload, if it ever became markup, would run script (alert/confirm/prompt, or bump window.__xss)
# or add an element the test looks for.
PAYLOADS = [
    '<img src=x onerror="window.__xss=(window.__xss||0)+1;alert(1)">',
    "<script>window.__xss=(window.__xss||0)+1;alert(2)</script>",
    '"><svg onload="window.__xss=(window.__xss||0)+1;confirm(3)">',
    "'><iframe srcdoc=\"<script>parent.__xss=1</script>\"></iframe>",
    "javascript:alert(4)",
    "</script><script>prompt(5)</script>",
]
NAME = "x<img src=x onerror=alert(9)>"  # the file's stem is the model's name


def payload(i: int) -> str:
    return f"p{i}{PAYLOADS[i % len(PAYLOADS)]}"


def hostile_model(models_dir: Path) -> str:
    """Write the hostile model (and a broken one) into ``models_dir``; return the hostile model's name."""
    path = models_dir / f"{NAME}.onnx"
    tiny_resnet(path)
    model = onnx.load(str(path))
    g = model.graph
    names: dict[str, str] = {}
    k = 0
    for node in g.node:
        for i, out in enumerate(node.output):
            names.setdefault(out, payload(k))
            k += 1
            node.output[i] = names[out]
        for i, inp in enumerate(node.input):
            node.input[i] = names.get(inp, inp)
        node.name = payload(k)
        node.doc_string = payload(k + 1)
    for o in g.output:
        o.name = names.get(o.name, o.name)
    g.name = payload(1)
    g.doc_string = payload(2)
    model.doc_string = payload(3)
    model.producer_name = payload(4)
    onnx.helper.set_model_props(model, {payload(0): payload(1), "convscope": json.dumps({"title": payload(2)})})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    side = {"title": payload(0), "description": payload(2), "labels": [payload(i) for i in range(10)]}
    path.with_suffix(".json").write_text(json.dumps(side))
    (models_dir / "y<svg onload=alert(7)>.onnx").write_bytes(b"not an onnx file <script>alert(8)</script>")
    return NAME


# Run in the page: elements or attributes that only a payload could have put there.
INJECTED_JS = """() => {
  const bad = [...document.querySelectorAll('img[src="x"], iframe, svg[onload], [onerror], [onload], script')]
    .filter((e) => !(e.tagName === 'SCRIPT' && (e.type === 'application/json' || e.src)));
  return bad.map((e) => e.outerHTML.slice(0, 120));
}"""

# Before any page script: count dialogs' and CSP violations' sources (the test also hooks dialogs).
INIT_JS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""
