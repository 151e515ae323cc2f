#!/usr/bin/python3
"""Write Keras legacy HDF5 test files, with expected outputs, for nnbatch's tests.

Usage: make_keras_fixtures.py OUTDIR [--real DIR]

Keras itself is not needed: the files are written with h5py in the layouts
that Keras 1.2, 2.0-2.3, tf.keras 2.x and Keras 3 write (model.save() to .h5
and model.save_weights() to .h5), with random weights. OUTDIR receives:

- <dialect>.h5 for every dialect in DIALECTS, and weights_only.json, the
  architecture of weights_only.h5 as model.to_json() writes it;
- error_<kind>.h5 for every kind of file nnbatch must reject (ERRORS);
- expected.h5 with, for each dialect, datasets <dialect>/input (float32
  rows x features) and <dialect>/output (float64, the model's output).

Expected outputs come from a float64 numpy forward pass of the layers as
Keras defines them (BatchNormalization computed explicitly, not folded),
with the weights and inputs rounded to float32 first, as nnbatch reads them.

With --real DIR, every *.h5 file in DIR (real files saved by Keras) is also
run through an independent numpy interpretation of its model_config and
weights, and expected.h5 gets real/<file name without .h5>/input and
real/<file name without .h5>/output.

Exit status: 0 on success, 2 on a usage error, 77 when numpy or h5py is
missing (the CUnit suite then skips its Keras tests).
"""

import argparse
import json
import os
import sys

try:
    import h5py
    import numpy as np
except ImportError as missing:
    print(f"make_keras_fixtures: {missing}; install python3-numpy and python3-h5py",
          file=sys.stderr)
    sys.exit(77)

ROWS = 9

# ---- Layer specifications and the reference forward pass -------------------


class Layer:
    """One layer: Keras class, name, settings and weights in Keras order."""

    def __init__(self, cls, name, **settings):
        self.cls = cls
        self.name = name
        self.settings = settings
        self.weights = []  # (role, float32 array), in weight_names order


def activation(name, z):
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(f"activation {name} has no reference")


def forward(layers, x):
    """Run rows `x` through the layers in float64, as Keras predicts."""
    value = x.astype(np.float64)
    for layer in layers:
        weights = {role: w.astype(np.float64) for role, w in layer.weights}
        s = layer.settings
        if layer.cls == "Dense":
            value = value @ weights["kernel"]
            if s.get("use_bias", True):
                value = value + weights["bias"]
            value = activation(s.get("activation", "linear"), value)
        elif layer.cls == "Activation":
            value = activation(s["activation"], value)
        elif layer.cls == "BatchNormalization":
            eps = s.get("epsilon", 1e-3)
            gamma = weights.get("gamma", 1.0)
            beta = weights.get("beta", 0.0)
            value = (gamma * (value - weights["moving_mean"])
                     / np.sqrt(weights["moving_variance"] + eps) + beta)
        elif layer.cls in ("Dropout", "Flatten", "InputLayer"):
            pass
        else:
            raise ValueError(f"class {layer.cls} has no reference")
    return value


def dense(rng, name, n_in, units, act="linear", use_bias=True, **settings):
    layer = Layer("Dense", name, units=units, activation=act, use_bias=use_bias, **settings)
    layer.weights.append(("kernel", rng.uniform(-0.8, 0.8, (n_in, units)).astype(np.float32)))
    if use_bias:
        layer.weights.append(("bias", rng.uniform(-0.3, 0.3, units).astype(np.float32)))
    return layer


def batch_norm(rng, name, width, scale=True, center=True, epsilon=1e-3, **settings):
    layer = Layer("BatchNormalization", name, scale=scale, center=center, epsilon=epsilon,
                  **settings)
    if scale:
        layer.weights.append(("gamma", rng.uniform(0.5, 1.5, width).astype(np.float32)))
    if center:
        layer.weights.append(("beta", rng.uniform(-0.5, 0.5, width).astype(np.float32)))
    layer.weights.append(("moving_mean", rng.uniform(-1, 1, width).astype(np.float32)))
    layer.weights.append(("moving_variance", rng.uniform(0.2, 2.0, width).astype(np.float32)))
    return layer


