"""The built-in architectures, by name; unknown names fail loudly."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from app.nets import alexnet as _alexnet
from app.nets import lenet as _lenet
from app.nets import resnet as _resnet
from app.nets import vgg as _vgg
from app.nets.spec import Net, Stage

_BUILDERS: dict[str, Callable[[], Net]] = {
    "lenet5": _lenet.lenet5,
    "lenet5-1998": _lenet.lenet5_1998,
    "alexnet": _alexnet.alexnet,
    "alexnet-torchvision": _alexnet.alexnet_torchvision,
    **{name: (lambda n=name: _vgg.vgg(n)) for name in _vgg.variants},
    **{f"resnet{d}": (lambda d=d: _resnet.resnet(d)) for d in _resnet.depths},
}
ALIASES = {"vgg16": "vgg16-3"}
BUILTIN_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


def get(name: str) -> Net:
    """The definition of a built-in architecture; KeyError naming the known ones otherwise."""
    key = canonical(name)
    if key not in _BUILDERS:
        raise KeyError(f"no built-in architecture named {name!r}; known: {', '.join(BUILTIN_NAMES)}")
    return _build(key)


@cache
def _build(key: str) -> Net:
    return _BUILDERS[key]()


__all__ = ["ALIASES", "BUILTIN_NAMES", "Net", "Stage", "canonical", "get"]
