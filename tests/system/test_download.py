"""The downloader against a hostile mirror on loopback (endless body, trickle, stall, redirect loop, lying
Content-Length, truncation, tampered bytes), the pinned digests and sizes, and `convscope download` end
to end with a generated torchvision-layout checkpoint."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path

import pytest

from app import nets
from app.analysis import analyse, totals
from app.cli import main
from app.weights import download as dl
from tests.helpers.mirror import mirror, pins

BLOB = bytes(range(256)) * 64  # 16 KiB stand-in for a checkpoint (the fetch tests need no real one)
DIGEST = hashlib.sha256(BLOB).hexdigest()


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    (root / "blob.pth").write_bytes(BLOB)
    return root


def _fetch(url: str, dest: Path, **kw: object) -> str:
    t0 = time.monotonic()
    with pytest.raises(dl.DownloadError) as exc:
        dl.fetch(url + "blob.pth", dest / "blob.pth", DIGEST, **{"size": len(BLOB), **kw})  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 10
    assert not list(dest.iterdir()), "a failed download left a file behind"
    return str(exc.value)


@pytest.mark.parametrize(("mode", "kw", "expect"), [
    ("endless", {}, "sent more than the 16,384 bytes the published file has"),
    ("endless", {"size": None, "ceiling": 100_000}, "sent more than the 100,000 bytes a checkpoint of this model"),
    ("liar", {}, "announces 16,384,000 bytes; the published file has 16,384. Refused before downloading"),
    ("trickle", {"deadline_s": 1.5}, "too slow"),
    ("truncate", {}, "bytes"),
    ("tampered", {}, f"does not match the pinned {DIGEST}"),
    ("loop", {}, "redirect loop: "),
])
def test_hostile_mirror_is_refused_with_what_happened(www, tmp_path, mode, kw, expect) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with mirror(www, {"blob.pth": mode}) as (url, _, hits):
        msg = _fetch(url, dest, **kw)
    assert expect in msg, msg
    if mode == "loop":
        assert "blob.pth.b -> " in msg and len(hits) == 2
    if mode == "truncate":
        assert "8,192 of 16,384" in msg or "ended after" in msg, msg


def test_a_stalled_mirror_times_out(www, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dl, "STALL_S", 0.5)
    dest = tmp_path / "dest"
    dest.mkdir()
    with mirror(www, {"blob.pth": "stall"}) as (url, _, _hits):
        msg = _fetch(url, dest)
    assert "stalled, no data for" in msg and "10 of 16,384" in msg, msg


def test_trickled_headers_end_at_the_deadline(www, tmp_path) -> None:
    # a byte every 0.2 s never trips the 30 s stall timeout; only the overall deadline can end the wait
    dest = tmp_path / "dest"
    dest.mkdir()
    with mirror(www, {"blob.pth": "slowheaders"}) as (url, _, _hits):
        t0 = time.monotonic()
        msg = _fetch(url, dest, deadline_s=1.0)
        took = time.monotonic() - t0
    assert "too slow, 0 of 16,384 bytes when the deadline passed" in msg, msg
    assert took < 2.5, f"the fetch took {took:.1f} s with a 1 s deadline (the mirror trickles for 6 s)"


def test_refused_connection_and_non_http_are_plain(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    msg = _fetch(f"http://127.0.0.1:{port}/", tmp_path)
    assert "could not download" in msg and "no internet access" in msg, msg
    assert "not an http(s) address" in _fetch("file:///etc/", tmp_path)


def test_a_good_mirror_is_fetched_with_progress(www, tmp_path) -> None:
    seen: list[tuple[int, int]] = []
    with mirror(www) as (url, _, _hits):
        dl.fetch(url + "blob.pth", tmp_path / "blob.pth", DIGEST, size=len(BLOB),
                 progress=lambda d, t: seen.append((d, t)))
    assert (tmp_path / "blob.pth").read_bytes() == BLOB
    assert seen[-1] == (len(BLOB), len(BLOB))


@pytest.mark.parametrize("model", ["lenet5", "vgg11"])  # no checkpoint at all; one published but not pinned
def test_no_checkpoint_comes_before_downloads_off(models_dir, model: str) -> None:
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.web.app import create_app

    with TestClient(create_app(Settings.from_env(models_dir=models_dir, allow_downloads=False))) as c:
        r = c.post(f"/api/models/{model}/weights")  # was 403 "Downloads are off ... convscope download lenet5"
        assert r.status_code == 404 and r.json()["error"]["code"] == "no_checkpoint", r.text
        assert c.post("/api/models/resnet18/weights").status_code == 403  # a pinned one: enabling would help


def test_every_pin_is_consistent_with_its_name_and_its_network() -> None:
    """Each pinned digest starts with the 8 hex digits torchvision puts in the file name, and each pinned
    size holds at least the network's parameters as float32 (ARCHITECTURES.md's counts) and no more than
    the ceiling the downloader allows unpinned files."""
    assert set(dl.CHECKPOINTS) <= set(nets.BUILTIN_NAMES)
    pinned = [c for c in dl.CHECKPOINTS.values() if c.pinned]
    assert {c.model for c in pinned} == {"resnet18", "resnet34", "resnet50", "vgg16-3", "vgg19"}
    for c in pinned:
        assert c.sha256 and len(c.sha256) == 64 and c.sha256.startswith(c.file.rsplit("-", 1)[1][:8]), c
        params = totals(analyse(nets.get(c.model)))["params"]
        assert c.size and params * 4 < c.size <= dl.ceiling(c.model), (c.model, params * 4, c.size)


def test_test_pins_apply_to_loopback_mirrors_only(tmp_path, monkeypatch) -> None:
    fake = tmp_path / "blob.pth"
    fake.write_bytes(BLOB)
    monkeypatch.setenv(dl.TEST_PINS_ENV, str(pins({"resnet18": fake}, tmp_path / "pins.json")))
    assert dl.checkpoint("resnet18", "http://127.0.0.1:1/models/").sha256 == DIGEST  # type: ignore[union-attr]
    assert dl.checkpoint("resnet18", "http://localhost:1/").file == "blob.pth"  # type: ignore[union-attr]
    assert dl.checkpoint("resnet18", "https://mirror.example.invalid/") == dl.CHECKPOINTS["resnet18"]
    assert dl.checkpoint("resnet18") == dl.CHECKPOINTS["resnet18"]


def test_unpinned_checkpoint_needs_a_digest(models_dir, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path / "cache"))
    assert main(["download", "vgg11", "--url-base", "http://127.0.0.1:1/", "--models-dir", str(models_dir)]) == 1
    err = capsys.readouterr().err
    assert "no sha256 is pinned here for vgg11-8a719046.pth" in err and "--sha256" in err, err
    assert main(["download", "vgg11", "--sha256", "00" * 32, "--models-dir", str(models_dir)]) == 1
    assert "64 hex digits starting with 8a719046" in capsys.readouterr().err
    assert main(["download", "vgg16-1", "--models-dir", str(models_dir)]) == 1
    assert "publishes no checkpoint" in capsys.readouterr().err


@pytest.fixture(scope="module")
def r18_file(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    from tests.helpers import tv_reference

    path = tmp_path_factory.mktemp("ckpt") / "resnet18.pth"
    torch.save(tv_reference.make("resnet18").state_dict(), path)
    return path.rename(path.with_name(f"resnet18-{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}.pth"))


def test_download_imports_from_a_loopback_mirror(r18_file, models_dir, tmp_path, monkeypatch, capsys) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / r18_file.name).write_bytes(r18_file.read_bytes())
    monkeypatch.setenv(dl.TEST_PINS_ENV, str(pins({"resnet18": r18_file}, tmp_path / "pins.json")))
    monkeypatch.setenv("CONVSCOPE_DATA_DIR", str(tmp_path / "cache"))
    with mirror(www, {r18_file.name: "tampered"}) as (url, mode, _hits):
        assert main(["download", "resnet18", "--url-base", url, "--models-dir", str(models_dir)]) == 1
        assert "does not match the pinned" in capsys.readouterr().err
        assert not (models_dir / "resnet18.onnx").exists()
        mode.clear()
        assert main(["download", "resnet18", "--url-base", url, "--models-dir", str(models_dir)]) == 0
    card = json.loads((models_dir / "resnet18.card.json").read_text())
    assert card["checkpoint_sha256"] == hashlib.sha256(r18_file.read_bytes()).hexdigest()
    assert card["source"] == url + r18_file.name and card["weights"] == "imported"