# ---- Keras dialects ---------------------------------------------------------

# Keras 1 names weights <layer>_<W|b|gamma|...>; Keras 2 <layer>/<kernel|...>:0.
KERAS1_ROLES = {"kernel": "W", "bias": "b", "gamma": "gamma", "beta": "beta",
                "moving_mean": "running_mean", "moving_variance": "running_std"}


class Dialect:
    """How one Keras version writes a model."""

    def __init__(self, version, config, weight_names, strings, backend="tensorflow"):
        self.version = version
        self.config = config              # "keras1", "keras2", "keras2_dict", "keras3"
        self.weight_names = weight_names  # function (model name, layer, role) -> path
        self.strings = strings            # "fixed" or "variable"
        self.backend = backend


def keras1_weight(model, layer, role):
    return f"{layer}_{KERAS1_ROLES[role]}:0"


def keras2_weight(model, layer, role):
    return f"{layer}/{role}:0"


def keras3_weight(model, layer, role):
    return f"{model}/{layer}/{role}"


def layer_config(dialect, layer, input_shape=None):
    """The config object of a layer as `dialect` writes it."""
    s = layer.settings
    keras1 = dialect.config == "keras1"
    if dialect.config == "keras3":
        dtype = {"module": "keras", "class_name": "DTypePolicy",
                 "config": {"name": "float32"}, "registered_name": None}
    else:
        dtype = "float32"
    config = {"name": layer.name, "trainable": True}
    if layer.cls != "InputLayer" and not keras1:
        config["dtype"] = dtype

    if layer.cls == "InputLayer":
        key = "batch_shape" if dialect.config == "keras3" else "batch_input_shape"
        config = {key: [None] + list(input_shape), "dtype": "float32", "sparse": False,
                  "name": layer.name}
    elif layer.cls == "Dense":
        if keras1:
            config.update(output_dim=s["units"], bias=s["use_bias"], init="glorot_uniform",
                          W_regularizer=None)
        else:
            config.update(units=s["units"], use_bias=s["use_bias"],
                          kernel_initializer={"class_name": "GlorotUniform",
                                              "config": {"seed": None}},
                          kernel_regularizer=None)
        config["activation"] = s["activation"]
    elif layer.cls == "Activation":
        config["activation"] = s["activation"]
    elif layer.cls == "Dropout":
        config["p" if keras1 else "rate"] = 0.25
    elif layer.cls == "BatchNormalization":
        config.update(axis=s.get("axis", -1), momentum=0.99, epsilon=s["epsilon"])
        if keras1:
            config["mode"] = 0
        else:
            config.update(center=s["center"], scale=s["scale"])
    elif layer.cls == "Conv2D":
        config.update(filters=2, kernel_size=[3, 3])
    if input_shape is not None and layer.cls != "InputLayer":
        config["batch_input_shape"] = [None] + list(input_shape)
        if keras1:
            config["input_dim"] = input_shape[0]
    return config


def sequential_config(dialect, layers, input_shape, with_input_layer):
    """model_config of a Sequential model. Without an InputLayer, the first
    layer carries the input shape."""
    entries = []
    for i, layer in enumerate(layers):
        declares_shape = layer.cls == "InputLayer" or (i == 0 and not with_input_layer)
        config = layer_config(dialect, layer, input_shape if declares_shape else None)
        entries.append({"class_name": layer.cls, "config": config})
    if dialect.config in ("keras1", "keras2"):
        config = entries
    else:
        config = {"name": "sequential", "layers": entries}
        if dialect.config == "keras3":
            config["build_input_shape"] = [None] + list(input_shape)
    return {"class_name": "Sequential", "config": config}


def inbound(dialect, parent):
    """inbound_nodes of a layer that reads `parent`."""
    if parent is None:
        return []
    if dialect.config == "keras1":
        return [[[parent, 0, 0]]]
    if dialect.config == "keras3":
        history = {"class_name": "__keras_tensor__",
                   "config": {"shape": [None, 4], "dtype": "float32",
                              "keras_history": [parent, 0, 0]}}
        return [{"args": [history], "kwargs": {}}]
    return [[[parent, 0, 0, {}]]]


