"""Packed INT4 filters: our int8 .tflite with its CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED filters rewritten.

Why a flatbuffer rewrite and not ai-edge-quantizer (checked against its 0.10.0 wheel, 2026-12-03):

* It quantizes a *float* .tflite and calibrates the activations itself (min/max over the
  calibration set). Our int8 file's activation scales are the student's a-bit grids
  (``scale = a_max / (2^a - 1)``, zero point -128, the MINIMUM clamps) and the export's ranges
  (``quantization/ranges.py``: BN rules, the logit margin); it would recompute every one of them.
* Its symmetric int4 weight scale is ``max|w| / 7``: a W3 or W2 grid (``max|w| = K step``,
  ``K <= 2^b - 1``) lands off its integers, so only some 4-bit grids would survive.
* It pins ``ai-edge-litert==2.3.0`` and pulls ``litert-lm-builder``, scipy and ml_dtypes.

The export's exact affines (``export/affine.py``: the raw-pixel preprocessing and a float Rescaling
such as the generator-space adapter, 1x1 DEPTHWISE_CONV_2D with one int8 value per channel) are not
student layers and keep their int8 filters.

The rewrite changes only the filters, their scales and the biases (whose unit follows the
filter scale), so the int8 and int4 files differ in nothing else: a clean A/B. It uses the
flatbuffer schema that ships inside the LiteRT package (``ai_edge_litert.schema_py_generated``).

Packing (``tflite/kernels/internal/portable_tensor_utils.cc``, ``UnpackPackedIntToInt8``, LiteRT
f67457790): the flat row-major values two to a byte, element ``2i`` in the low nibble of byte
``i`` and ``2i + 1`` in the high one; an odd count leaves the last high nibble zero.

Levels: per output channel, the int8 values are ``k * u`` (conv kernels: ``u = 2^(7-b)``, the fine
divisor; Dense: ``u = 127 / max|k|`` up to rounding, see ``convert.py``). The int4 value is ``k * d``
with the largest integer ``d`` keeping it in [-8, 7], at scale ``int8 scale * u / d``: the same
b-bit values (for Dense exactly the b-bit value, where int8 was within half a step of it).
A W<=3 grid always fits (``|k| <= 7``). A W4 grid does not in general: the student's weights are
nudged-asymmetric, 16 levels ``[-zp, 15 - zp]`` per channel (``quantizers.py``), and a per-channel
int4 filter has zero point 0 (the builtin kernels ignore a filter zero point), so ``k = 8..15`` is
clipped to 7 (and ``k < -8`` to -8); ``clipped_weights`` counts them and the file is then not
the student's function. The int32 bias is requantized to the coarser accumulator unit
``input_scale * filter_scale``: the rounding ``convert.py``'s fine scale was made to avoid comes back.

Kernels (``tflite/delegates/xnnpack/xnnpack_delegate.cc``): XNNPACK rejects int4 CONV_2D and
DEPTHWISE_CONV_2D filters under an int8 input ("unsupported mixed types"), so those run LiteRT's
builtin kernels, which unpack the filter on every invoke (``conv.cc`` ``EvalQuantizedPerChannel``,
``depthwise_conv.cc``); FULLY_CONNECTED with int4 filters goes to XNNPACK when its input depth is
even. With default delegates the graph is split between the two (no flag needed: XNNPACK leaves the
int4 convs to the builtin kernels by itself); ``runtime.kernel_backends`` reads which op ran where.

Measured 2026-12-03 (ResNet-20 shape, 28x28x1, 10 classes, random weights and BN statistics, students
calibrated on noise; single thread, batch 1, median of 300 invokes, a shared 2-core machine):

* W4A4: 182,648 bytes against 317,952 for int8 (0.57x); 0.78 ms against 0.31 ms (2.5x slower; float32
  0.60 ms). On the builtin kernels alone both take 0.90-0.92 ms: unpacking costs little, leaving
  XNNPACK costs the rest. 634 of 270,608 weights clipped; top-1 agreement with the int8 file (builtin,
  256 noise images of this random net) 73.8%.
* W3A3: same sizes and times; nothing clipped; agreement with the int8 file 93.8%, from the coarser
  bias unit alone.

So, for today's students, an int4 file is smaller but slower and not the int8 file's function.
Exact int4 needs students trained for it: 4-bit weight levels in [-8, 7], and folded biases on the
grid of ``input_scale * weight_step`` (the unit LiteRT rounds them to).

The first of the two exists: the ``gdfq_int4`` scheme (``quantization/scheme.py``, signed weight
grids). Measured 2026-12-08 on a trained W4A4 ResNet-20 student of that scheme (standard budget,
seed 0; BENCHMARKS.md, table ``int4_export``): nothing clipped; top-1 92.30% for the int4 file under
the builtin kernels against 92.54% for the int8 file beside it and 92.54% in Keras; the two files
agree on 97.1% of the test images, and each agrees with Keras on about as many (int8 97.4%, int4
97.2%): at W4A4 LiteRT's integer arithmetic already disagrees with Keras on 2.6% of images, and the
coarser bias unit moves a different 2.9%.

The second is ``student.bias_grid=True`` (``quantization/bias_grid.py``, with ``int8_boundaries``): the
student keeps its folded BatchNorm offsets on the b-bit accumulator unit in training, and its int8 file
(``convert.py``, ``_grid_filters``) then holds this module's integers and scales unpacked, so that the
int8 and int4 files compute one function (identical logits under the builtin kernels). Why not keep the
fine int8 file beside such an int4 file: with exact biases the two still differ, because the builtin
kernels' requantization of the int32 accumulator is not invariant to a power-of-two rescaling of filter
and bias (a tiny W4A4 net: biases identical up to the factor 8, yet 3.5% of one block's activations
differ by a step); at W4A4 such one-step differences move top-1 as often as LiteRT's own two kernel
paths disagree on one file.

Measured 2026-12-08 on the W4A4 ResNet-20 student of ``gdfq_int4`` + ``int8_boundaries`` + ``bias_grid``
(standard budget, seed 0; 92.30% in Keras; table ``int4_export_agreement``): the int4 file (180 KiB,
0.58x) and the int8 file agree on 100% of the test images under the builtin kernels (92.47% each); the
int8 file on the default interpreter (XNNPACK) agrees with Keras on 99.74% (int8 boundaries without the
grid, a seed-0 ``deploy_int8b`` student: 97.81%; neither: 97.50%), the builtin kernels on 97.16%: with exact biases it is the builtin kernels' rounding that departs from
the student, and XNNPACK that computes it.
"""

