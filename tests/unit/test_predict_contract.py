"""Issue 14 item 3: the predict options have one definition (app.serving.options); the README's table, the
map defaults, the JSON body, the form fields and their OpenAPI schemas all agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import Settings
from app.serving.options import MapOptions, PredictOptions, markdown_table
from app.web.app import create_app
from app.web.routes.api import _FORM_FIELDS
from app.web.schemas import PredictJSON

README = Path(__file__).resolve().parents[2] / "README.md"
BOUNDS = ("default", "minimum", "maximum", "enum")


def test_readme_table_is_the_generated_one() -> None:
    found = re.search(r"<!-- predict-options:[^\n]*-->\n(.*?)\n<!-- /predict-options -->", README.read_text("utf-8"),
                      re.S)
    assert found, "README.md lost its predict-options markers"
    assert found.group(1) == markdown_table(), (
        "README.md's options table is stale; paste the output of "
        "python -c 'from app.serving.options import markdown_table; print(markdown_table())'")


def test_table_says_the_runtime_defaults() -> None:
    table = markdown_table()
    for name, f in PredictOptions.model_fields.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        assert (f"`{f.default}`" if f.default is not None else "all layers") in row, row


def test_map_defaults_are_the_options_defaults() -> None:
    o = PredictOptions()
    assert o.maps() == MapOptions()
    assert (MapOptions().offset, MapOptions().channels, MapOptions().size) == (o.map_offset, o.map_channels,
                                                                              o.map_size) == (0, 16, 56)


def test_json_body_is_the_input_plus_the_options() -> None:
    assert set(PredictJSON.model_fields) == {"model", "image", "pixels", *PredictOptions.model_fields}
    assert _FORM_FIELDS == {"model", "image", *PredictOptions.model_fields}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return create_app(Settings.from_env(models_dir=tmp_path_factory.mktemp("m"))).openapi()


@pytest.mark.parametrize("path", ["/predict", "/api/models/{name}/predict", "/api/explain",
                                  "/api/models/{name}/explain", "/api/models/{name}/unit", "/api/models/{name}/lrn"])
def test_form_and_json_schemas_carry_the_same_bounds(openapi: dict, path: str) -> None:
    content = openapi["paths"][path]["post"]["requestBody"]["content"]
    form = content["multipart/form-data"]["schema"]["properties"]
    body = content["application/json"]["schema"]["properties"]
    for name in PredictOptions.model_fields:
        if name == "layers":  # a list in JSON, one comma-separated string in a form
            assert form[name]["type"] == "string" and body[name]["anyOf"][0]["type"] == "array"
            continue
        want = {k: body[name][k] for k in BOUNDS if k in body[name]}
        assert {k: form[name][k] for k in BOUNDS if k in form[name]} == want, (path, name)
        assert "default" in want and ("enum" in want or {"minimum", "maximum"} <= set(want)), (path, name, want)