def functional_config(dialect, layers, input_shape, class_name, order=None):
    """model_config of a functional model whose layers form a chain; `order`
    lists the layers in the order the config stores them."""
    entries = []
    for i, layer in enumerate(layers):
        parent = layers[i - 1].name if i > 0 else None
        entry = {"name": layer.name, "class_name": layer.cls,
                 "config": layer_config(dialect, layer,
                                        input_shape if layer.cls == "InputLayer" else None),
                 "inbound_nodes": inbound(dialect, parent)}
        if dialect.config == "keras3":
            entry.update(module="keras.layers", registered_name=None)
        entries.append(entry)
    if order is not None:
        entries = [entries[i] for i in order]
    first, last = [layers[0].name, 0, 0], [layers[-1].name, 0, 0]
    if dialect.config == "keras3":
        ends = {"input_layers": first, "output_layers": last}
    else:
        ends = {"input_layers": [first], "output_layers": [last]}
    return {"class_name": class_name,
            "config": {"name": "model", "layers": entries, **ends}}


def string_attribute(dialect, names):
    """A list of names as `dialect` stores layer_names and weight_names."""
    if dialect.strings == "fixed":
        return np.array([n.encode("ascii") for n in names])
    return np.array(names, dtype=h5py.string_dtype("utf-8"))


def set_names(group, key, dialect, names, split=False):
    """Store a name list, empty as Keras stores it for a layer without
    weights, or split into key0, key1 ... as Keras does for long lists."""
    if not names:
        group.attrs[key] = np.array([], dtype=np.float64)
    elif split and len(names) > 1:
        half = (len(names) + 1) // 2
        group.attrs[key + "0"] = string_attribute(dialect, names[:half])
        group.attrs[key + "1"] = string_attribute(dialect, names[half:])
    else:
        group.attrs[key] = string_attribute(dialect, names)


def write_weights(root, dialect, layers, model_name, listed, split_layers=()):
    """Write layer_names on `root` and one group per listed layer."""
    set_names(root, "layer_names", dialect, [l.name for l in listed],
              split="layer_names" in split_layers)
    for layer in listed:
        group = root.create_group(layer.name)
        names = [dialect.weight_names(model_name, layer.name, role) for role, _ in layer.weights]
        set_names(group, "weight_names", dialect, names, split=layer.name in split_layers)
        for name, (_, array) in zip(names, layer.weights):
            group.create_dataset(name, data=array)


def write_model(path, dialect, layers, config, listed=None, model_name="sequential",
                split_layers=(), weights_only=False, extra_top_level=False):
    """Write a Keras file: model.save() layout, or save_weights() layout
    when `weights_only`. `listed` are the layers named in layer_names
    (default: all but an InputLayer of a Sequential model)."""
    if listed is None:
        listed = [l for l in layers if l.cls != "InputLayer"]
    with h5py.File(path, "w") as f:
        version = np.array(dialect.version, dtype=h5py.string_dtype("ascii"))
        backend = np.array(dialect.backend, dtype=h5py.string_dtype("ascii"))
        if weights_only:
            f.attrs["keras_version"] = version
            f.attrs["backend"] = backend
            write_weights(f, dialect, layers, model_name, listed, split_layers)
            return
        f.attrs["keras_version"] = version
        f.attrs["backend"] = backend
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["training_config"] = json.dumps({"loss": "mse", "optimizer_config": {
            "class_name": "Adam", "config": {"lr": 0.001}}})
        weights = f.create_group("model_weights")
        if dialect.config != "keras1":
            weights.attrs["keras_version"] = version
            weights.attrs["backend"] = backend
        write_weights(weights, dialect, layers, model_name, listed, split_layers)
        if extra_top_level:
            top = weights.create_group("top_level_model_weights")
            top.attrs["weight_names"] = np.array([], dtype=np.float64)
        optimizer = f.create_group("optimizer_weights")
        optimizer.attrs["weight_names"] = string_attribute(dialect, ["Adam/iterations:0"])
        optimizer.create_dataset("Adam/iterations:0", data=np.int64(7))


