"""Scan bodies whose outputs nothing inside the body reads, for tract.

A step may return a value that is both a body output and read by another body node (a
custom cell's step returns ``output, Identity(output)``; a masked step's state feeds the
output's Where). tract 0.23 fails to analyse such a body ("Failed analyse for node ...
Scan"; reproducer: tests/runtime_bugs/reproducers.py ``scan_output_read_in_body``). Targets
without ``scan_output_feeds_body`` get each such output written by an Identity of a renamed
value, which the body's nodes read instead: the same values.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .proto_walk import names_read


def _bodies(graph: onnx.GraphProto):
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                if node.op_type == "Scan":
                    yield attr.g
                yield from _bodies(attr.g)


def separate_scan_outputs(graph: onnx.GraphProto) -> None:
    """Rewrite, in place, every Scan body (nested ones too) of ``graph``."""
    for body in _bodies(graph):
        outputs = {o.name for o in body.output}
        read = {name for node in body.node for name in node.input} & outputs
        if not read:
            continue
        renamed = {name: f"{name}__value" for name in read}
        for node in body.node:
            node.input[:] = [renamed.get(n, n) for n in node.input]
            node.output[:] = [renamed.get(n, n) for n in node.output]
        body.node.extend(helper.make_node("Identity", [renamed[n]], [n]) for n in sorted(read))


def carry_outer_values(graph: onnx.GraphProto) -> None:
    """Pass every value a Scan body reads from the main graph that is not an initializer (a
    custom cell's constants, a graph input) as one more loop state that the body hands on
    unchanged. OpenVINO 2026.4's ONNX frontend counts such reads as loop states and then
    rejects the Scan ("body outputs (2) is less than num_initial_values (3)"; reproducer:
    tests/runtime/bugs/reproducers.py ``scan_reads_outer_input``); a state carried as is holds
    the same values at every step."""
    initializers = {i.name for i in graph.initializer}
    types = {v.name: v.type.tensor_type.elem_type for v in list(graph.input) + list(graph.value_info)}
    for node in graph.node:
        if node.op_type != "Scan":
            continue
        body = next(a.g for a in node.attribute if a.name == "body")
        n_scan = next(a.i for a in node.attribute if a.name == "num_scan_inputs")
        n_states = len(node.input) - n_scan
        local = {i.name for i in body.input} | {o for n in body.node for o in n.output} | \
            {i.name for i in body.initializer}
        outer = [name for name in dict.fromkeys(i for n in body.node for i in n.input)
                 if name and name not in local and name not in initializers]
        if not outer:
            continue
        inner = {name: f"{name}__carried" for name in outer}
        for body_node in body.node:
            body_node.input[:] = [inner.get(n, n) for n in body_node.input]
        inputs, outputs = list(body.input), list(body.output)
        inputs[n_states:n_states] = [helper.make_empty_tensor_value_info(inner[n]) for n in outer]
        outputs[n_states:n_states] = [helper.make_empty_tensor_value_info(f"{inner[n]}_out") for n in outer]
        for k, name in enumerate(outer):  # the outer value's element type where recorded, else float
            elem = types.get(name) or onnx.TensorProto.FLOAT
            inputs[n_states + k].type.tensor_type.elem_type = elem
            outputs[n_states + k].type.tensor_type.elem_type = elem
        body.node.extend(helper.make_node("Identity", [inner[n]], [f"{inner[n]}_out"]) for n in outer)
        del body.input[:]
        body.input.extend(inputs)
        del body.output[:]
        body.output.extend(outputs)
        node_inputs, node_outputs = list(node.input), list(node.output)
        node_inputs[n_states:n_states] = outer
        node_outputs[n_states:n_states] = [f"{node.output[0]}__{inner[n]}" for n in outer]
        node.input[:] = node_inputs
        node.output[:] = node_outputs


def final_states_from_sequences(graph: onnx.GraphProto) -> None:
    """Read the final states of a Scan whose graph reads two or more of them from the last
    step of scan outputs instead. tract 0.23 fails evaluating such a Scan ("Evaluating ...
    Scan", ConvLSTM return_state; reproducer: tests/runtime/bugs/reproducers.py
    ``scan_two_final_states``), and runs it when each state is also a scan output; a state
    output is the carried state after the step (after the mask too), so its last step is
    the final state."""
    read = names_read(graph)
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        nodes.append(node)
        if node.op_type != "Scan":
            continue
        body = next(a.g for a in node.attribute if a.name == "body")
        n_scan = next(a.i for a in node.attribute if a.name == "num_scan_inputs")
        n_states = len(node.input) - n_scan
        finals = [k for k in range(n_states) if node.output[k] and node.output[k] in read]
        if len(finals) < 2:
            continue
        last = f"{node.output[0]}__last_step"
        graph.initializer.append(onnx.numpy_helper.from_array(np.array(-1, np.int64), last))
        for k in finals:
            state_out = body.output[k]
            sequence = helper.make_tensor_value_info(f"{state_out.name}__seq", state_out.type.tensor_type.elem_type,
                                                     None)
            body.node.append(helper.make_node("Identity", [state_out.name], [sequence.name]))
            body.output.append(sequence)
            final = node.output[k]
            node.output[k] = f"{final}__unread"
            node.output.append(f"{final}__seq")
            nodes.append(helper.make_node("Gather", [f"{final}__seq", last], [final], axis=0))
    del graph.node[:]
    graph.node.extend(nodes)

