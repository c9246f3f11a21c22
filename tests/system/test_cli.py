"""The convscope command: info, build, eval, --help."""

from __future__ import annotations

import onnx
import pytest

from app.backends.onnx_build import read_metadata
from app.cli import main


def test_info_prints_the_layer_table(capsys) -> None:
    assert main(["info", "lenet5"]) == 0
    out = capsys.readouterr().out
    for text in ("C1", "S2", "6x28x28", "48,120", "total params: 61,706", "32"):
        assert text in out


def test_info_alias_and_unknown(capsys) -> None:
    assert main(["info", "vgg16"]) == 0
    assert "138,357,544" in capsys.readouterr().out
    assert main(["info", "vgg17"]) == 2
    assert "vgg17" in capsys.readouterr().err


def test_build_writes_a_checked_model(tmp_path, capsys) -> None:
    assert main(["build", "resnet18", "--models-dir", str(tmp_path)]) == 0
    path = tmp_path / "resnet18.onnx"
    onnx.checker.check_model(str(path))
    meta = read_metadata(onnx.load(str(path), load_external_data=False))
    assert meta["weights"] == "untrained" and meta["name"] == "resnet18" and len(meta["layers"]) == 12
    assert main(["build", "resnet18", "--models-dir", str(tmp_path)]) == 0
    assert "exists" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["build", "--help"])


def test_eval_reports_accuracy(capsys) -> None:
    from app import data

    try:
        data.mnist_file()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    assert main(["eval", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "on the 10,000 MNIST test images" in out and "confusion" in out
    acc = float(out.split("accuracy ")[1].split("%")[0])
    assert acc >= 99.0


@pytest.mark.parametrize(("args", "says"), [
    (["serve", "--port", "99999"], "--port: 99999 is not within 0..65535"),  # uvicorn took it mod 65536
    (["build", "lenet5", "--force", "--seed", "-1"], "--seed: -1 is not within"),  # numpy's traceback
    (["download", "resnet18", "--deadline", "nan"], "--deadline: nan is not 0.001 or more"),  # a socket traceback
    (["download", "resnet18", "--deadline", "-1"], "--deadline: -1 is not"),  # "the mirror is trickling"
    (["build", "lenet5", "--models-dir", "FILE"], "--models-dir: FILE is not a folder"),  # FileExistsError
])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, monkeypatch, args: list[str], says: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("not a folder")
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and says in err and "Traceback" not in err, err


def test_a_bad_setting_names_its_variable(capsys, monkeypatch) -> None:
    monkeypatch.setenv("CONVSCOPE_MAX_CONCURRENT", "abc")
    assert main(["info", "lenet5"]) == 1  # was a ValueError traceback naming no variable
    err = capsys.readouterr().err.strip()
    assert err == "convscope info: CONVSCOPE_MAX_CONCURRENT must be an integer, not 'abc'", err