# ---- The dialect fixtures ---------------------------------------------------

KERAS1 = Dialect("1.2.1", "keras1", keras1_weight, "fixed", backend="theano")
KERAS20 = Dialect("2.0.9", "keras2", keras2_weight, "fixed")
KERAS23 = Dialect("2.3.1", "keras2_dict", keras2_weight, "fixed")
TFKERAS27 = Dialect("2.7.0", "keras2_dict", keras2_weight, "variable")
KERAS3 = Dialect("3.5.0", "keras3", keras3_weight, "variable")


def dialect_fixtures(rng):
    """Yield (name, writer(path), layers, input width) for every dialect."""

    # Keras 1.2: Sequential as a list, output_dim/bias, W/b names, a Dense
    # without bias, Dropout, BatchNormalization (mode 0) after a linear Dense.
    layers = [dense(rng, "dense_1", 5, 6, "tanh"),
              Layer("Dropout", "dropout_1"),
              dense(rng, "dense_2", 6, 4, "linear", use_bias=False),
              batch_norm(rng, "batchnormalization_1", 4, epsilon=1e-3),
              Layer("Activation", "activation_1", activation="relu"),
              dense(rng, "dense_3", 4, 3, "softmax")]
    yield ("keras1_sequential",
           lambda p, l=layers: write_model(p, KERAS1, l, sequential_config(KERAS1, l, [5], False)),
           layers, 5)

    # Keras 2.0: Sequential as a list, Dense + Activation layers, Flatten,
    # BatchNormalization with center=False after a Dense without bias.
    layers = [dense(rng, "dense_13", 4, 8, "linear"),
              Layer("Activation", "activation_13", activation="sigmoid"),
              Layer("Flatten", "flatten_1"),
              dense(rng, "dense_14", 8, 5, "linear", use_bias=False),
              batch_norm(rng, "batch_normalization_1", 5, center=False, epsilon=0.01),
              Layer("Activation", "activation_14", activation="tanh"),
              dense(rng, "dense_15", 5, 3),
              Layer("Activation", "activation_15", activation="softmax")]
    yield ("keras20_sequential_list",
           lambda p, l=layers: write_model(p, KERAS20, l,
                                           sequential_config(KERAS20, l, [4], False)),
           layers, 4)

    # Keras 2.3: Sequential as a dict, BatchNormalization first (folded
    # into the Dense after it), two in a row, scale=False on the second.
    layers = [batch_norm(rng, "batch_normalization_1", 6, epsilon=1e-3),
              batch_norm(rng, "batch_normalization_2", 6, scale=False, epsilon=1e-5),
              Layer("Dropout", "dropout_1"),
              dense(rng, "dense_1", 6, 7, "relu"),
              dense(rng, "dense_2", 7, 2, "sigmoid")]
    yield ("keras23_batchnorm_first",
           lambda p, l=layers: write_model(p, KERAS23, l,
                                           sequential_config(KERAS23, l, [6], False)),
           layers, 6)

    # tf.keras 2.7: Functional, InputLayer listed in layer_names, layers
    # stored out of execution order, UTF-8 variable-length names, axis [1],
    # top_level_model_weights.
    layers = [Layer("InputLayer", "features"),
              dense(rng, "dense", 5, 6, "linear"),
              batch_norm(rng, "batch_normalization", 6, scale=False, axis=[1]),
              Layer("Activation", "activation", activation="relu"),
              Layer("Dropout", "dropout"),
              dense(rng, "dense_1", 6, 4, "softmax")]
    config = functional_config(TFKERAS27, layers, [5], "Functional", order=[0, 3, 1, 5, 2, 4])
    yield ("tfkeras27_functional",
           lambda p, l=layers, c=config: write_model(p, TFKERAS27, l, c, listed=l,
                                                     model_name="model",
                                                     extra_top_level=True),
           layers, 5)

    # Keras 3.5: Functional, DTypePolicy objects, batch_shape of rank 2
    # flattened, keras_history references, weight names without ':0', split
    # layer_names and weight_names.
    layers = [Layer("InputLayer", "input_layer"),
              Layer("Flatten", "flatten"),
              dense(rng, "dense", 8, 5, "relu"),
              Layer("Dropout", "dropout"),
              dense(rng, "dense_1", 5, 3, "linear")]
    config = functional_config(KERAS3, layers, [2, 4], "Functional")
    yield ("keras3_functional",
           lambda p, l=layers, c=config: write_model(
               p, KERAS3, l, c, listed=l, model_name="functional",
               split_layers=("layer_names", "dense"), extra_top_level=True),
           layers, 8)

    # Keras 3.5 Sequential with an InputLayer (as the real Keras 3 file).
    layers = [Layer("InputLayer", "input_layer"),
              dense(rng, "dense", 3, 4, "tanh"),
              dense(rng, "dense_1", 4, 2, "softmax")]
    yield ("keras3_sequential",
           lambda p, l=layers: write_model(p, KERAS3, l,
                                           sequential_config(KERAS3, l, [3], True)),
           layers, 3)

    # Keras 1 functional model: class Model, inbound nodes [name, 0, 0].
    layers = [Layer("InputLayer", "input_1"),
              dense(rng, "dense_1", 3, 4, "sigmoid"),
              dense(rng, "dense_2", 4, 2, "linear")]
    config = functional_config(KERAS1, layers, [3], "Model")
    yield ("keras1_functional_model",
           lambda p, l=layers, c=config: write_model(p, KERAS1, l, c, listed=l,
                                                     model_name="model"),
           layers, 3)

    # model.save_weights(): names and weights at the root, no model_config;
    # the architecture is in weights_only.json.
    layers = [dense(rng, "dense_1", 4, 5, "relu"), Layer("Dropout", "dropout_1"),
              dense(rng, "dense_2", 5, 3, "softmax")]

    def write_weights_only(path, l=layers):
        write_model(path, KERAS23, l, None, weights_only=True)
        config = sequential_config(KERAS23, l, [4], False)
        config.update(keras_version=KERAS23.version, backend="tensorflow")
        with open(os.path.join(os.path.dirname(path), "weights_only.json"), "w") as f:
            json.dump(config, f)

    yield ("weights_only", write_weights_only, layers, 4)


