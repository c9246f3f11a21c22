"""The small vocabulary an architecture is written in: primitive ops, stages, and a network.

A network is data: an input shape and a list of `Stage`s. A stage is what a user sees
as one layer (``conv1_1``, ``pool2``, ``layer3.1``); it holds a short chain of
primitive ops, and for residual blocks a shortcut branch that is added back before
the stage's final ops. The ONNX builder, the PyTorch reference, the seeded weights and
the analysis all interpret this one description, through one walk over it (app.nets.trace).
"""

from __future__ import annotations

from dataclasses import dataclass, field

Window = tuple[int, int, int]  # kernel, stride, padding of an op that slides a square window


@dataclass(frozen=True)
class Conv:
    out: int
    k: int
    s: int = 1
    p: int = 0
    groups: int = 1
    bias: bool = True

    @property
    def window(self) -> Window:
        return self.k, self.s, self.p


@dataclass(frozen=True)
class BN:
    eps: float = 1e-5


@dataclass(frozen=True)
class ReLU:
    pass


@dataclass(frozen=True)
class LRN:
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0


@dataclass(frozen=True)
class MaxPool:
    k: int
    s: int
    p: int = 0

    @property
    def window(self) -> Window:
        return self.k, self.s, self.p


@dataclass(frozen=True)
class GlobalAvgPool:
    pass


@dataclass(frozen=True)
class Flatten:
    pass


@dataclass(frozen=True)
class Linear:
    out: int


# The 1998 LeNet-5's own kinds (LeCun et al. 1998, section II-B and appendix A).
@dataclass(frozen=True)
class ScaledTanh:
    """The paper's squashing function f(a) = A tanh(S a), A = 1.7159, S = 2/3 (so f(+-1) = +-1)."""

    a: float = 1.7159
    s: float = 2 / 3


@dataclass(frozen=True)
class Subsample:
    """Trainable subsampling: each k x k block (stride k) is summed, times one coefficient per map, plus
    one bias per map (2 parameters per map)."""

    k: int = 2

    @property
    def window(self) -> Window:
        return self.k, self.k, 0


@dataclass(frozen=True)
class PartialConv:
    """A convolution where output map j sees only the input maps ``table[j]`` (C3's Table I): one k x k
    kernel per connection plus a bias per output map."""

    out: int
    k: int
    table: tuple[tuple[int, ...], ...]

    @property
    def connections(self) -> int:
        return sum(len(t) for t in self.table)

    @property
    def window(self) -> Window:
        return self.k, 1, 0


@dataclass(frozen=True)
class RBF:
    """Euclidean radial basis units with fixed codes: y_i = -sum_j (x_j - w_ij)^2. The paper's output is the
    distance itself (a penalty, the smallest wins); it is negated here so that, like a logit, the largest
    wins and the graph's softmax gives the paper's posterior exp(-y_i) / sum_k exp(-y_k)."""

    codes: tuple[tuple[float, ...], ...]

    @property
    def out(self) -> int:
        return len(self.codes)


Op = Conv | BN | ReLU | LRN | MaxPool | GlobalAvgPool | Flatten | Linear | ScaledTanh | Subsample | PartialConv | RBF
PARAM_OPS = (Conv, BN, Linear, Subsample, PartialConv)  # the ops that hold weights (app.nets.trace.tensors)
WINDOWED = (Conv, MaxPool, Subsample, PartialConv)  # the ops with a ``window`` (kernel, stride, padding)


def has_params(op: Op) -> bool:
    return isinstance(op, PARAM_OPS)


def window(op: Op) -> Window | None:
    """(kernel, stride, padding) of an op that slides a square window over its input, else None."""
    return op.window if isinstance(op, WINDOWED) else None


# What a stage is, for people: the kind shown in tables and used to pick a colour.
KINDS = ("conv", "pool", "lrn", "fc", "block", "gap")


@dataclass(frozen=True)
class Stage:
    """One user-visible layer: ``ops`` applied in turn; the output is named ``name``.

    For a residual block, ``shortcut`` is the branch added to the output of ``ops``
    (an empty tuple is the identity) and ``post`` runs after the addition.
    ``keys`` names the parameter-holding ops (``PARAM_OPS``) in ``ops`` then
    ``shortcut``, so that weights have stable names (torchvision's, where they exist).
    """

    name: str
    kind: str
    ops: tuple[Op, ...]
    shortcut: tuple[Op, ...] | None = None
    post: tuple[Op, ...] = ()
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"stage {self.name}: unknown kind {self.kind!r}")
        n = self.param_op_count
        if self.keys and len(self.keys) != n:
            raise ValueError(f"stage {self.name}: {n} parameter ops but {len(self.keys)} keys")

    def all_ops(self) -> tuple[Op, ...]:
        return self.ops + (self.shortcut or ()) + self.post

    @property
    def param_op_count(self) -> int:
        return sum(has_params(o) for o in self.all_ops())

    def param_keys(self) -> list[str]:
        """One weight-name prefix per parameter-holding op, in ``ops, shortcut, post`` order."""
        return list(self.keys) if self.keys else [f"{self.name}.{i}" for i in range(self.param_op_count)]


@dataclass(frozen=True)
class Net:
    """A whole architecture: metadata beside the layer list, torchvision style."""

    name: str
    title: str
    family: str
    year: int
    input_shape: tuple[int, int, int]  # C, H, W
    stages: tuple[Stage, ...]
    input_kind: str  # "digit" or "photo"
    num_classes: int
    description: str = ""
    paper: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def labels_kind(self) -> str:
        return "mnist" if self.num_classes == 10 and self.input_kind == "digit" else "imagenet"
