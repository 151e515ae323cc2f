"""Workloads of the nnbatch benchmark: seeded model and data files.

Every file is written under a temporary name and renamed when complete, and
carries a root attribute `bench_spec` (JSON) describing how it was made. A
file whose spec matches the requested one is reused as it is.
"""

import json
import os

import h5py
import numpy as np

# Bumped whenever the generated content changes, so old files are remade.
GENERATOR_VERSION = 1

# Target bytes per input chunk; chunks are whole rows, uncompressed.
CHUNK_BYTES = 4 << 20

# name: layer widths, hidden and output activations, labels, row counts
# (full, quick) and where the rows come from.
WORKLOADS = {
    "W1": {
        "title": "Fashion-MNIST MLP 784-512-256-10",
        "widths": [784, 512, 256, 10],
        "hidden": "relu",
        "head": "softmax",
        "labels": True,
        "rows": {"full": 1_000_000, "quick": 100_000},
        "source": "fashion-mnist",
        "seed": 1,
    },
    "W2": {
        "title": "tabular 32-64-64-1",
        "widths": [32, 64, 64, 1],
        "hidden": "relu",
        "head": "sigmoid",
        "labels": False,
        "rows": {"full": 20_000_000, "quick": 2_000_000},
        "source": "normal",
        "seed": 2,
    },
    "W3": {
        "title": "wide 1024-4096-4096-1024",
        "widths": [1024, 4096, 4096, 1024],
        "hidden": "tanh",
        "head": "tanh",
        "labels": False,
        "rows": {"full": 20_000, "quick": 4_000},
        "source": "normal",
        "seed": 3,
    },
}

# Name of the graph output written by each head activation.
HEAD_OUTPUTS = {"softmax": "probabilities", "sigmoid": "probability", "tanh": "output"}

FEATURES = "/features"
LABELS = "/labels"


def flops_per_row(name):
    widths = WORKLOADS[name]["widths"]
    return sum(2 * a * b for a, b in zip(widths, widths[1:]))


def _matches(path, spec):
    if not os.path.exists(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return json.loads(f.attrs.get("bench_spec", "{}")) == spec
    except (OSError, ValueError):
        return False


def _write_atomically(path, spec, fill):
    """Call fill(h5py.File) on a temporary file, then rename it to path."""
    temp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    try:
        with h5py.File(temp, "w") as f:
            f.attrs["bench_spec"] = json.dumps(spec, sort_keys=True)
            fill(f)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _write_model(f, workload):
    """Write an nnbatch model (docs/model-format.md) with He-normal weights."""
    rng = np.random.default_rng(workload["seed"])
    widths = workload["widths"]
    labels = workload["labels"]
    f.attrs["format"] = "nnbatch-model"
    f.attrs["format_version"] = 1
    f.attrs["description"] = f"benchmark workload {workload['title']}, random weights"
    f.create_group("inputs/features").attrs.update({"role": "features", "width": widths[0]})
    if labels:
        f.create_group("inputs/labels").attrs["role"] = "labels"
    nodes = f.create_group("nodes")

    def node(name, op, inputs, **params):
        group = nodes.create_group(name)
        group.attrs["op"] = op
        group.attrs["inputs"] = inputs
        for key, value in params.items():
            group.create_dataset(key, data=value)

    value = "features"
    layers = len(widths) - 1
    for k in range(layers):
        fan_in, fan_out = widths[k], widths[k + 1]
        weight = rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out)).astype(np.float32)
        bias = rng.normal(0.0, 0.01, fan_out).astype(np.float32)
        node(f"dense{k + 1}", "matmul", [value], weight=weight)
        if k < layers - 1:
            node(f"dense{k + 1}_bias", "bias", [f"dense{k + 1}"], bias=bias)
            value = f"act{k + 1}"
            node(value, workload["hidden"], [f"dense{k + 1}_bias"])
        else:
            node("logits", "bias", [f"dense{k + 1}"], bias=bias)
            value = HEAD_OUTPUTS[workload["head"]]
            node(value, workload["head"], ["logits"])

    outputs = [value]
    if labels:
        node("loss", "cross_entropy", [value, "labels"])
        outputs.append("loss")
    f.attrs["outputs"] = outputs


def model_path(data_dir, name):
    return os.path.join(data_dir, f"{name.lower()}-model.h5")


def data_path(data_dir, name, rows):
    return os.path.join(data_dir, f"{name.lower()}-rows{rows}.h5")


def ensure_model(data_dir, name):
    """Return (path, reused) of the workload's model file, writing it if needed."""
    workload = WORKLOADS[name]
    spec = {"kind": "model", "workload": name, "widths": workload["widths"],
            "hidden": workload["hidden"], "head": workload["head"],
            "labels": workload["labels"], "seed": workload["seed"],
            "generator_version": GENERATOR_VERSION}
    path = model_path(data_dir, name)
    if _matches(path, spec):
        return path, True
    _write_atomically(path, spec, lambda f: _write_model(f, workload))
    return path, False


def _fashion_rows(fashion_path):
    """Read all 70,000 Fashion-MNIST images (train, then test) and their labels."""
    with h5py.File(fashion_path, "r") as f:
        images = np.concatenate([f["train/images"][:], f["test/images"][:]])
        labels = np.concatenate([f["train/labels"][:], f["test/labels"][:]])
    return images.astype(np.float32, copy=False), labels.astype(np.uint8)


def _write_data(f, workload, rows, fashion_path):
    width = workload["widths"][0]
    chunk_rows = 1 << int(np.log2(max(1, CHUNK_BYTES // (4 * width))))
    chunk_rows = min(chunk_rows, rows)
    features = f.create_dataset(FEATURES, shape=(rows, width), dtype=np.float32,
                                chunks=(chunk_rows, width))
    if workload["source"] == "fashion-mnist":
        # Real images, cycled to the requested row count with their labels.
        images, classes = _fashion_rows(fashion_path)
        labels = f.create_dataset(LABELS, shape=(rows,), dtype=np.uint8,
                                  chunks=(min(rows, 1 << 20),))
        for first in range(0, rows, len(images)):
            count = min(len(images), rows - first)
            features[first:first + count] = images[:count]
            labels[first:first + count] = classes[:count]
        return

    # Standard normal features, written a slab at a time to bound memory.
    rng = np.random.default_rng(workload["seed"] + 1000)
    slab = max(chunk_rows, (64 << 20) // (4 * width) // chunk_rows * chunk_rows)
    for first in range(0, rows, slab):
        count = min(slab, rows - first)
        features[first:first + count] = rng.standard_normal((count, width), dtype=np.float32)


def ensure_data(data_dir, name, rows, fashion_path):
    """Return (path, reused) of the workload's data file with `rows` rows."""
    workload = WORKLOADS[name]
    spec = {"kind": "data", "workload": name, "rows": rows, "width": workload["widths"][0],
            "source": workload["source"], "labels": workload["labels"],
            "seed": workload["seed"], "generator_version": GENERATOR_VERSION}
    if workload["source"] == "fashion-mnist":
        if not os.path.exists(fashion_path):
            raise SystemExit(f"bench: {fashion_path} not found; run "
                             f"`make {fashion_path}` first (it needs dataset-fashion-mnist)")
        spec["fashion_bytes"] = os.path.getsize(fashion_path)
    path = data_path(data_dir, name, rows)
    if _matches(path, spec):
        return path, True
    _write_atomically(path, spec, lambda f: _write_data(f, workload, rows, fashion_path))
    return path, False
