"""The graph IR's promises: every node is a Node whose ``out`` holds the facts of each of its
outputs, every tensor a node reads has facts (also after the spec is edited), and every cell
kind has one step per stage."""

from __future__ import annotations

from typing import get_args

import pytest

import kerasrnn2onnx
from kerasrnn2onnx.lowering.cells import CELL_STEPS
from kerasrnn2onnx.reference.cells import REFERENCE_STEPS
from kerasrnn2onnx.spec.cells import CellSpec
from kerasrnn2onnx.spec.node import Node, Ref
from kerasrnn2onnx.spec.parse_cells import CELL_PARSERS, LAYER_TO_CELL

from ..conftest import fixture_params


@pytest.mark.parametrize("fixture", fixture_params())
def test_every_tensor_has_its_facts_once(fixture):
    spec = kerasrnn2onnx.load(fixture.model, **fixture.load_kwargs())
    for inp in spec.inputs:
        facts = spec.facts(Ref(inp.name))
        assert (facts.batch, facts.rank, facts.width) == (inp.batch, inp.rank, inp.features)
    for layer in spec.layers:
        assert isinstance(layer, Node) and layer.inputs and layer.out, layer.name
        for ref in layer.inputs:
            spec.facts(ref)  # a KeyError here is a tensor read before (or without) being made
        first = spec.facts(layer.inputs[0])
        for index, facts in enumerate(layer.out):
            assert spec.facts(Ref(layer.name, index)) is facts
            assert facts.batch == first.batch  # the batch is the data's, through every layer
            assert not isinstance(facts.time, str) or facts.time.endswith("time")  # a graph dim name
    for out in spec.outputs:
        spec.facts(out.tensor)


def test_an_edited_spec_has_facts_that_agree_with_it():
    """``replace(spec, inputs=...)`` (an input given a fixed length) re-derives the facts."""
    from dataclasses import replace

    from ..conftest import FIXTURES

    spec = kerasrnn2onnx.load(FIXTURES / "k3_gru.keras")
    name = spec.inputs[0].name
    assert spec.facts(Ref(name)).time == "time"
    fixed = replace(spec, inputs=(replace(spec.inputs[0], timesteps=6),))
    assert (fixed.facts(Ref(name)).time, fixed.facts(Ref(name)).steps) == (6, 6)
    assert fixed.facts(fixed.layers[0].inputs[0]).time == 6


def test_every_cell_kind_has_a_step_in_every_stage():
    kinds = set(get_args(CellSpec))
    assert set(REFERENCE_STEPS) == kinds
    assert set(CELL_STEPS) == kinds
    assert set(LAYER_TO_CELL.values()) <= set(CELL_PARSERS)
