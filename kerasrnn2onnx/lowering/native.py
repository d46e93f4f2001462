"""Lower a recurrent layer to ONNX's own LSTM / GRU / RNN ops (one op per cell).

The ops take time-major input, so layers pass (time, batch, features) tensors to each
other and only the graph edges transpose. Exactness limits: activations must have an
ONNX attribute form; anything else is refused here (a Scan lowering is planned).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnsupportedError
from ..spec.types import CellSpec, GRUCellSpec, LSTMCellSpec, RecurrentLayerSpec
from .graph import GraphBuilder
from .weights import onnx_weights

OP_FOR_CELL = {"SimpleRNNCell": "RNN", "GRUCell": "GRU", "LSTMCell": "LSTM"}
DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}


@dataclass(frozen=True)
class LayerValues:
    """ONNX values a lowered layer produces.

    ``sequence`` is the Keras output sequence kept time-major (time, batch, units) in
    Keras's processing order, or ``None`` when the layer returns only its last output;
    ``last`` is (batch, units) when ``return_sequences`` is False; ``states`` are
    (batch, units) in Keras's order, present when ``return_state``.
    """

    sequence: str | None
    last: str | None
    states: tuple[str, ...]


def activation_attributes(cell: CellSpec, layer: str) -> dict[str, object]:
    """``activations`` / ``activation_alpha`` / ``activation_beta`` for one cell's op.

    onnxruntime consumes alpha and beta lists *by need*: only functions that take a
    parameter consume one, in order. Default activations are left implicit so that
    runtimes with restricted kernels (cuDNN) see a default node.
    """
    op = OP_FOR_CELL[cell.kind]
    if isinstance(cell, LSTMCellSpec):
        functions = [cell.recurrent_activation, cell.activation, cell.activation]
    elif isinstance(cell, GRUCellSpec):
        functions = [cell.recurrent_activation, cell.activation]
    else:
        functions = [cell.activation]
    names, alphas, betas = [], [], []
    for fn in functions:
        form = fn.onnx_form()
        if form is None:
            raise UnsupportedError(layer, f"activation '{fn.name}' has no ONNX {op} attribute form")
        name, alpha, beta = form
        names.append(name)
        if alpha is not None:
            alphas.append(float(alpha))
        if beta is not None:
            betas.append(float(beta))
    if names == DEFAULT_ACTIVATIONS[op] and not alphas and not betas:
        return {}
    return {"activations": names, "activation_alpha": alphas or None, "activation_beta": betas or None}


def check_native(layer: RecurrentLayerSpec) -> None:
    """Raise :class:`UnsupportedError` if the native ops cannot express ``layer`` exactly."""
    for cell in layer.cells:
        activation_attributes(cell, layer.name)


def lower_native(builder: GraphBuilder, layer: RecurrentLayerSpec, x: str) -> LayerValues:
    """Emit one op per cell; ``x`` is the time-major input sequence."""
    direction = "reverse" if layer.go_backwards else "forward"
    states: list[str] = []
    value = x
    last_value: str | None = None
    sequence_value: str | None = None
    for index, cell in enumerate(layer.cells):
        is_last = index == len(layer.cells) - 1
        scope = layer.name if len(layer.cells) == 1 else f"{layer.name}/{cell.name}"
        op = OP_FOR_CELL[cell.kind]
        w, r, b = onnx_weights(cell)
        inputs = [value, builder.constant(f"{scope}/W", w), builder.constant(f"{scope}/R", r)]
        if b is not None:
            inputs.append(builder.constant(f"{scope}/B", b))
        want_y = not is_last or layer.return_sequences
        want_h = (is_last and not layer.return_sequences) or layer.return_state
        want_c = isinstance(cell, LSTMCellSpec) and layer.return_state
        outputs = [f"{scope}/Y" if want_y else "", f"{scope}/Y_h" if want_h else ""]
        if op == "LSTM":
            outputs.append(f"{scope}/Y_c" if want_c else "")
        extra = {"linear_before_reset": int(cell.reset_after)} if isinstance(cell, GRUCellSpec) else {}
        produced = builder.node(
            op,
            inputs,
            outputs,
            scope,
            hidden_size=cell.units,
            direction=direction,
            **activation_attributes(cell, layer.name),
            **extra,
        )
        produced += [""] * (3 - len(produced))
        y, y_h, y_c = produced[0], produced[1], produced[2]
        if want_h:
            h = builder.squeeze(y_h, 0, f"{scope}/state_h")
            if layer.return_state:
                states.append(h)
            if is_last and not layer.return_sequences:
                last_value = h
        if want_c:
            states.append(builder.squeeze(y_c, 0, f"{scope}/state_c"))
        if want_y:
            value = builder.squeeze(y, 1, f"{scope}/Y_seq")
            if is_last:
                sequence_value = value
    if sequence_value is not None and layer.go_backwards:
        # ONNX reverse keeps Y in input time order; Keras returns processing order.
        sequence_value = builder.flip_time(sequence_value, f"{layer.name}/Y_processing_order")
    return LayerValues(sequence_value, last_value, tuple(states))
