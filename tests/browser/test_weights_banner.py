"""Built-in models built with seeded weights say "untrained" after a build and a restart, and their run
panel carries the random-weights banner with greyed (but readable) predictions."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.contrast import contrast
from tests.helpers.server import ROOT, copy_lenet, serve

pytestmark = pytest.mark.browser


def _weights(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url + "/api/models", timeout=10) as r:
        return {m["name"]: m["weights"] for m in json.load(r)}


def _check_page(url: str, page) -> None:
    page.goto(url + "/models/resnet18")
    assert page.locator("h1 .badge.untrained").count() == 1
    banner = page.locator("#untrained-banner")
    assert banner.is_visible()
    text = banner.inner_text()
    assert "shapes and costs are exact" in text and "convscope download resnet18" in text
    assert banner.locator(".get-weights[data-model='resnet18']").count() == 1  # the spot for a button
    page.click(".sample >> nth=0")
    page.wait_for_function("() => document.querySelectorAll('#topk li').length === 5", timeout=60000)
    ratio, colour = contrast(page, "#topk li")
    _, body_colour = contrast(page, "h1")
    assert ratio >= 4.5, (ratio, colour)
    assert colour != body_colour  # greyed, not the plain text colour
    assert page.console_errors == []


def test_untrained_label_and_banner_after_build_and_restart(tmp_path: Path, page) -> None:
    d = tmp_path / "models"
    d.mkdir()
    copy_lenet(d)
    subprocess.run([sys.executable, "-m", "app.cli", "build", "resnet18", "--models-dir", str(d)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    assert (d / "resnet18.onnx").exists()
    with serve(d) as url:
        w = _weights(url)
        assert w["resnet18"] == "untrained" and w["lenet5"] == "trained"
        _check_page(url, page)
    with serve(d) as url:  # restarted over the same folder
        assert _weights(url)["resnet18"] == "untrained"
        _check_page(url, page)
        page.goto(url + "/draw")  # LeNet-5 is trained: no banner there
        assert page.locator("#untrained-banner").count() == 0
