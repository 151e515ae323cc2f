#!/usr/bin/python3
"""Write the seed corpus of the libFuzzer targets in tests/fuzz/.

    tests/fuzz/corpus/model_bytes/   model files written with h5py, valid
                                     and broken (fuzz_model_bytes)
    tests/fuzz/corpus/model_graph/   recipes for fuzz_model_graph
    tests/fuzz/corpus/dataset/       recipes for fuzz_dataset

A recipe is a byte string that the fuzz target reads front to back, one
byte per choice, taken modulo the number of choices. The encoders below
follow the recipe layouts described at the top of
tests/fuzz/fuzz_model_graph.c and tests/fuzz/fuzz_dataset.c, and their
tables list the choices in the same order as the enums and arrays there:
change both together. `NNB_FUZZ_VERBOSE=1 build/fuzz/fuzz_model_graph FILE`
shows what a recipe builds and whether it loads.

Usage: tools/make_fuzz_corpus.py [--output tests/fuzz/corpus]

The files are small (the whole corpus is about 250 KB), so they are
committed. Rerun this script after changing a recipe layout. Every file
comes out the same on each run except mlp-latest-format.h5, whose newer
object headers record their creation times.
"""

import argparse
import os
import shutil
import sys

import h5py
import numpy as np

# ---- fuzz_model_graph recipes ------------------------------------------------

# name_pool in fuzz_model_graph.c.
NAMES = ["x", "y", "labels", "n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7",
         "", "LONG", "a/b", "caf\u00e9", "missing"]
# string_style.
VLEN_UTF8, VLEN_ASCII_LIST, FIXED_NULLPAD, FIXED_SCALAR, FIXED_SPACEPAD, \
    FIXED_OVERSIZED, RANK_TWO, NULL_SPACE, AS_INTEGERS, EMPTY_LIST, \
    VLEN_NULL_FIRST, FIXED_UNTERMINATED, STRINGS_MISSING = range(13)
# integer_style.
I64LE, I32LE, U8, I16BE, U64LE, I8, U32BE, AS_FLOAT, AS_STRING, PAIR, \
    INTEGER_NULL_SPACE, AS_ENUM, INTEGER_EMPTY_LIST, INTEGER_MISSING = range(14)
# link_kind.
GROUP, DATASET, SOFT, HARD_ALIAS, DATATYPE, EXTERNAL = range(6)
# roles, then the two extra choices.
ROLES = ["features", "labels", None, "bogus", "Features", "", "LIST", "INTEGER"]
# ops.
OPS = ["matmul", "bias", "relu", "sigmoid", "tanh", "softmax", "cross_entropy",
       "", "Matmul", "conv2d", "LONG", None]
# Parameter names, types, ranks, layouts and data modes.
PARAM_NAMES = ["weight", "bias", "w", "extra", "LONG"]
F32LE, F64LE, F32BE, F64BE, I32LE_P, U8_P, I64BE_P, U64LE_P, I16LE_P, HALF, \
    FIXED_STRING, VLEN_STRING, COMPOUND, ENUM, OPAQUE, ARRAY, BITFIELD, \
    VLEN_FLOATS = range(18)
RANKS = [2, 1, 0, 3, -1]
CONTIGUOUS, CHUNKED, COMPACT, CHUNKED_DEFLATE = range(4)
SMALL_VALUES, FILL_ONLY, SPECIAL, NAN_FILL = range(4)
# Layout flags.
DENSE_LINKS, NO_INPUTS, NO_NODES, INPUTS_DATASET, NODES_SOFT_LINK, \
    EXTRA_OBJECTS, CREATION_ORDER = (1 << i for i in range(7))
FORMAT_MISSING, FORMAT_LIST = 1, 6
VERSIONS = [1, 2, 0, -1, 2**63 - 1, 2**32 + 1]

