"""Trained weights from the page, end to end: a torchvision-layout ResNet-18 checkpoint generated here is
served by a loopback mirror; the gallery card and the explorer offer "get trained weights (size)"; a click
downloads (progress shown), checks the pinned sha256, imports, and the page switches to the imported model
without a restart. With downloads off, the click is refused with a message saying how to enable them."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.mirror import mirror, pins
from tests.helpers.server import copy_lenet, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    from tests.helpers import tv_reference

    path = tmp_path_factory.mktemp("www") / "resnet18.pth"
    torch.save(tv_reference.make("resnet18", seed=3).state_dict(), path)
    return path.rename(path.with_name(f"resnet18-{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}.pth"))


def _env(tmp_path: Path, url: str, checkpoint: Path) -> dict[str, str]:
    return {"CONVSCOPE_DOWNLOAD_URL": url, "CONVSCOPE_DATA_DIR": str(tmp_path / "cache"),
            "CONVSCOPE_TEST_CHECKPOINTS": str(pins({"resnet18": checkpoint}, tmp_path / "pins.json")),
            "CONVSCOPE_EAGER": "lenet5"}


def _detail(url: str) -> dict:
    with urllib.request.urlopen(url + "/api/models/resnet18", timeout=30) as r:
        return json.load(r)


def test_get_trained_weights_from_the_page(page, tmp_path, checkpoint) -> None:
    models = tmp_path / "models"
    models.mkdir()
    copy_lenet(models)
    size_mb = f"{checkpoint.stat().st_size / 1048576:.1f} MB"
    with mirror(checkpoint.parent) as (mirror_url, _, hits), \
            serve(models, env=_env(tmp_path, mirror_url, checkpoint)) as url:
        page.goto(url + "/")
        card = page.locator("article.card[data-name='resnet18'] .get-weights button")
        card.wait_for(timeout=15000)
        assert card.inner_text() == f"get trained weights ({size_mb})"
        assert page.locator("article.card[data-name='lenet5'] .get-weights").count() == 0  # trained already
        page.goto(url + "/models/resnet18")
        button = page.locator("#untrained-banner .get-weights button")
        button.wait_for(timeout=15000)
        assert _detail(url)["weights"] == "untrained"
        page.evaluate("""() => { window.seen = [];
            new MutationObserver(() => { const s = document.querySelector('.get-weights-status');
                const bar = document.querySelector('#untrained-banner progress');
                if (s) window.seen.push([s.textContent, bar ? bar.value / bar.max : null]); })
              .observe(document.getElementById('untrained-banner'),
                       {subtree: true, childList: true, characterData: true, attributes: true}); }""")
        button.click()
        # progress is shown while the server downloads and imports, then the page reloads onto the model
        page.wait_for_function("() => window.seen && window.seen.some(([t]) => /importing|downloading/.test(t))",
                               timeout=60000)
        seen = page.evaluate("window.seen")
        assert any(frac is not None for _, frac in seen), seen  # the progress bar was there
        page.wait_for_selector("h1 .badge.imported", timeout=240000)
        assert page.locator("#untrained-banner").count() == 0
        detail = _detail(url)
        assert detail["weights"] == "imported"
        assert detail["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        assert hits == [f"/models/{checkpoint.name}"]  # fetched once, from the mirror
        page.goto(url + "/")
        assert page.locator("article.card[data-name='resnet18'] .get-weights").count() == 0
        assert page.console_errors == []


def test_get_weights_refused_when_downloads_are_off(page, tmp_path, checkpoint) -> None:
    models = tmp_path / "models"
    models.mkdir()
    copy_lenet(models)
    with mirror(checkpoint.parent) as (mirror_url, _, hits), \
            serve(models, "--no-allow-downloads", env=_env(tmp_path, mirror_url, checkpoint)) as url:
        page.goto(url + "/models/resnet18")
        button = page.locator("#untrained-banner .get-weights button")
        button.wait_for(timeout=15000)
        button.click()
        status = page.locator("#untrained-banner .get-weights-status.error")
        status.wait_for(timeout=15000)
        text = status.inner_text()
        assert "Downloads are off on this server" in text and "convscope serve --allow-downloads" in text, text
        assert not button.is_disabled()
        assert hits == [] and _detail(url)["weights"] == "untrained"
        with urllib.request.urlopen(url + "/api/models/resnet18/weights", timeout=10) as r:
            st = json.load(r)
        assert st["allowed"] is False and "--allow-downloads" in st["enable"]


def test_a_failed_download_says_so_in_the_page_language(page, tmp_path, checkpoint) -> None:
    """A mirror that changes one byte: the sha256 check refuses the file, and a Chinese page leads
    the server's own account (which names the file and both digests) with its own words."""
    models = tmp_path / "models"
    models.mkdir()
    copy_lenet(models)
    with mirror(checkpoint.parent, {checkpoint.name: "tampered"}) as (mirror_url, _, hits), \
            serve(models, env=_env(tmp_path, mirror_url, checkpoint)) as url:
        page.goto(url + "/models/resnet18?lang=zh")
        button = page.locator("#untrained-banner .get-weights button")
        button.wait_for(timeout=15000)
        button.click()
        status = page.locator("#untrained-banner .get-weights-status.error")
        status.wait_for(timeout=120000)
        text = status.inner_text()
        assert text.startswith("下载失败：") and "sha256" in text, text
        assert not button.is_disabled()
        assert hits == [f"/models/{checkpoint.name}"] and _detail(url)["weights"] == "untrained"
        assert page.console_errors == []
