"""Fixture sets of the feed-forward layer families (convolutions, pooling, padding, activation
layers, TimeDistributed of anything) and of whole models built from them.

Imported by make_fixtures.py, which passes its ``Fx`` and ``lay`` in (this module imports no
Keras itself). Per-layer fixtures are functional models that apply every layer under test to
the same input in parallel and return each output, plus a small recurrent tail on one of them
(a convertible model has a recurrent layer). Keras 2 fixtures give the layers user-chosen
names; Keras 3 fixtures keep default names until .keras weights are found by Keras 3's
object-path rule for user-named layers (issue 11).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _layer(keras: Any, spec: Any) -> Any:
    _, cls, args, kwargs = spec
    return getattr(keras.layers, cls)(*args, **kwargs)


def parallel(shape: tuple, branches: list, tail: list, dtype: str = "float32") -> Callable:
    """build(keras): x = Input(shape); each branch (a list of lay(...)) applied to x; outputs
    every branch's result, then ``tail`` applied to the first branch's result."""
    def build(keras: Any):
        x = keras.Input(shape, dtype=dtype)
        outs = []
        for branch in branches:
            y = x
            for spec in branch:
                y = _layer(keras, spec)(y)
            outs.append(y)
        y = outs[0]
        for spec in tail:
            y = _layer(keras, spec)(y)
        return [x], outs + [y]
    return build


def conv_sets(prefix: str, fmt: str, Fx: Any, lay: Callable) -> list:
    k3 = prefix == "k3"

    def named(name: str) -> dict:
        return {} if k3 else {"name": name}

    tag = ("layer_family",)
    # TensorFlow's CPU kernels refuse channels_first convolutions/pooling and grouped
    # convolutions: those arguments are covered by the Keras 3 (JAX) fixtures only.
    conv2d = [
        [lay("Conv2D", 4, (3, 2), **named("conv-valid"))],
        [lay("Conv2D", 3, 3, strides=2, padding="same", activation="relu", **named("conv-same-s2"))],
        [lay("Conv2D", 4, (2, 3), dilation_rate=2, padding="same", use_bias=False, **named("conv-dilated"))],
        [lay("Conv2D", 2, (3, 3), strides=(1, 2), padding="same", **named("conv-same-s12"))],
    ]
    if k3:
        conv2d += [[lay("Conv2D", 6, 3, groups=3, padding="same")],
                   [lay("Conv2D", 3, (2, 3), data_format="channels_first", strides=(1, 2))]]
    conv2d_desc = ("parallel branches on x (6, 7, 3): Conv2D(4, (3, 2)) valid; Conv2D(3, 3, strides=2, "
                   "padding='same', relu); Conv2D(4, (2, 3), dilation_rate=2, 'same', use_bias=False); "
                   "Conv2D(2, 3, strides=(1, 2), 'same')"
                   + ("; Conv2D(6, 3, groups=3, 'same'); Conv2D(3, (2, 3), channels_first, strides=(1, 2)) "
                      "(x read as (C=6, H=7, W=3))" if k3 else "")
                   + "; tail Reshape((4, 6)) of the first -> GRU(2)")
    conv1d = [
        [lay("Conv1D", 3, 3, padding="causal", dilation_rate=2, **named("causal-d2"))],
        [lay("SeparableConv1D", 3, 3, depth_multiplier=2, padding="same", **named("sep1d"))],
        [lay("DepthwiseConv1D", 3, depth_multiplier=2, strides=2, **named("depth1d"))],
        [lay("Conv1DTranspose", 3, 3, strides=2, **named("deconv1d"))],
        [lay("Conv1DTranspose", 2, 4, strides=2, padding="same", **named("deconv1d-same"))],
        [lay("Conv1DTranspose", 2, 3, strides=2, padding="same", output_padding=0, **named("deconv1d-op"))],
        [lay("ZeroPadding1D", (1, 2), **named("pad1d"))],
        [lay("Cropping1D", (2, 1), **named("crop1d"))],
        [lay("UpSampling1D", 3, **named("up1d"))],
        [lay("MaxPooling1D", 3, strides=2, padding="same", **named("maxpool1d"))],
        [lay("GlobalAveragePooling1D", keepdims=True, **named("gap1d-keep"))],
    ]
    if k3:
        conv1d += [[lay("Conv1D", 4, 2, groups=2)], [lay("Conv1D", 2, 3, data_format="channels_first")],
                   [lay("AveragePooling1D", 2, data_format="channels_first")],
                   [lay("GlobalMaxPooling1D", data_format="channels_first")]]
    conv1d_desc = ("parallel branches on x (9, 4): Conv1D(3, 3, causal, dilation 2); SeparableConv1D(3, 3, "
                   "depth_multiplier=2, same); DepthwiseConv1D(3, depth_multiplier=2, strides=2); "
                   "Conv1DTranspose(3, 3, strides=2) (valid); Conv1DTranspose(2, 4, strides=2, same); "
                   "Conv1DTranspose(2, 3, strides=2, same, output_padding=0); ZeroPadding1D((1, 2)); "
                   "Cropping1D((2, 1)); UpSampling1D(3); MaxPooling1D(3, strides=2, same); "
                   "GlobalAveragePooling1D(keepdims=True)"
                   + ("; Conv1D(4, 2, groups=2); Conv1D(2, 3, channels_first); AveragePooling1D(2, "
                      "channels_first); GlobalMaxPooling1D(channels_first)" if k3 else "")
                   + "; tail LSTM(2) on the first")
    sep2d = [
        [lay("SeparableConv2D", 4, 3, depth_multiplier=2, padding="same", **named("sep2d"))],
        [lay("SeparableConv2D", 2, (2, 3), strides=2, use_bias=False, **named("sep2d-s2"))],
        [lay("DepthwiseConv2D", 3, depth_multiplier=2, strides=2, padding="same", **named("depth2d"))],
        [lay("DepthwiseConv2D", (2, 3), dilation_rate=2, **named("depth2d-dil"))],
        [lay("Conv2DTranspose", 2, 3, strides=2, **named("deconv2d"))],
        [lay("Conv2DTranspose", 3, (3, 2), strides=(2, 1), padding="same", **named("deconv2d-same"))],
        [lay("Conv2DTranspose", 2, 3, strides=2, padding="same", output_padding=1, **named("deconv2d-op"))],
        [lay("Conv2DTranspose", 2, 3, dilation_rate=2, **named("deconv2d-dil"))],
    ]
    sep2d_desc = ("parallel branches on x (6, 6, 3): SeparableConv2D(4, 3, depth_multiplier=2, same); "
                  "SeparableConv2D(2, (2, 3), strides=2, use_bias=False); DepthwiseConv2D(3, "
                  "depth_multiplier=2, strides=2, same); DepthwiseConv2D((2, 3), dilation_rate=2); "
                  "Conv2DTranspose(2, 3, strides=2); Conv2DTranspose(3, (3, 2), strides=(2, 1), same); "
                  "Conv2DTranspose(2, 3, strides=2, same, output_padding=1); Conv2DTranspose(2, 3, "
                  "dilation_rate=2); tail Reshape((6, 24)) of the first -> SimpleRNN(2)")
    pool2d = [
        [lay("MaxPooling2D", 2, **named("max2"))],
        [lay("MaxPooling2D", (3, 2), strides=(2, 2), padding="same", **named("max32-same"))],
        [lay("AveragePooling2D", 3, strides=2, padding="same", **named("avg3-same"))],
        [lay("AveragePooling2D", (2, 3), **named("avg23"))],
        [lay("GlobalMaxPooling2D", **named("gmax2d"))],
        [lay("GlobalAveragePooling2D", keepdims=True, **named("gavg2d-keep"))],
        [lay("ZeroPadding2D", 1, **named("pad2d"))],
        [lay("ZeroPadding2D", ((1, 0), (2, 1)), **named("pad2d-asym"))],
        [lay("Cropping2D", ((1, 0), (0, 2)), **named("crop2d"))],
        [lay("UpSampling2D", (2, 3), **named("up2d"))],
        [lay("UpSampling2D", 2, interpolation="bilinear", **named("up2d-bilinear"))],
    ]
    if k3:
        pool2d += [[lay("MaxPooling2D", 2, data_format="channels_first")],
                   [lay("AveragePooling2D", 2, padding="same", data_format="channels_first")],
                   [lay("GlobalAveragePooling2D", data_format="channels_first")],
                   [lay("ZeroPadding2D", (1, 2), data_format="channels_first")],
                   [lay("UpSampling2D", 2, interpolation="bilinear", data_format="channels_first")]]
    pool2d_desc = ("parallel branches on x (7, 6, 2): MaxPooling2D(2); MaxPooling2D((3, 2), strides=2, same); "
                   "AveragePooling2D(3, strides=2, same) (padding not counted); AveragePooling2D((2, 3)); "
                   "GlobalMaxPooling2D; GlobalAveragePooling2D(keepdims=True); ZeroPadding2D(1); "
                   "ZeroPadding2D(((1, 0), (2, 1))); Cropping2D(((1, 0), (0, 2))); UpSampling2D((2, 3)); "
                   "UpSampling2D(2, bilinear)"
                   + ("; channels_first: MaxPooling2D(2), AveragePooling2D(2, same), GlobalAveragePooling2D, "
                      "ZeroPadding2D((1, 2)), UpSampling2D(2, bilinear)" if k3 else "")
                   + "; tail Reshape((3, 6)) of the first -> GRU(2)")
    vol = [
        [lay("Conv3D", 3, (2, 3, 3), **named("conv3d"))],
        [lay("Conv3D", 2, 3, strides=(1, 2, 2), padding="same", activation="tanh", **named("conv3d-same"))],
        [lay("MaxPooling3D", (1, 2, 2), **named("max3d"))],
        [lay("AveragePooling3D", 2, padding="same", **named("avg3d-same"))],
        [lay("GlobalMaxPooling3D", **named("gmax3d"))],
        [lay("GlobalAveragePooling3D", **named("gavg3d"))],
        [lay("ZeroPadding3D", (1, 0, 2), **named("pad3d"))],
        [lay("Cropping3D", ((1, 0), (1, 1), (0, 2)), **named("crop3d"))],
        [lay("UpSampling3D", (1, 2, 2), **named("up3d"))],
    ]
    if k3:
        vol += [[lay("Conv3D", 2, 2, data_format="channels_first")],
                [lay("MaxPooling3D", 2, data_format="channels_first")]]
    vol_desc = ("parallel branches on x (4, 5, 6, 2) (time, h, w, c): Conv3D(3, (2, 3, 3)); Conv3D(2, 3, "
                "strides=(1, 2, 2), same, tanh); MaxPooling3D((1, 2, 2)); AveragePooling3D(2, same); "
                "GlobalMaxPooling3D; GlobalAveragePooling3D; ZeroPadding3D((1, 0, 2)); Cropping3D(((1, 0), "
                "(1, 1), (0, 2))); UpSampling3D((1, 2, 2))"
                + ("; Conv3D(2, 2, channels_first); MaxPooling3D(2, channels_first)" if k3 else "")
                + "; tail Reshape((3, 36)) of the first -> LSTM(2)")
    return [
        Fx(f"{prefix}_conv2d_family", [], conv2d_desc, fmt=fmt, api="functional",
           build=parallel((6, 7, 3), conv2d, [lay("Reshape", (4, 6 * 4)), lay("GRU", 2)]),
           input_shape=(6, 7, 3), cases=((2, 6),), tags=tag + ("rank4",)),
        Fx(f"{prefix}_conv1d_family", [], conv1d_desc, fmt=fmt, api="functional",
           build=parallel((9, 4), conv1d, [lay("LSTM", 2)]), features=4, timesteps=9,
           cases=((2, 9),), tags=tag),
        Fx(f"{prefix}_sepconv_deconv2d", [], sep2d_desc, fmt=fmt, api="functional",
           build=parallel((6, 6, 3), sep2d, [lay("Reshape", (6, 24)), lay("SimpleRNN", 2)]),
           input_shape=(6, 6, 3), cases=((2, 6),), tags=tag + ("rank4",)),
        Fx(f"{prefix}_pool_pad_2d", [], pool2d_desc, fmt=fmt, api="functional",
           build=parallel((7, 6, 2), pool2d, [lay("Reshape", (3, 6)), lay("GRU", 2)]),
           input_shape=(7, 6, 2), cases=((2, 7),), tags=tag + ("rank4",)),
        Fx(f"{prefix}_volumes_3d", [], vol_desc, fmt=fmt, api="functional",
           build=parallel((4, 5, 6, 2), vol, [lay("Reshape", (3, 36)), lay("LSTM", 2)]),
           input_shape=(4, 5, 6, 2), cases=((1, 4),), tags=tag + ("rank5",)),
    ]


def activation_sets(prefix: str, fmt: str, Fx: Any, lay: Callable) -> list:
    k3 = prefix == "k3"

    def named(name: str) -> dict:
        return {} if k3 else {"name": name}

    tag = ("layer_family",)
    seq = [
        [lay("ReLU", max_value=6.0, **named("relu6"))],
        [lay("ReLU", negative_slope=0.1, threshold=0.5, **named("relu-thr"))],
        [lay("ReLU", max_value=2.5, negative_slope=0.2, **named("relu-clip-leak"))],
        [lay("LeakyReLU", 0.2, **named("leaky"))],
        [lay("ELU", alpha=0.7, **named("elu"))],
        [lay("PReLU", shared_axes=[1], **named("prelu-time"))],
        [lay("Softmax", axis=1, **named("softmax-time"))],
        [lay("Softmax", **named("softmax"))],
        [lay("UnitNormalization", **named("unitnorm"))],
        [lay("Rescaling", 0.5, offset=-1.0, **named("rescale"))],
        [lay("Normalization", mean=[0.5, -1.0, 0.0, 2.0], variance=[1.0, 4.0, 0.25, 2.0], **named("norm-given"))],
    ]
    seq += [[lay("Identity")]] if k3 else [[lay("ThresholdedReLU", theta=0.3, name="thresholded")]]
    seq_desc = ("parallel branches on x (None, 4) (dynamic time): ReLU(max_value=6); ReLU(negative_slope=0.1, "
                "threshold=0.5); ReLU(max_value=2.5, negative_slope=0.2); LeakyReLU(0.2); ELU(alpha=0.7); "
                "PReLU(shared_axes=[1]); Softmax(axis=1) (over time); Softmax(); UnitNormalization(); "
                "Rescaling(0.5, offset=-1); Normalization(mean=[0.5, -1, 0, 2], variance=[1, 4, 0.25, 2]); "
                + ("Identity()" if k3 else "ThresholdedReLU(theta=0.3)") + "; tail GRU(2) on the first")
    img = [
        [lay("PReLU", shared_axes=[1, 2], **named("prelu-shared"))],
        [lay("PReLU", **named("prelu-full"))],
        [lay("Softmax", axis=[1, 2], **named("softmax-hw"))],
        [lay("UnitNormalization", axis=[1, 2], **named("unitnorm-hw"))],
        [lay("Normalization", axis=-1, mean=[1.0, -0.5], variance=[0.5, 3.0], invert=True,
             **named("norm-invert"))],
        [lay("Rescaling", [0.5, 2.0], offset=0.1, **named("rescale-channels"))],
        [lay("ReLU", max_value=1.0, **named("relu1"))],
    ]
    img_desc = ("parallel branches on x (3, 4, 2): PReLU(shared_axes=[1, 2]); PReLU(); Softmax(axis=[1, 2]); "
                "UnitNormalization(axis=[1, 2]); Normalization(axis=-1, mean=[1, -0.5], variance=[0.5, 3], "
                "invert=True); Rescaling([0.5, 2], "
                "offset=0.1); ReLU(max_value=1); tail Reshape((3, 8)) of the first -> LSTM(2)")
    return [
        Fx(f"{prefix}_activation_layers", [], seq_desc, fmt=fmt, api="functional",
           build=parallel((None, 4), seq, [lay("GRU", 2)]), features=4, cases=((2, 5), (1, 7)), tags=tag),
        Fx(f"{prefix}_activation_layers_4d", [], img_desc, fmt=fmt, api="functional",
           build=parallel((3, 4, 2), img, [lay("Reshape", (3, 8)), lay("LSTM", 2)]), input_shape=(3, 4, 2),
           cases=((2, 3),), tags=tag + ("rank4",)),
    ]


def model_sets(prefix: str, fmt: str, Fx: Any, lay: Callable) -> list:
    """Whole models of the families users build around recurrent layers."""
    k3 = prefix == "k3"

    def named(name: str) -> dict:
        return {} if k3 else {"name": name}

    tag = ("model", "whole_model")
    td = "TimeDistributed"
    return [
        Fx(f"{prefix}_crnn_ocr",
           [lay("Conv2D", 4, 3, padding="same", activation="relu", **named("conv-1")),
            lay("MaxPooling2D", 2, **named("pool-1")),
            lay("Conv2D", 4, 3, padding="same", activation="relu", **named("conv-2")),
            lay("MaxPooling2D", 2, **named("pool-2")),
            lay("Reshape", (4, 8), **named("to-sequence")), lay("Dense", 6, activation="relu", **named("dense")),
            lay("Bidirectional", lay("LSTM", 4, return_sequences=True), **named("bi-lstm")),
            lay("Dense", 5, activation="softmax", **named("char-probs"))],
           "CRNN for OCR: Input((16, 8, 1)) image (width, height, 1) -> Conv2D(4, 3, same, relu) -> "
           "MaxPooling2D(2) -> Conv2D(4, 3, same, relu) -> MaxPooling2D(2) -> Reshape((4, 8)) (width as time) "
           "-> Dense(6, relu) -> Bidirectional(LSTM(4, seq)) -> Dense(5, softmax)", fmt=fmt,
           input_shape=(16, 8, 1), cases=((2, 16),), tags=tag + ("rank4",)),
        Fx(f"{prefix}_deepspeech",
           [lay("ZeroPadding2D", ((2, 2), (1, 1)), **named("pad")),
            lay("Conv2D", 4, (5, 3), strides=2, **named("conv")), lay("ReLU", max_value=20.0, **named("clipped-relu")),
            lay("Reshape", (-1, 16), **named("to-frames")),
            lay("Bidirectional", lay("GRU", 4, return_sequences=True), **named("bi-gru")),
            lay("Bidirectional", lay("LSTM", 3, return_sequences=True), **named("bi-lstm")),
            lay(td, lay("Dense", 5), **named("logits"))],
           "DeepSpeech-style: Input((None, 8, 1)) spectrogram (dynamic time, 8 bins) -> ZeroPadding2D(((2, 2), "
           "(1, 1))) -> Conv2D(4, (5, 3), strides=2) -> ReLU(max_value=20) -> Reshape((-1, 16)) -> "
           "Bidirectional(GRU(4, seq)) -> Bidirectional(LSTM(3, seq)) -> TimeDistributed(Dense(5))", fmt=fmt,
           input_shape=(None, 8, 1), cases=((2, 9), (1, 12)), tags=tag + ("rank4",)),
        Fx(f"{prefix}_lipnet",
           [lay("ZeroPadding3D", (1, 2, 2), **named("pad3d")),
            lay("Conv3D", 4, (3, 5, 5), strides=(1, 2, 2), activation="relu", **named("conv3d")),
            lay("MaxPooling3D", (1, 2, 2), **named("pool3d")),
            lay(td, lay("Flatten"), **named("frames")),
            lay("Bidirectional", lay("GRU", 3, return_sequences=True), **named("bi-gru")),
            lay("Dense", 5, activation="softmax", **named("probs"))],
           "LipNet-style: Input((4, 8, 8, 1)) video (time, h, w, c) -> ZeroPadding3D((1, 2, 2)) -> Conv3D(4, "
           "(3, 5, 5), strides=(1, 2, 2), relu) -> MaxPooling3D((1, 2, 2)) -> TimeDistributed(Flatten()) -> "
           "Bidirectional(GRU(3, seq)) -> Dense(5, softmax)", fmt=fmt, input_shape=(4, 8, 8, 1),
           cases=((2, 4),), tags=tag + ("rank5", "time_distributed")),
        Fx(f"{prefix}_char_tagger",
           [lay(td, lay("Embedding", 20, 4), **named("char-embed")),
            lay(td, lay("Conv1D", 5, 3, padding="same", activation="relu"), **named("char-conv")),
            lay(td, lay("MaxPooling1D", 2), **named("char-pool")),
            lay(td, lay("Flatten"), **named("char-features")),
            lay("Bidirectional", lay("LSTM", 3, return_sequences=True), **named("word-lstm")),
            lay(td, lay("Dense", 4, activation="softmax"), **named("tags"))],
           "character-aware tagger: Input((None, 6), int32) (words x 6 char ids) -> TimeDistributed(Embedding("
           "20, 4)) -> TimeDistributed(Conv1D(5, 3, same, relu)) -> TimeDistributed(MaxPooling1D(2)) -> "
           "TimeDistributed(Flatten()) -> Bidirectional(LSTM(3, seq)) -> TimeDistributed(Dense(4, softmax))",
           fmt=fmt, vocab=20, input_shape=(None, 6), cases=((2, 5), (1, 7)),
           tags=tag + ("int_input", "time_distributed")),
        Fx(f"{prefix}_video_classifier",
           [lay(td, lay("Conv2D", 3, 3, activation="relu"), **named("frame-conv")),
            lay(td, lay("MaxPooling2D", 2), **named("frame-pool")),
            lay(td, lay("Flatten"), **named("frame-features")),
            lay("LSTM", 4, **named("clip-lstm")), lay("Dense", 2, **named("classes"))],
           "video classifier: Input((3, 6, 6, 2)) -> TimeDistributed(Conv2D(3, 3, relu)) -> TimeDistributed("
           "MaxPooling2D(2)) -> TimeDistributed(Flatten()) -> LSTM(4) -> Dense(2)", fmt=fmt,
           input_shape=(3, 6, 6, 2), cases=((2, 3),), tags=tag + ("rank5", "time_distributed")),
    ]


def _video_td_sequential(k3: bool) -> Callable:
    def build(keras: Any):
        L = keras.layers

        def named(name: str) -> dict:
            return {} if k3 else {"name": name}

        frame = keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(3, 3, activation="relu", **named("conv-a")),
                                  L.BatchNormalization(**named("bn")), L.Conv2D(4, 2, strides=2, **named("conv-b")),
                                  L.GlobalAveragePooling2D(**named("gap"))], name="frame_net")
        x = keras.Input((3, 6, 6, 2))
        y = L.TimeDistributed(frame, **named("per-frame"))(x)
        y = L.GRU(3, **named("clip-gru"))(y)
        return [x], L.Dense(2, **named("classes"))(y)
    return build


def nested_sets(prefix: str, fmt: str, Fx: Any, lay: Callable) -> list:
    return [
        Fx(f"{prefix}_video_td_sequential", [],
           "video classifier with a per-frame CNN model: Input((3, 6, 6, 2)) -> TimeDistributed(Sequential(["
           "Conv2D(3, 3, relu), BatchNormalization(), Conv2D(4, 2, strides=2), GlobalAveragePooling2D()], "
           "name='frame_net')) -> GRU(3) -> Dense(2); Keras 2 stores the wrapped model's trainable weights "
           "before its BatchNormalization moving statistics, Keras 3 names its layers' groups by class",
           fmt=fmt, api="functional", build=_video_td_sequential(prefix == "k3"), input_shape=(3, 6, 6, 2),
           cases=((2, 3),), tags=("model", "whole_model", "rank5", "time_distributed", "nested_model")),
        Fx(f"{prefix}_conv3d_transpose", [],
           "parallel branches on x (3, 4, 4, 2): Conv3DTranspose(2, 2, strides=2); Conv3DTranspose(2, 3, "
           "strides=(1, 2, 2), same); tail Reshape((6, 128)) of the first -> LSTM(2)", fmt=fmt, api="functional",
           build=parallel((3, 4, 4, 2), [
               [lay("Conv3DTranspose", 2, 2, strides=2, **({} if prefix == "k3" else {"name": "deconv3d"}))],
               [lay("Conv3DTranspose", 2, 3, strides=(1, 2, 2), padding="same",
                    **({} if prefix == "k3" else {"name": "deconv3d-same"}))]],
               [lay("Reshape", (6, 128)), lay("LSTM", 2)]),
           input_shape=(3, 4, 4, 2), cases=((1, 3),), tags=("layer_family", "rank5")),
    ]