import numpy as np

from autorecon_tf.errors import UserError
from autorecon_tf.export.affine import is_exact_affine_filter

INT4_MIN, INT4_MAX = -8, 7
MAX_INT4_WEIGHT_BITS = 4
KERNEL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def pack_int4(values):
    """Signed values in [-8, 7] (any shape, row-major) as packed bytes, low nibble first."""
    flat = np.asarray(values, np.int8).reshape(-1)
    if flat.size and (flat.min() < INT4_MIN or flat.max() > INT4_MAX):
        raise ValueError(f"int4 values must lie in [{INT4_MIN}, {INT4_MAX}]")
    nibbles = (flat.astype(np.uint8) & 0x0F).astype(np.uint8)
    if nibbles.size % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8).tobytes()


def unpack_int4(packed, count):
    """``count`` int8 values from packed int4 bytes, as LiteRT's ``UnpackPackedIntToInt8`` does."""
    data = np.frombuffer(bytes(packed), np.uint8)
    low = (data & 0x0F).astype(np.int8)
    high = (data >> 4).astype(np.int8)
    values = np.stack([low, high], 1).reshape(-1)[:count]
    return np.where(values > INT4_MAX, values - 16, values).astype(np.int8)


def channel_levels(values, weight_bits):
    """``(k, unit)``: the smallest-``K`` integer levels with ``values ~= k * unit`` (within half an int8 step)."""
    values = np.asarray(values, np.float64)
    magnitude = np.max(np.abs(values))
    if magnitude == 0:
        return np.zeros(values.shape, np.int64), 1.0
    for top in range(1, 2**weight_bits):
        unit = magnitude / top
        levels = np.round(values / unit)
        if np.all(np.abs(levels * unit - values) <= 0.5 + 1e-9):
            return levels.astype(np.int64), unit
    raise UserError(f"a kernel channel of the .tflite is not on a {weight_bits}-bit grid: export the student again")