# Large values of dimension and integer bytes (248 and up).
LARGE_DIMS = [4096, 65536, 2**31, 2**40, 2**61, 2**62, 2**63 - 1, 2**63]
INTEGER_EDGES = [0, -1, 2**31, 2**31 + 1, 2**63 - 1, -2**63, 4096, 2]


def dim_byte(value):
    if value in LARGE_DIMS:
        return 248 + LARGE_DIMS.index(value)
    assert 0 <= value <= 16, value
    return value


def integer_byte(value):
    if 1 <= value <= 16:
        return value - 1
    return 248 + INTEGER_EDGES.index(value)


def graph_input(name, role, width=None, kind=GROUP, role_style=VLEN_UTF8,
                width_style=I64LE):
    """Encode one graph input; width None leaves @width out."""
    if width is None:
        return [NAMES.index(name), kind, ROLES.index(role), role_style, 0, INTEGER_MISSING]
    return [NAMES.index(name), kind, ROLES.index(role), role_style, integer_byte(width),
            width_style]


def param(name, shape, dtype=F32LE, layout=CONTIGUOUS, mode=SMALL_VALUES, seed=1,
          rank=None):
    rank = len(shape) if rank is None else rank
    return ([PARAM_NAMES.index(name), dtype, RANKS.index(rank)]
            + [dim_byte(d) for d in shape] + [layout, mode, seed])


def node(name, op, inputs, params=(), kind=GROUP, op_style=VLEN_UTF8,
         inputs_style=VLEN_UTF8, input_count=None):
    count = len(inputs) if input_count is None else input_count
    data = [NAMES.index(name), kind, OPS.index(op), op_style, count]
    # The target reads min(count, 3) names; count 4 means no @inputs.
    names = (list(inputs) + ["x"] * 3)[:min(count, 3)]
    data += [NAMES.index(i) for i in names]
    data += [inputs_style, len(params)]
    for p in params:
        data += p
    return data


def graph_recipe(inputs, nodes, outputs, *, format_choice=0,
                 format_style=VLEN_UTF8, version=1, version_style=I64LE,
                 layout=0, outputs_style=VLEN_UTF8, output_count=None,
                 rows=5, tile_rows=0, pad_input=0, pad_output=0, flags=0,
                 input_seed=7):
    data = [format_choice, format_style, VERSIONS.index(version), version_style,
            layout, len(inputs)]
    for i in inputs:
        data += i
    data.append(len(nodes))
    for n in nodes:
        data += n
    count = len(outputs) if output_count is None else output_count
    # The target reads min(count, 4) names; count 5 means no @outputs.
    names = (list(outputs) + ["x"] * 4)[:min(count, 4)]
    data += [count] + [NAMES.index(o) for o in names] + [outputs_style]
    data += [rows, tile_rows, pad_input, pad_output, flags, input_seed]
    assert all(0 <= b <= 255 for b in data), data
    return bytes(data)


def mlp_nodes(dtype=F32LE, layout=CONTIGUOUS, op_style=VLEN_UTF8,
              inputs_style=VLEN_UTF8):
    """Encode a 4-8-3 MLP with a softmax output and a cross_entropy loss:
    nodes n0 to n6, reading the inputs "x" and "labels"."""
    def n(name, op, inputs, params=()):
        return node(name, op, inputs, params, op_style=op_style,
                    inputs_style=inputs_style)
    return [
        n("n0", "matmul", ["x"], [param("weight", (4, 8), dtype, layout, seed=3)]),
        n("n1", "bias", ["n0"], [param("bias", (8,), dtype, layout, seed=4)]),
        n("n2", "relu", ["n1"]),
        n("n3", "matmul", ["n2"], [param("weight", (8, 3), dtype, layout, seed=5)]),
        n("n4", "bias", ["n3"], [param("bias", (3,), dtype, layout, seed=6)]),
        n("n5", "softmax", ["n4"]),
        n("n6", "cross_entropy", ["n5", "labels"]),
    ]


MLP_INPUTS = [graph_input("x", "features", 4), graph_input("labels", "labels")]


