"""Issue 14 item 3: the response schemas and the objects they describe have one shape. schemas.Layer is
derived from app.analysis.LayerInfo; ModelSummary and ModelDetail declare exactly the keys that
Service.models() and Service.detail() produce."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.analysis import LayerInfo
from app.config import Settings
from app.serving.service import Service
from app.web.schemas import Layer, ModelDetail, ModelSummary


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Service:
    return Service(Settings.from_env(models_dir=Path(tmp_path_factory.mktemp("m"))))


def test_layer_is_layerinfo_with_its_json_extras() -> None:
    import dataclasses

    own = [f.name for f in dataclasses.fields(LayerInfo)]
    assert [n for n in Layer.model_fields if n in own] == own  # every field, in LayerInfo's order
    assert set(Layer.model_fields) - set(own) == {"activation_size", "explain"}


def test_layer_schema_matches_as_dict(service: Service) -> None:
    layers = service.detail("resnet50")["layers"]
    block = next(x for x in layers if x.get("children"))
    for d in (layers[0], block, block["children"][0]):
        assert set(d) == set(Layer.model_fields) - {"explain"}, d["name"]
        Layer.model_validate(d)


def test_summary_and_detail_schemas_have_the_keys_served(service: Service) -> None:
    summaries = service.models(refresh=False)
    assert summaries and all(set(s) == set(ModelSummary.model_fields) for s in summaries)
    detail = service.detail("lenet5")
    assert set(detail) == set(ModelDetail.model_fields) - {"explain", "provider"}  # added by the route
    ModelDetail.model_validate({**detail, "provider": service.provider("lenet5")})