# ---- Files nnbatch must reject ----------------------------------------------


def error_fixtures(rng, out):
    """Write error_<kind>.h5 files, one per kind of rejected file."""
    def simple(n_in=4):
        return [dense(rng, "dense_1", n_in, 3, "relu"), dense(rng, "dense_2", 3, 2, "softmax")]

    with h5py.File(os.path.join(out, "error_not_keras.h5"), "w") as f:
        f.attrs["title"] = "measurements"
        f.create_dataset("x", data=np.zeros((3, 4), np.float32))

    layers = simple()
    conv = Layer("Conv2D", "conv2d_1")
    model = [layers[0], conv, layers[1]]
    write_model(os.path.join(out, "error_unsupported_layer.h5"), KERAS23, layers,
                sequential_config(KERAS23, model, [4], False))

    layers = simple()
    path = os.path.join(out, "error_missing_weight.h5")
    write_model(path, KERAS23, layers, sequential_config(KERAS23, layers, [4], False))
    with h5py.File(path, "a") as f:
        del f["model_weights/dense_2/dense_2/bias:0"]

    layers = simple()
    path = os.path.join(out, "error_wrong_shape.h5")
    write_model(path, KERAS23, layers, sequential_config(KERAS23, layers, [4], False))
    with h5py.File(path, "a") as f:
        del f["model_weights/dense_2/dense_2/kernel:0"]
        f["model_weights/dense_2/dense_2/kernel:0"] = np.zeros((5, 2), np.float32)

    layers = simple()
    write_model(os.path.join(out, "error_weights_only.h5"), KERAS23, layers, None,
                weights_only=True)

    layers = simple()
    path = os.path.join(out, "error_bad_json.h5")
    write_model(path, KERAS23, layers, sequential_config(KERAS23, layers, [4], False))
    with h5py.File(path, "a") as f:
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": {"layers": [,]}}'

    layers = simple()
    layers[0].settings["activation"] = "elu"
    write_model(os.path.join(out, "error_unsupported_activation.h5"), KERAS23, layers,
                sequential_config(KERAS23, layers, [4], False))

    # Two Dense layers both read the input: a branch, not a chain.
    layers = [Layer("InputLayer", "input_1"), dense(rng, "dense_1", 4, 3),
              dense(rng, "dense_2", 4, 3)]
    config = functional_config(KERAS23, layers, [4], "Functional")
    config["config"]["layers"][2]["inbound_nodes"] = inbound(KERAS23, "input_1")
    write_model(os.path.join(out, "error_branching.h5"), KERAS23, layers, config, listed=layers,
                model_name="model")

    # BatchNormalization between a relu Dense and an Activation: nothing
    # to fold it into.
    layers = [dense(rng, "dense_1", 4, 3, "relu"), batch_norm(rng, "batch_normalization_1", 3),
              Layer("Activation", "activation_1", activation="sigmoid")]
    write_model(os.path.join(out, "error_batchnorm_unfoldable.h5"), KERAS23, layers,
                sequential_config(KERAS23, layers, [4], False))


