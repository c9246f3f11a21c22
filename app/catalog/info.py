"""What a model is: ModelInfo (description, preprocessing, layers; immutable) and its JSON, plus the
normalisation constants the built-in models use. Whether a model is loaded is the serving registry's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.analysis import LayerInfo, totals

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the training set's pixel statistics (LeNet is trained on these)


@dataclass(frozen=True)
class ModelInfo:
    """Everything the API and pages say about a model, whether or not it is loaded. Frozen: a new
    version of a model is a new ModelInfo (dataclasses.replace), never an edit of the old one, so a
    session and the info it was loaded with always agree. Treat its lists and dicts as read-only."""

    name: str
    title: str
    family: str
    year: int | None
    source: str  # "builtin" or "file"
    input_kind: str  # "digit" or "photo"
    input_shape: list[int | None]
    labels: str  # "mnist", "imagenet", "index" or "sidecar"
    weights: str  # "trained", "imported", "file" or "untrained"
    layers: list[LayerInfo]
    outputs: list[str]  # graph tensor of each layer
    input_name: str = "input"
    prob_output: str = "prob"
    prob_is_softmax: bool = True
    description: str = ""
    card: dict[str, Any] = field(default_factory=dict)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    pixel_range: float = 1.0  # pixels scaled to [0, pixel_range] before mean/std (255 for Caffe-style models)
    bgr: bool = False  # channel order BGR (Caffe) instead of RGB
    label_names: list[str] | None = None  # a foreign model's own class names (from its sidecar)
    assumed: list[str] = field(default_factory=list)
    run_bytes: int = 0  # estimated memory of one run with every layer exposed (counted in the cache bound)
    layer_cap: dict[str, int] | None = None  # {"shown", "total"} when a foreign graph has more layers than exposed

    @property
    def digit_sized(self) -> bool:
        """A 1x28x28 or 1x32x32 input: a size the pad's digits are fed at (32 = 28 padded by 2, LeNet-5's)."""
        return list(self.input_shape) in ([1, 28, 28], [1, 32, 32])

    def summary(self, status: str = "available", error: str | None = None) -> dict[str, Any]:
        """The gallery's and /api/models' view; ``status`` and ``error`` come from the serving registry."""
        return self._summary(totals(self.layers), status, error)

    def _summary(self, t: dict[str, Any], status: str, error: str | None) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "family": self.family, "year": self.year,
            "source": self.source, "input_kind": self.input_kind, "input_shape": self.input_shape,
            "params": t["params"], "macs": t["macs"], "depth": t["depth"], "weights": self.weights,
            "status": status, "error": error, "description": self.description,
            "labels": self.labels, "assumed": self.assumed, "layer_cap": self.layer_cap,
            "sha256": self.card.get("checkpoint_sha256") or self.card.get("sha256"),
        }

    def detail(self, status: str = "available", error: str | None = None) -> dict[str, Any]:
        """The summary with every layer, the totals and the model card."""
        t = totals(self.layers)
        return {**self._summary(t, status, error), "layers": [layer.as_dict() for layer in self.layers],
                "totals": t, "card": self.card}
