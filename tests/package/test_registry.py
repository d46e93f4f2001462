"""Every layer kind a parsed model can hold has one handler per stage, and a second
registration for a kind is refused instead of silently replacing the first."""

from __future__ import annotations

from typing import get_args

import pytest

from kerasrnn2onnx.lowering import STRATEGIES
from kerasrnn2onnx.lowering import layers as lowering_layers
from kerasrnn2onnx.lowering.model import LAYER_LOWERINGS, STRATEGY_LOWERINGS
from kerasrnn2onnx.lowering.strategy import BY_BATCH
from kerasrnn2onnx.reference import layers as reference_layers
from kerasrnn2onnx.reference.model import LAYER_RUNNERS
from kerasrnn2onnx.registry import Registry
from kerasrnn2onnx.spec.layers import FEED_FORWARD, AnyLayerSpec

KINDS = set(get_args(AnyLayerSpec))


@pytest.mark.parametrize("table", [LAYER_RUNNERS, LAYER_LOWERINGS], ids=lambda t: t.what)
def test_every_layer_kind_has_exactly_one_handler(table):
    assert set(table) == KINDS


@pytest.mark.parametrize("table", [reference_layers.RUNNERS, lowering_layers.LOWERINGS], ids=["reference", "lowering"])
def test_every_feed_forward_kind_has_its_computation(table):
    assert set(table) == set(FEED_FORWARD)


def test_every_strategy_a_plan_can_name_has_a_lowering():
    assert set(STRATEGY_LOWERINGS) == (set(STRATEGIES) - {"auto"}) | {BY_BATCH}


def test_a_second_registration_is_refused():
    table: Registry[str, int] = Registry("test table")
    table.add("a", 1)
    with pytest.raises(ValueError, match="test table: 'a' is already registered"):
        table.add("a", 2)
    assert table["a"] == 1 and len(table) == 1 and "a" in table and table.get("b") is None
    with pytest.raises(KeyError, match="nothing registered for 'b'"):
        table["b"]


def test_the_decorator_registers_every_key_given():
    table: Registry[type, object] = Registry("kinds")

    @table.register(int, float)
    def handler() -> None: ...

    assert table[int] is handler and table[float] is handler
    with pytest.raises(ValueError, match="kinds: int is already registered"):
        table.register(int)(handler)