# ---- Real Keras files ---------------------------------------------------------


def decode(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def names_attribute(group, key):
    """layer_names or weight_names, joined from key0, key1 ... when split."""
    if key in group.attrs:
        values = group.attrs[key]
    else:
        values, part = [], 0
        while f"{key}{part}" in group.attrs:
            values.extend(group.attrs[f"{key}{part}"])
            part += 1
    return [decode(v) for v in np.atleast_1d(values)] if len(values) else []


def real_forward(path, x):
    """Interpret a real Sequential Keras file (Dense, Activation, Dropout,
    InputLayer) with numpy, independently of nnbatch."""
    with h5py.File(path, "r") as f:
        config = json.loads(decode(f.attrs["model_config"]))
        entries = config["config"]
        if isinstance(entries, dict):
            entries = entries["layers"]
        if config["class_name"] != "Sequential":
            raise ValueError(f"{path}: only Sequential models are interpreted")
        root = f["model_weights"] if "model_weights" in f else f
        value = x.astype(np.float64)
        for entry in entries:
            cls, cfg = entry["class_name"], entry["config"]
            if cls == "Dense":
                group = root[cfg["name"]]
                weights = [np.asarray(group[n], np.float32).astype(np.float64)
                           for n in names_attribute(group, "weight_names")]
                value = value @ weights[0]
                if cfg.get("use_bias", cfg.get("bias", True)):
                    value = value + weights[1]
                value = activation(cfg["activation"], value)
            elif cls == "Activation":
                value = activation(cfg["activation"], value)
            elif cls not in ("Dropout", "InputLayer"):
                raise ValueError(f"{path}: class {cls} is not interpreted")
        return value


def real_input_width(path):
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for name in names_attribute(root, "layer_names"):
            names = names_attribute(root[name], "weight_names")
            if names:
                return root[name][names[0]].shape[0]
    raise ValueError(f"{path}: no weights found")


# ---- Main ----------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outdir", help="directory to write the files into (created)")
    parser.add_argument("--real", metavar="DIR",
                        help="directory of real Keras .h5 files to compute outputs for")
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)

    rng = np.random.default_rng(20240611)
    with h5py.File(os.path.join(args.outdir, "expected.h5"), "w") as expected:
        for name, write, layers, width in dialect_fixtures(rng):
            write(os.path.join(args.outdir, name + ".h5"))
            x = rng.uniform(-2, 2, (ROWS, width)).astype(np.float32)
            expected[f"{name}/input"] = x
            expected[f"{name}/output"] = forward(layers, x)

        if args.real:
            for file in sorted(os.listdir(args.real)):
                if not file.endswith(".h5"):
                    continue
                path = os.path.join(args.real, file)
                x = rng.uniform(-2, 2, (ROWS, real_input_width(path))).astype(np.float32)
                expected[f"real/{file[:-3]}/input"] = x
                expected[f"real/{file[:-3]}/output"] = real_forward(path, x)

    error_fixtures(rng, args.outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