def int4_channel(values, weight_bits):
    """``(int4 values, scale factor, clipped count)`` of one channel; new scale = int8 scale * factor.

    int8 values that already lie in [-8, 7] are kept as they are (factor 1: scale and bias unchanged): a
    bias-grid student's int8 file (``convert.py``) holds its b-bit levels so, and its int4 file then has the
    same integers and scales.
    """
    values = np.asarray(values)
    if values.size and values.min() >= INT4_MIN and values.max() <= INT4_MAX:
        return values.astype(np.int8), 1.0, 0
    levels, unit = channel_levels(values, weight_bits)
    top, bottom = int(levels.max()), int(levels.min())
    if top == bottom == 0:
        return levels.astype(np.int8), unit, 0
    multiple = min(INT4_MAX // top if top > 0 else 8, INT4_MIN // bottom if bottom < 0 else 8)
    multiple = max(multiple, 1)
    scaled = levels * multiple
    clipped = int(np.sum((scaled < INT4_MIN) | (scaled > INT4_MAX)))
    return np.clip(scaled, INT4_MIN, INT4_MAX).astype(np.int8), unit / multiple, clipped


def _op_name(model, operator):
    schema = _schema()
    code = model.operatorCodes[operator.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    names = {getattr(schema.BuiltinOperator, name): name for name in KERNEL_OPS}
    return names.get(builtin)


def _name(tensor):
    return tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name


def _own_buffer(model, tensor, users):
    """Gives ``tensor`` a buffer of its own if another tensor shares it (copy on write)."""
    if users[tensor.buffer] > 1:
        users[tensor.buffer] -= 1
        model.buffers.append(_schema().BufferT())
        tensor.buffer = len(model.buffers) - 1
        users[tensor.buffer] = 1
    return model.buffers[tensor.buffer]


def _tensor_values(model, tensor, dtype):
    data = model.buffers[tensor.buffer].data
    if data is None:
        raise UserError(f"tensor {tensor.name!r} has no data in the flatbuffer (an external buffer): not supported")
    return np.frombuffer(np.asarray(data, np.uint8).tobytes(), dtype).reshape(tensor.shape)


def _pack_filter(model, operator, users, weight_bits, packed_storage=True):
    """Rewrites one op's filter (and bias) to int4 (``packed_storage`` False: the same values as int8)."""
    schema = _schema()
    subgraph = model.subgraphs[0]
    tensor = subgraph.tensors[operator.inputs[1]]
    values = _tensor_values(model, tensor, np.int8)
    quantization = tensor.quantization
    scales = np.asarray(quantization.scale, np.float32)
    axis = int(quantization.quantizedDimension) if scales.size > 1 else None
    channels = np.moveaxis(values, axis, 0) if axis is not None else values[None]
    packed, factors, clipped = np.empty(channels.shape, np.int8), [], 0
    for index, channel in enumerate(channels):
        packed[index], factor, count = int4_channel(channel, weight_bits)
        factors.append(factor)
        clipped += count
    factors = np.asarray(factors)
    packed = np.moveaxis(packed, 0, axis) if axis is not None else packed[0]
    data = pack_int4(packed) if packed_storage else packed.astype(np.int8).tobytes()
    _own_buffer(model, tensor, users).data = np.frombuffer(data, np.uint8)
    tensor.type = schema.TensorType.INT4 if packed_storage else schema.TensorType.INT8
    quantization.scale = (scales * factors).astype(np.float32).tolist()
    if len(operator.inputs) > 2 and operator.inputs[2] >= 0:
        _requantize_bias(model, subgraph.tensors[operator.inputs[2]], factors, users)
    return _name(tensor), {"elements": int(values.size), "clipped_weights": clipped}


def _requantize_bias(model, tensor, factors, users):
    """The int32 bias on the new accumulator unit ``input_scale * filter_scale`` (``factors`` coarser)."""
    bias = _tensor_values(model, tensor, np.int32).astype(np.float64)
    factors = np.broadcast_to(factors, bias.shape)
    requantized = np.clip(np.round(bias / factors), -(2**31), 2**31 - 1).astype("<i4")
    _own_buffer(model, tensor, users).data = np.frombuffer(requantized.tobytes(), np.uint8)
    scales = np.broadcast_to(np.asarray(tensor.quantization.scale, np.float64), bias.shape)
    tensor.quantization.scale = (scales * factors).astype(np.float32).tolist()


def to_int4(tflite_bytes, weight_bits, packed_storage=True):
    """``(int4 flatbuffer bytes, record)``: the int8 file with packed INT4 kernel filters.

    ``record``: ``filters`` (per filter tensor: elements, clipped weights), ``clipped_weights``,
    ``exact`` (no weight clipped: the same b-bit values as the int8 file). ``packed_storage``
    False writes the int4 values and scales unpacked, as INT8: the int4 file's twin, which LiteRT
    computes identically (a check of the packing, and a diagnosis of what int4 costs).
    """
    import flatbuffers

    if weight_bits is None or weight_bits > MAX_INT4_WEIGHT_BITS:
        raise UserError(
            f"--weights=int4 needs a student with weight bits <= {MAX_INT4_WEIGHT_BITS}, this one has "
            f"{weight_bits}: export it with --weights=int8"
        )
    model = _schema().ModelT.InitFromPackedBuf(bytearray(tflite_bytes), 0)
    if len(model.subgraphs) != 1:
        raise UserError(f"the .tflite has {len(model.subgraphs)} subgraphs: int4 packing handles one")
    users = {}
    for tensor in model.subgraphs[0].tensors:
        users[tensor.buffer] = users.get(tensor.buffer, 0) + 1
    filters = {}
    for operator in model.subgraphs[0].operators:
        if _op_name(model, operator) is None:
            continue
        tensor = model.subgraphs[0].tensors[operator.inputs[1]]
        if tensor.type != _schema().TensorType.INT8 or is_exact_affine_filter(_name(tensor)):
            continue
        name, record = _pack_filter(model, operator, users, weight_bits, packed_storage)
        filters[name] = record
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    clipped = sum(record["clipped_weights"] for record in filters.values())
    return bytes(builder.Output()), {"filters": filters, "clipped_weights": clipped, "exact": clipped == 0}


def read_int4_filters(tflite_model):
    """``{tensor name: (op name, unpacked int8 values, quantized dimension or None)}`` of the INT4 filters."""
    if not isinstance(tflite_model, (bytes, bytearray)):
        with open(tflite_model, "rb") as handle:
            tflite_model = handle.read()
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite_model), 0)
    result = {}
    for subgraph in model.subgraphs:
        for operator in subgraph.operators:
            op_name = _op_name(model, operator)
            tensor = subgraph.tensors[operator.inputs[1]] if op_name else None
            if tensor is None or tensor.type != schema.TensorType.INT4:
                continue
            shape = [int(size) for size in tensor.shape]
            packed = np.asarray(model.buffers[tensor.buffer].data, np.uint8)
            values = unpack_int4(packed.tobytes(), int(np.prod(shape))).reshape(shape)
            scales = tensor.quantization.scale
            axis = int(tensor.quantization.quantizedDimension) if scales is not None and len(scales) > 1 else None
            result[_name(tensor)] = (op_name, values, axis)
    return result


def kernel_paths(tflite_model):
    """Which kernel runs each CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED under the default interpreter.

    ``[{"op", "filter", "filter_type", "kernel"}]``, ``kernel`` being ``"XNNPACK"`` or ``"builtin"``,
    read from the delegated interpreter (:func:`~autorecon_tf.export.runtime.kernel_backends`).
    """
    from autorecon_tf.export.runtime import kernel_backends, make_interpreter, ops_details

    interpreter = make_interpreter(tflite_model)
    backends = kernel_backends(interpreter)
    int4 = read_int4_filters(tflite_model)
    names = {detail["index"]: detail["name"] for detail in interpreter.get_tensor_details()}
    return [
        {
            "op": op["op_name"],
            "filter": names[op["inputs"][1]],
            "filter_type": "int4" if names[op["inputs"][1]] in int4 else "int8",
            "kernel": backends[op["index"]],
        }
        for op in ops_details(interpreter)
        if op["op_name"] in KERNEL_OPS
    ]
