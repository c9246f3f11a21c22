"""The one walk over a net (app.nets.trace): every op once, in graph order, with chained shapes and keys."""

from __future__ import annotations

import pytest

from app import nets
from app.nets.spec import BN, Conv, Flatten, Linear, Net, ReLU, Stage, has_params
from app.nets.trace import trace, weight_shapes


@pytest.mark.parametrize("name", nets.BUILTIN_NAMES)
def test_every_op_once_in_graph_order_with_chained_shapes(name: str) -> None:
    net = nets.get(name)
    traced = trace(net)
    assert [st.stage for st in traced] == list(net.stages)
    shape = net.input_shape
    for st in traced:
        stage = st.stage
        assert st.input_shape == shape
        assert [s.op for s in st.steps] == list(stage.all_ops())
        assert [s.branch for s in st.steps] == (["main"] * len(stage.ops) + ["shortcut"] * len(stage.shortcut or ())
                                                + ["post"] * len(stage.post))
        assert [s.key for s in st.steps if s.key] == stage.param_keys()
        assert all((s.key is not None) == has_params(s.op) for s in st.steps)
        main_out = shape
        for s in st.branch("main"):
            assert s.input_shape == main_out
            main_out = s.output_shape
        sc = shape
        for s in st.branch("shortcut"):
            assert s.input_shape == sc
            sc = s.output_shape
        if stage.shortcut is not None:
            assert sc == main_out
        out = main_out
        for s in st.branch("post"):
            assert s.input_shape == out
            out = s.output_shape
        assert st.output_shape == out
        shape = out
    assert len(weight_shapes(net)) == sum(len(s.tensors) for st in traced for s in st.steps)


def _net(*stages: Stage, input_shape: tuple[int, int, int] = (3, 8, 8)) -> Net:
    return Net("t", "t", "t", 2000, input_shape, stages, "photo", 10)


def test_a_shortcut_that_does_not_fit_the_block_is_refused() -> None:
    block = Stage("b", "block", (Conv(4, 3, 1, 1, bias=False), BN()), shortcut=(), post=(ReLU(),))
    with pytest.raises(ValueError, match="shortcut gives"):
        trace(_net(block))


def test_weight_tensors_follow_the_input_shape() -> None:
    net = _net(Stage("c", "conv", (Conv(4, 3, groups=1), ReLU())), Stage("f", "fc", (Flatten(), Linear(5))))
    assert weight_shapes(net) == {"c.0.weight": (4, 3, 3, 3), "c.0.bias": (4,),
                                  "f.0.weight": (5, 4 * 6 * 6), "f.0.bias": (5,)}
    with pytest.raises(ValueError, match="flat input"):
        trace(_net(Stage("f", "fc", (Linear(5),))))
