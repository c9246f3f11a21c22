"""Weight dictionaries for a definition: their names and shapes, and seeded He initialisation.

Names follow torchvision where it has the model (``features.0.weight``, ``layer1.0.bn1.running_var``),
so imported checkpoints map onto a definition by key.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Mapping

import numpy as np

from app.nets.spec import Net
from app.nets.trace import trace, weight_shapes

Weights = Mapping[str, np.ndarray]


class HeWeights(Mapping[str, np.ndarray]):
    """Deterministic He-initialised weights (uniform), zero biases, and batch norms that pass activations on,
    generated one tensor at a time on access (a 550 MB VGG never sits in memory twice).

    Each tensor's random stream is seeded by (seed, crc32 of its name), so a tensor does not
    depend on the order of access. The last batch norm of each residual branch is scaled by
    1/sqrt(number of blocks) so the residual sum grows by about e over the whole network
    instead of doubling per block: activations stay finite and readable at every depth of an
    untrained ResNet-152.
    """

    def __init__(self, net: Net, seed: int = 0) -> None:
        self.shapes = weight_shapes(net)
        self.seed = seed
        blocks = [st for st in trace(net) if st.stage.shortcut is not None]
        self.blocks = len(blocks)
        self.last_bn = {[s.key for s in st.branch("main") if s.key][-1] for st in blocks}

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.shapes[name]

    def __getitem__(self, name: str) -> np.ndarray:
        shape = self.shapes[name]
        key, _, kind = name.rpartition(".")
        if kind == "weight" and len(shape) > 1:
            # He (Kaiming) uniform: U(-b, b), b = sqrt(6 / fan_in), variance 2 / fan_in as He-normal,
            # and uniform draws are ~2x faster than normal ones (VGG's 138M weights in ~2 s)
            rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
            a = rng.random(shape, dtype=np.float32)
            a -= np.float32(0.5)
            a *= np.float32(2 * math.sqrt(6.0 / int(np.prod(shape[1:]))))
            return a
        if kind == "coef":  # a subsampling's coefficient: 1/4 of a 2x2 sum is the average
            return np.full(shape, 0.25, dtype=np.float32)
        if kind in ("weight", "running_var"):  # BN scale and variance
            scale = 1.0 / math.sqrt(self.blocks) if (kind == "weight" and key in self.last_bn) else 1.0
            return np.full(shape, scale, dtype=np.float32)
        return np.zeros(shape, dtype=np.float32)  # biases, BN shift and mean

    def __iter__(self) -> Iterator[str]:
        return iter(self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)


def he_init(net: Net, seed: int = 0) -> dict[str, np.ndarray]:
    """All of ``HeWeights`` as a plain dict."""
    return dict(HeWeights(net, seed))


def check_weights(net: Net, weights: Weights) -> None:
    """Raise ValueError naming the first missing, unexpected or misshapen tensor."""
    want = weight_shapes(net)
    for name, shape in want.items():
        if name not in weights:
            raise ValueError(f"{net.name}: missing weight {name!r} (shape {list(shape)})")
        shape_of = getattr(weights, "shape_of", None)
        got = tuple(shape_of(name) if shape_of else weights[name].shape)
        if got != shape:
            raise ValueError(f"{net.name}: weight {name!r} has shape {list(got)}, expected {list(shape)}")
    extra = sorted(set(weights) - set(want))
    if extra:
        raise ValueError(f"{net.name}: unexpected weight {extra[0]!r}" +
                         (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
