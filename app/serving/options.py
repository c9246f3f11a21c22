"""The predict options (top_k, activations, maps): their one definition, from which the JSON body, the form
fields and query parameters, their OpenAPI schemas, WS /ws/predict's messages and the README's table derive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

Activations = Literal["none", "summary", "maps"]


def _not_a_boolean(v: Any) -> Any:
    if isinstance(v, bool):  # JSON true is not the number 1
        raise ValueError("must be an integer, not a boolean")
    return v


# an integer field of a request (JSON, form field or query parameter): never true or false
Count = Annotated[int, BeforeValidator(_not_a_boolean)]
MaybeCount = Annotated[int | None, BeforeValidator(_not_a_boolean)]


class PredictOptions(BaseModel):
    """How much of one run the answer carries; JSON keys, form fields or query parameters alike."""

    model_config = ConfigDict(extra="forbid")
    top_k: Count = Field(5, ge=1, le=1000, description="classes in the answer, most probable first")
    activations: Activations = Field("summary", description="per layer: nothing, statistics (min, max, mean, "
                                     "zero fraction), or statistics and 8-bit maps")
    map_offset: Count = Field(0, ge=0, le=1 << 20, description="first channel of each layer's maps")
    map_channels: Count = Field(16, ge=1, le=4096, description="channels per layer in maps")
    map_size: Count = Field(56, ge=1, le=512, description="largest side of a map; bigger ones are pooled down")
    layers: list[str] | None = Field(None, max_length=4096, description="only these layers' maps (all when "
                                     "absent); comma-separated in a form field or query parameter")

    def maps(self) -> MapOptions:
        return MapOptions(self.map_offset, self.map_channels, self.map_size, tuple(self.layers or ()))


def _default(name: str) -> Any:
    return PredictOptions.model_fields[name].default


@dataclass(frozen=True)
class MapOptions:
    """The map options as app.serving.run uses them; the defaults are PredictOptions'."""

    offset: int = _default("map_offset")  # first channel sent
    channels: int = _default("map_channels")  # how many channels per layer
    size: int = _default("map_size")  # largest side sent; bigger maps are average-pooled down
    layers: tuple[str, ...] = ()  # only these layers (all when empty)


def form_schema() -> dict[str, dict[str, Any]]:
    """The options as form fields (all text on the wire): the JSON schema's bounds and defaults, ``layers``
    as one comma-separated string."""
    props = PredictOptions.model_json_schema()["properties"]
    out = {name: {k: v for k, v in p.items() if k != "title"} for name, p in props.items()}
    out["layers"] = {"type": "string", "description": props["layers"]["description"]}
    return out


def _accepted(p: dict[str, Any]) -> str:
    if "enum" in p:
        return ", ".join(f"`{v}`" for v in p["enum"])
    if "minimum" in p:
        return f"{p['minimum']:,} to {p['maximum']:,}"
    items = next(s for s in p["anyOf"] if s.get("type") == "array")
    return f"up to {items['maxItems']:,} layer names"


def markdown_table() -> str:
    """The README's table of options (tests/unit/test_predict_contract.py checks it is current)."""
    rows = ["| option | default | accepted | what |", "|---|---|---|---|"]
    for name, p in PredictOptions.model_json_schema()["properties"].items():
        default = "all layers" if p.get("default") is None else f"`{p['default']}`"
        rows.append(f"| `{name}` | {default} | {_accepted(p)} | {p['description']} |")
    return "\n".join(rows)