def model_graph_seeds():
    seeds = {}
    seeds["mlp"] = graph_recipe(MLP_INPUTS, mlp_nodes(), ["n5", "n6"])
    seeds["mlp-fixed-strings-float64"] = graph_recipe(
        [graph_input("x", "features", 4, role_style=FIXED_NULLPAD, width_style=I32LE),
         graph_input("labels", "labels", role_style=FIXED_SCALAR)],
        mlp_nodes(F64LE, CHUNKED_DEFLATE, FIXED_NULLPAD, FIXED_SPACEPAD), ["n6", "n5"],
        format_style=FIXED_SCALAR, version_style=U8, outputs_style=FIXED_NULLPAD,
        rows=16, tile_rows=3, pad_input=2, pad_output=1)
    seeds["mlp-dense-groups"] = graph_recipe(
        MLP_INPUTS, mlp_nodes(F32BE, CHUNKED), ["n4", "n6", "n5"],
        layout=DENSE_LINKS | CREATION_ORDER | EXTRA_OBJECTS, version_style=U32BE,
        rows=9, tile_rows=1, flags=2)
    seeds["mlp-integer-params"] = graph_recipe(
        MLP_INPUTS, mlp_nodes(I16LE_P, COMPACT), ["n6"], rows=3)
    seeds["activations-no-labels"] = graph_recipe(
        [graph_input("y", "features", 3)],
        [node("n0", "sigmoid", ["y"]), node("n1", "tanh", ["n0"]),
         node("n2", "matmul", ["n1"], [param("weight", (3, 2), HALF)]),
         node("n3", "softmax", ["n2"])],
        ["n3", "n1"], rows=7, tile_rows=2)
    seeds["nodes-out-of-order"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n3", "relu", ["n1"]), node("n1", "bias", ["x"], [param("bias", (2,))])],
        ["n3"])
    seeds["non-finite-input"] = graph_recipe(
        MLP_INPUTS, mlp_nodes(), ["n5", "n6"], rows=4, flags=1)
    seeds["special-parameter-values"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n0", "matmul", ["x"], [param("weight", (2, 2), mode=SPECIAL)]),
         node("n1", "softmax", ["n0"])], ["n1"])
    seeds["zero-rows"] = graph_recipe(MLP_INPUTS, mlp_nodes(), ["n5"], rows=0)

    # Graphs that nnbatch must reject.
    seeds["cycle"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n0", "relu", ["n1"]), node("n1", "relu", ["n0"]), node("n2", "relu", ["x"])],
        ["n2"])
    seeds["self-reference"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", "tanh", ["n0"])], ["n0"])
    seeds["unknown-op"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", "conv2d", ["x"])], ["n0"])
    seeds["missing-op"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", None, ["x"])], ["n0"])
    seeds["missing-inputs-attribute"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", "relu", ["x"], input_count=4)],
        ["n0"])
    seeds["reads-missing-name"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", "relu", ["missing"])], ["n0"])
    seeds["weight-rank-one"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n0", "matmul", ["x"], [param("weight", (2,))])], ["n0"])
    seeds["weight-shape-mismatch"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n0", "matmul", ["x"], [param("weight", (3, 2))])], ["n0"])
    seeds["string-parameter"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n0", "bias", ["x"], [param("bias", (2,), FIXED_STRING)])], ["n0"])
    seeds["compound-parameter"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n0", "bias", ["x"], [param("bias", (2,), COMPOUND)])], ["n0"])
    seeds["parameter-too-large"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n0", "matmul", ["x"], [param("weight", (2**62, 2**62), layout=CHUNKED,
                                            mode=FILL_ONLY)])], ["n0"])
    seeds["extra-parameter"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n0", "relu", ["x"], [param("extra", (2,))])], ["n0"])
    seeds["output-is-input"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", "relu", ["x"])], ["x"])
    seeds["output-twice"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", "relu", ["x"])], ["n0", "n0"])
    seeds["no-outputs-attribute"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", "relu", ["x"])], [], output_count=5)
    seeds["cross-entropy-without-softmax"] = graph_recipe(
        MLP_INPUTS, [node("n0", "relu", ["x"]), node("n1", "cross_entropy", ["n0", "labels"])],
        ["n1"])
    seeds["labels-read-by-relu"] = graph_recipe(
        MLP_INPUTS, [node("n0", "relu", ["labels"])], ["n0"])
    seeds["two-features-inputs"] = graph_recipe(
        [graph_input("x", "features", 2), graph_input("y", "features", 2)],
        [node("n0", "relu", ["x"])], ["n0"])
    seeds["width-zero"] = graph_recipe(
        [graph_input("x", "features", 0)], [node("n0", "relu", ["x"])], ["n0"])
    seeds["width-float"] = graph_recipe(
        [graph_input("x", "features", 2, width_style=AS_FLOAT)], [node("n0", "relu", ["x"])],
        ["n0"])
    seeds["node-soft-link"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n0", "relu", ["x"]), node("n1", "relu", ["n0"], kind=SOFT)], ["n0"])
    seeds["node-is-dataset"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", "relu", ["x"], kind=DATASET)], ["n0"])
    seeds["long-names"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("LONG", "relu", ["x"]), node("n0", "LONG", ["LONG"])], ["n0"])
    seeds["wrong-format"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", "relu", ["x"])], ["n0"],
        format_choice=3)
    seeds["format-version-2"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", "relu", ["x"])], ["n0"], version=2)
    seeds["no-nodes-group"] = graph_recipe(
        [graph_input("x", "features", 2)], [node("n0", "relu", ["x"])], ["n0"],
        layout=NO_NODES)
    seeds["oversized-fixed-strings"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n0", "relu", ["x"], inputs_style=FIXED_OVERSIZED)], ["n0"])
    seeds["null-first-string"] = graph_recipe(
        [graph_input("x", "features", 2)],
        [node("n0", "relu", ["x"], inputs_style=VLEN_NULL_FIRST)], ["n0"])
    return seeds


# ---- fuzz_dataset recipes ------------------------------------------------------

# data_type in fuzz_dataset.c.
(T_F32LE, T_F32BE, T_F64LE, T_F64BE, T_I8, T_U8, T_I16BE, T_U16LE, T_I32LE,
 T_I32BE, T_U32LE, T_I64LE, T_I64BE, T_U64BE, T_HALF, T_INT12, T_FIXED_STRING,
 T_VLEN_STRING, T_COMPOUND, T_ENUM, T_OPAQUE, T_BITFIELD, T_ARRAY) = range(23)
# dataset_kind.
K_DATASET, K_MISSING, K_GROUP, K_SOFT_LINK, K_DANGLING, K_EXTERNAL = range(6)
# labels_kind.
L_NONE, L_DATASET, L_MISSING, L_GROUP, L_SAME_AS_FEATURES, L_SOFT_LINK = range(6)
# data_mode and label_mode.
D_ALL, D_FILL_ONLY, D_FIRST_HALF, D_SPECIAL = range(4)
LV_VALID, LV_SMALL_INTS, LV_FRACTIONS, LV_SPECIAL, LV_FILL_ONLY, LV_FIRST_HALF = range(6)
# Label shapes: (rows), (rows, 1), (rows, 2), (rows + 1), (rows - 1), scalar,
# (rows, 1, 1), (1, rows), one-hot (rows, 3).
SHAPE_ROWS, SHAPE_ROWS_1, SHAPE_ROWS_2, SHAPE_MORE, SHAPE_FEWER, SHAPE_SCALAR, \
    SHAPE_RANK3, SHAPE_TRANSPOSED, SHAPE_ONE_HOT = range(9)
DATA_RANKS = [2, 1, 0, 3, -1]
LARGE_ROWS = [4096, 65536, 2**31, 2**40, 2**62, 2**63 - 1, 2**63, 2**64 - 2]
# Filter bits.
SHUFFLE, DEFLATE, FLETCHER32, FLETCHER32_FIRST = 1, 2, 4, 8


def rows_byte(rows):
    if rows in LARGE_ROWS:
        return 248 + LARGE_ROWS.index(rows)
    assert 0 <= rows < 240, rows
    return rows


def dataset_recipe(*, allocate_early=False, kind=K_DATASET, dtype=T_F32LE, shape=(10, 4),
                   rank=None, layout=0, chunk=(), filters=0, fill=0, mode=D_ALL, seed=1,
                   labels=L_DATASET, labels_type=T_I32LE, labels_shape=SHAPE_ROWS,
                   labels_layout=0, labels_chunk=1, labels_filters=0,
                   labels_mode=LV_VALID, labels_seed=2, block_rows=4, pad=0):
    rank = len(shape) if rank is None else rank
    data = [1 if allocate_early else 0, kind, dtype, DATA_RANKS.index(rank)]
    for d, size in enumerate(shape[:max(rank, 0)]):
        if d == 0:
            data.append(rows_byte(size))
        elif d == 1:
            data.append(0 if size == 4 else size % 9)
        else:
            data.append(size - 1)
    data.append(layout)
    chunk = list(chunk) + [1] * max(rank, 0)
    data += [(c - 1) % 32 for c in chunk[:max(rank, 0)]]
    data += [filters, fill, mode, seed]
    data += [labels, labels_type, labels_shape, labels_layout, (labels_chunk - 1) % 32,
             labels_filters, labels_mode, labels_seed]
    data += [block_rows - 1, pad]
    assert all(0 <= b <= 255 for b in data), data
    return bytes(data)


def dataset_seeds():
    s = {}
    s["float32-int-labels"] = dataset_recipe()
    s["chunked-filters"] = dataset_recipe(
        shape=(100, 4), layout=1, chunk=(7, 4),
        filters=SHUFFLE | DEFLATE | FLETCHER32 | (6 << 4), labels_layout=1, labels_chunk=9,
        labels_filters=DEFLATE | FLETCHER32, block_rows=16, pad=3)
    s["fletcher-first-extendible"] = dataset_recipe(
        allocate_early=True, dtype=T_F64BE, shape=(33, 4), layout=3, chunk=(5, 3),
        filters=FLETCHER32_FIRST | SHUFFLE | DEFLATE, labels_type=T_U8,
        labels_shape=SHAPE_ROWS_1, labels_layout=3, labels_chunk=4, block_rows=7, pad=1)
    s["integer-types"] = dataset_recipe(dtype=T_I16BE, labels_type=T_F32BE, block_rows=3)
    s["half-and-int12"] = dataset_recipe(dtype=T_HALF, labels_type=T_INT12, shape=(20, 4))
    s["uint64-special-values"] = dataset_recipe(dtype=T_U64BE, mode=D_SPECIAL,
                                                labels=L_NONE)
    s["float-special-values"] = dataset_recipe(dtype=T_F32BE, mode=D_SPECIAL, shape=(30, 4),
                                               labels=L_NONE, block_rows=30)
    s["compact"] = dataset_recipe(layout=2, labels_layout=2)
    s["fill-value-first-half"] = dataset_recipe(
        shape=(40, 4), layout=1, chunk=(8, 4), fill=3, mode=D_FIRST_HALF,
        labels_mode=LV_FIRST_HALF, labels_layout=1, labels_chunk=8)
    s["many-rows-fill-only"] = dataset_recipe(
        shape=(2**40, 4), layout=3, chunk=(32, 4), fill=1, mode=D_FILL_ONLY, labels=L_NONE,
        block_rows=64)
    s["rows-above-int64"] = dataset_recipe(
        shape=(2**63, 4), layout=3, chunk=(32, 4), mode=D_FILL_ONLY, labels=L_NONE)
    s["one-row"] = dataset_recipe(shape=(1, 4), block_rows=1)
    s["labels-out-of-range"] = dataset_recipe(labels_mode=LV_SMALL_INTS)
    s["labels-fractional"] = dataset_recipe(labels_type=T_F64LE, labels_mode=LV_FRACTIONS)
    s["labels-special"] = dataset_recipe(labels_type=T_F32LE, labels_mode=LV_SPECIAL)
    s["labels-fill-only"] = dataset_recipe(labels_mode=LV_FILL_ONLY)
    s["labels-one-hot"] = dataset_recipe(labels_type=T_U8, labels_shape=SHAPE_ONE_HOT,
                                         labels_layout=1, labels_chunk=3, block_rows=3)
    s["labels-one-hot-soft"] = dataset_recipe(labels_type=T_F32LE, labels_shape=SHAPE_ONE_HOT,
                                              labels_mode=LV_FRACTIONS)
    # Files that nnbatch must reject.
    s["labels-row-mismatch"] = dataset_recipe(labels_shape=SHAPE_MORE)
    s["labels-two-columns"] = dataset_recipe(labels_shape=SHAPE_ROWS_2)
    s["labels-transposed"] = dataset_recipe(labels_shape=SHAPE_TRANSPOSED)
    s["labels-same-as-features"] = dataset_recipe(labels=L_SAME_AS_FEATURES)
    s["labels-missing"] = dataset_recipe(labels=L_MISSING)
    s["labels-group"] = dataset_recipe(labels=L_GROUP)
    s["labels-soft-link"] = dataset_recipe(labels=L_SOFT_LINK)
    s["labels-string"] = dataset_recipe(labels_type=T_VLEN_STRING)
    s["features-soft-link"] = dataset_recipe(kind=K_SOFT_LINK)
    s["features-missing"] = dataset_recipe(kind=K_MISSING)
    s["features-group"] = dataset_recipe(kind=K_GROUP)
    s["features-dangling-link"] = dataset_recipe(kind=K_DANGLING)
    s["features-external-link"] = dataset_recipe(kind=K_EXTERNAL)
    s["features-compound"] = dataset_recipe(dtype=T_COMPOUND)
    s["features-fixed-string"] = dataset_recipe(dtype=T_FIXED_STRING)
    s["features-array-type"] = dataset_recipe(dtype=T_ARRAY, shape=(10,))
    s["features-rank-one"] = dataset_recipe(shape=(10,))
    s["features-rank-three"] = dataset_recipe(shape=(10, 4, 2))
    s["features-scalar"] = dataset_recipe(shape=(), rank=0)
    s["features-wrong-width"] = dataset_recipe(shape=(10, 5))
    s["features-zero-rows"] = dataset_recipe(shape=(0, 4), layout=3, chunk=(4, 4))
    return s


# ---- fuzz_model_bytes files ------------------------------------------------------

def write_model(path, *, strings="vlen", dtype=np.float32, libver="earliest",
                outputs=("probabilities", "loss"), mutate=None):
    """Write a 4-8-3 MLP as docs/model-format.md describes, with
    `mutate(file)` applied before the file is closed."""
    rng = np.random.default_rng(0)

    def text(value):
        if strings == "fixed":
            return np.bytes_(value)
        return value

    def text_list(values):
        if strings == "fixed":
            return np.array([v.encode() for v in values])
        return list(values)

    with h5py.File(path, "w", libver=libver) as f:
        f.attrs["format"] = text("nnbatch-model")
        f.attrs["format_version"] = np.int64(1)
        f.attrs["outputs"] = text_list(outputs)
        x = f.create_group("inputs/x")
        x.attrs["role"] = text("features")
        x.attrs["width"] = np.int64(4)
        f.create_group("inputs/labels").attrs["role"] = text("labels")
        nodes = f.create_group("nodes")

        def node(name, op, inputs, **params):
            group = nodes.create_group(name)
            group.attrs["op"] = text(op)
            group.attrs["inputs"] = text_list(inputs)
            for key, value in params.items():
                group.create_dataset(key, data=value.astype(dtype))

        node("dense1", "matmul", ["x"], weight=rng.normal(0, 0.5, (4, 8)))
        node("dense1_bias", "bias", ["dense1"], bias=rng.normal(0, 0.1, 8))
        node("hidden", "relu", ["dense1_bias"])
        node("dense2", "matmul", ["hidden"], weight=rng.normal(0, 0.5, (8, 3)))
        node("logits", "bias", ["dense2"], bias=np.zeros(3))
        node("probabilities", "softmax", ["logits"])
        node("loss", "cross_entropy", ["probabilities", "labels"])
        if mutate is not None:
            mutate(f)


def model_bytes_seeds(directory):
    """Write the fuzz_model_bytes seeds into `directory`."""
    def path(name):
        return os.path.join(directory, name + ".h5")

    write_model(path("mlp"))
    write_model(path("mlp-fixed-strings-float64"), strings="fixed", dtype=np.float64)
    write_model(path("mlp-latest-format"), libver="latest", dtype=np.int16)

    def cycle(f):
        f["nodes/hidden"].attrs["inputs"] = ["probabilities"]

    def soft_link(f):
        f["nodes/alias"] = h5py.SoftLink("/nodes/hidden")

    def string_parameter(f):
        del f["nodes/logits/bias"]
        f["nodes/logits"].create_dataset("bias", data=np.array([b"a", b"b", b"c"]))

    def no_format(f):
        del f.attrs["format"]

    def version_two(f):
        f.attrs["format_version"] = np.uint8(2)

    def scalar_weight(f):
        del f["nodes/dense2/weight"]
        f["nodes/dense2"].create_dataset("weight", data=np.float32(1.0))

    def unknown_op(f):
        f["nodes/hidden"].attrs["op"] = "gelu"

    def chunked_weight(f):
        data = f["nodes/dense1/weight"][...]
        del f["nodes/dense1/weight"]
        f["nodes/dense1"].create_dataset("weight", data=data, chunks=(2, 4),
                                         compression="gzip", shuffle=True, fletcher32=True)

    write_model(path("cycle"), mutate=cycle)
    write_model(path("soft-link-node"), mutate=soft_link)
    write_model(path("string-parameter"), mutate=string_parameter)
    write_model(path("missing-format"), mutate=no_format)
    write_model(path("format-version-2"), mutate=version_two)
    write_model(path("scalar-weight"), mutate=scalar_weight)
    write_model(path("unknown-op"), mutate=unknown_op)
    write_model(path("chunked-filtered-weight"), mutate=chunked_weight)

    # Damaged bytes of a valid file: cut short, and with a flipped byte in
    # the middle of the metadata.
    with open(path("mlp"), "rb") as f:
        valid = f.read()
    with open(path("truncated"), "wb") as f:
        f.write(valid[:len(valid) // 2])
    damaged = bytearray(valid)
    damaged[len(damaged) // 3] ^= 0xFF
    with open(path("flipped-byte"), "wb") as f:
        f.write(bytes(damaged))
    with open(path("not-hdf5"), "wb") as f:
        f.write(b"nnbatch-model, but not an HDF5 file\n")


def write_seeds(directory, seeds):
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="tests/fuzz/corpus",
                        help="corpus directory (default tests/fuzz/corpus)")
    args = parser.parse_args()

    writers = {
        "model_bytes": model_bytes_seeds,
        "model_graph": lambda d: write_seeds(d, model_graph_seeds()),
        "dataset": lambda d: write_seeds(d, dataset_seeds()),
    }
    total = 0
    for name, write in writers.items():
        directory = os.path.join(args.output, name)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        write(directory)
        files = os.listdir(directory)
        size = sum(os.path.getsize(os.path.join(directory, f)) for f in files)
        total += size
        print(f"{directory}: {len(files)} files, {size} bytes")
    print(f"total {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
