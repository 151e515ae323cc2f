#!/usr/bin/python3
"""Check an nnbatch output file against a numpy reference forward pass.

Usage: check_predictions.py MODEL DATA OUTPUT [--input DATASET]
                            [--labels DATASET] [--tolerance T]

MODEL is any nnbatch model file (docs/model-format.md, version 1). The script
interprets its graph in float64: nodes run in topological order of their
@inputs, parameters are rounded to float32 first (as nnbatch does when it
loads a model) and so are the input rows. It reads the rows of DATA:--input
(and the class indices of DATA:--labels when the model has a labels input) in
batches of at most about 64 MiB of working memory. Each graph output must be a
dataset of OUTPUT's root named after its node, with shape (rows, width).
Outputs that need the labels are skipped when --labels is empty.

A value passes when |output - reference| / max(1, |reference|) is at most
--tolerance, so the check is absolute for values up to 1 in magnitude
(probabilities) and relative above. A pure absolute 1e-5 would reject a
correct float32 engine: in a float32 numpy forward pass of
models/fashion_mlp.h5 on /test, the loss 7.75 of one row differed from the
float64 result by 1.3e-5. Equal
infinities and NaN against NaN pass, and NaN or infinity on one side only fails.

It prints the maximum absolute and scaled difference of each output, the
reference accuracy and mean loss (when the model has a cross_entropy node),
and the root attributes `accuracy` and `mean_loss` of OUTPUT when present.
Those two attributes are printed for comparison only and do not affect the
exit status.

Exit status: 0 when every output is within --tolerance; 1 when a difference
exceeds it or an output dataset is missing or has the wrong shape; 2 when
the model, data or output file cannot be read or is invalid.
"""

import argparse
import sys

import h5py
import numpy as np

# Upper bound on the bytes that one batch of input rows, every graph value
# and the compared output rows take together.
BATCH_MEMORY_BYTES = 64 * 1024 * 1024

# Number of inputs and the parameters (name -> rank) of each operator.
OPERATORS = {
    "matmul": (1, {"weight": 2}),
    "bias": (1, {"bias": 1}),
    "relu": (1, {}),
    "sigmoid": (1, {}),
    "tanh": (1, {}),
    "softmax": (1, {}),
    "cross_entropy": (2, {}),
}


class CheckError(Exception):
    """A file that cannot be read or is invalid; the message names it."""


# ---------------------------------------------------------------------------
# Model loading and validation
# ---------------------------------------------------------------------------


def decode_string(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return decode_string(value[()])
    return value if isinstance(value, str) else None


def read_string_attribute(attrs, name):
    """Return a string attribute, or None when it is missing or not a string."""
    if name not in attrs:
        return None
    return decode_string(attrs[name])


def read_string_list_attribute(attrs, name):
    """Return a string-array attribute as a list of str.

    A single string gives a list of one. Returns None when the attribute is
    missing or not made of strings.
    """
    if name not in attrs:
        return None
    value = attrs[name]
    single = decode_string(value)
    if single is not None:
        return [single]
    if isinstance(value, np.ndarray) and value.ndim == 1:
        items = [decode_string(item) for item in value]
        if all(item is not None for item in items):
            return items
    return None


def read_integer_attribute(attrs, name):
    if name not in attrs:
        return None
    value = np.asarray(attrs[name])
    if value.shape != () or value.dtype.kind not in "iu":
        return None
    return int(value)


class Model:
    """A validated nnbatch graph.

    Fields: features (input name), features_width, labels (input name or
    None), ops, inputs and parameters (dicts keyed by node name), order (node
    names in execution order), widths (value name -> width), outputs,
    cross_entropy (node name or None).
    """


def load_inputs(path, model_file, model):
    if "inputs" not in model_file or not isinstance(model_file["inputs"], h5py.Group):
        raise CheckError(f"{path}: group /inputs is missing")
    model.features = None
    model.labels = None
    for name, group in model_file["inputs"].items():
        role = read_string_attribute(group.attrs, "role")
        if role == "features":
            if model.features is not None:
                raise CheckError(
                    f"{path}: inputs '{model.features}' and '{name}' both have role "
                    f"'features', expected exactly one"
                )
            width = read_integer_attribute(group.attrs, "width")
            if width is None or width <= 0:
                raise CheckError(f"{path}: input '{name}': @width is missing or not a positive integer")
            model.features = name
            model.features_width = width
        elif role == "labels":
            if model.labels is not None:
                raise CheckError(
                    f"{path}: inputs '{model.labels}' and '{name}' both have role "
                    f"'labels', expected at most one"
                )
            model.labels = name
        else:
            raise CheckError(f"{path}: input '{name}': @role is {role!r}, expected 'features' or 'labels'")
    if model.features is None:
        raise CheckError(f"{path}: no input has role 'features', expected exactly one")


def load_parameter(path, name, group, key, rank):
    if key not in group or not isinstance(group[key], h5py.Dataset):
        raise CheckError(f"{path}: node '{name}': parameter '{key}' is missing")
    dataset = group[key]
    if dataset.dtype.kind not in "iuf":
        raise CheckError(f"{path}: node '{name}': parameter '{key}' has non-numeric type {dataset.dtype}")
    if dataset.ndim != rank:
        raise CheckError(
            f"{path}: node '{name}': parameter '{key}' has rank {dataset.ndim} "
            f"(shape {dataset.shape}), expected rank {rank}"
        )
    if dataset.size == 0:
        raise CheckError(f"{path}: node '{name}': parameter '{key}' is empty (shape {dataset.shape})")
    # nnbatch converts every parameter to float32 when it loads the model.
    return np.asarray(dataset[()], dtype=np.float32).astype(np.float64)


def load_nodes(path, model_file, model):
    if "nodes" not in model_file or not isinstance(model_file["nodes"], h5py.Group):
        raise CheckError(f"{path}: group /nodes is missing")
    model.ops = {}
    model.inputs = {}
    model.parameters = {}
    input_names = {model.features, model.labels} - {None}
    for name, group in model_file["nodes"].items():
        if name in input_names:
            raise CheckError(f"{path}: node '{name}' has the same name as an input")
        op = read_string_attribute(group.attrs, "op")
        if op not in OPERATORS:
            raise CheckError(f"{path}: node '{name}': unknown @op {op!r}")
        input_count, parameter_ranks = OPERATORS[op]
        inputs = read_string_list_attribute(group.attrs, "inputs")
        if inputs is None:
            raise CheckError(f"{path}: node '{name}': @inputs is missing or not a string array")
        if len(inputs) != input_count:
            raise CheckError(
                f"{path}: node '{name}': op '{op}' reads {input_count} input(s), @inputs lists {len(inputs)}"
            )
        model.ops[name] = op
        model.inputs[name] = inputs
        model.parameters[name] = {
            key: load_parameter(path, name, group, key, rank) for key, rank in parameter_ranks.items()
        }


def order_nodes(path, model):
    """Set model.order so that every node comes after the nodes it reads.

    Raises CheckError on a reference to an unknown name or on a cycle.
    """
    known_inputs = {model.features, model.labels} - {None}
    for name, inputs in model.inputs.items():
        for source in inputs:
            if source not in model.ops and source not in known_inputs:
                raise CheckError(f"{path}: node '{name}' reads '{source}', which is neither an input nor a node")

    # Depth-first search. A node met again while still on the stack closes a cycle.
    order = []
    state = {}  # name -> "visiting" or "done"
    for root in sorted(model.ops):
        if state.get(root) == "done":
            continue
        stack = [(root, iter(model.inputs[root]))]
        state[root] = "visiting"
        while stack:
            name, pending = stack[-1]
            source = next(pending, None)
            if source is None:
                stack.pop()
                state[name] = "done"
                order.append(name)
            elif source in model.ops:
                if state.get(source) == "visiting":
                    raise CheckError(f"{path}: the nodes form a cycle through '{source}'")
                if state.get(source) is None:
                    state[source] = "visiting"
                    stack.append((source, iter(model.inputs[source])))
    model.order = order


def infer_widths(path, model):
    """Set model.widths and model.cross_entropy, checking every shape."""
    widths = {model.features: model.features_width}
    model.cross_entropy = None
    for name in model.order:
        op = model.ops[name]
        inputs = model.inputs[name]

        if op == "cross_entropy":
            if model.cross_entropy is not None:
                raise CheckError(
                    f"{path}: nodes '{model.cross_entropy}' and '{name}' are both cross_entropy, expected at most one"
                )
            softmax, labels = inputs
            if model.ops.get(softmax) != "softmax" or labels != model.labels:
                raise CheckError(
                    f"{path}: node '{name}': cross_entropy must read a softmax node and then "
                    f"the labels input, but @inputs is {inputs}"
                )
            model.cross_entropy = name
            widths[name] = 1
            continue

        source = inputs[0]
        if source == model.labels:
            raise CheckError(f"{path}: node '{name}' reads the labels input '{source}', which only cross_entropy may read")
        width = widths[source]
        if op == "matmul":
            weight = model.parameters[name]["weight"]
            if weight.shape[0] != width:
                raise CheckError(
                    f"{path}: node '{name}': weight shape {weight.shape} does not match "
                    f"input '{source}' of shape (rows, {width})"
                )
            width = weight.shape[1]
        elif op == "bias":
            bias = model.parameters[name]["bias"]
            if bias.shape[0] != width:
                raise CheckError(
                    f"{path}: node '{name}': bias shape {bias.shape} does not match "
                    f"input '{source}' of shape (rows, {width})"
                )
        widths[name] = width
    model.widths = widths


def load_model(path):
    """Read and validate the model file at `path` and return a Model."""
    model = Model()
    try:
        with h5py.File(path, "r") as model_file:
            if read_string_attribute(model_file.attrs, "format") != "nnbatch-model":
                raise CheckError(f"{path}: @format is missing or not 'nnbatch-model'")
            version = read_integer_attribute(model_file.attrs, "format_version")
            if version != 1:
                raise CheckError(f"{path}: @format_version is {version}, expected 1")
            load_inputs(path, model_file, model)
            load_nodes(path, model_file, model)
            outputs = read_string_list_attribute(model_file.attrs, "outputs")
    except OSError as error:
        raise CheckError(f"{path}: cannot read the model file: {error}") from None

    if not outputs:
        raise CheckError(f"{path}: @outputs is missing or empty")
    for output in outputs:
        if output not in model.ops:
            raise CheckError(f"{path}: @outputs names '{output}', which is not a node")
    model.outputs = outputs

    order_nodes(path, model)
    infer_widths(path, model)
    return model


def needs_labels(model, name):
    """Return True when computing node `name` reads the labels input."""
    pending = [name]
    seen = set()
    while pending:
        current = pending.pop()
        if current == model.labels:
            return True
        if current in seen or current not in model.ops:
            continue
        seen.add(current)
        pending.extend(model.inputs[current])
    return False


# ---------------------------------------------------------------------------
# Reference forward pass, float64
# ---------------------------------------------------------------------------


def sigmoid(x):
    # exp of a non-positive argument only, so neither branch overflows.
    exp_negative_abs = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + exp_negative_abs), exp_negative_abs / (1 + exp_negative_abs))


# Non-finite rows follow docs/numerics.md: the +inf entries of a row share
# all the probability equally, and a row with a NaN or only -inf entries
# becomes NaN (the max-subtracted formula already gives NaN there).


def softmax(x):
    row_max = x.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        shifted = np.exp(x - row_max)
        result = shifted / shifted.sum(axis=1, keepdims=True)

    infinite_rows = np.isposinf(row_max[:, 0])
    if np.any(infinite_rows):
        is_infinite = np.isposinf(x[infinite_rows])
        result[infinite_rows] = is_infinite / is_infinite.sum(axis=1, keepdims=True)
    return result


def cross_entropy(logits, labels):
    """Return logsumexp(logits) - logits[label] per row, shape (rows, 1).

    A row with +inf logits gives log(k) when the label is one of its k
    infinite entries and +inf otherwise.
    """
    row_max = logits.max(axis=1, keepdims=True)
    label_logits = logits[np.arange(logits.shape[0]), labels]
    with np.errstate(invalid="ignore", divide="ignore"):
        log_sum_exp = row_max[:, 0] + np.log(np.exp(logits - row_max).sum(axis=1))
        loss = log_sum_exp - label_logits

    infinite_rows = np.isposinf(row_max[:, 0])
    if np.any(infinite_rows):
        infinite_count = np.isposinf(logits[infinite_rows]).sum(axis=1)
        loss[infinite_rows] = np.where(
            np.isposinf(label_logits[infinite_rows]), np.log(infinite_count), np.inf
        )
    return loss[:, np.newaxis]


def run_graph(model, nodes, features, labels):
    """Compute the nodes in the set `nodes` for one batch and return name -> value."""
    values = {model.features: features}
    for name in model.order:
        if name not in nodes:
            continue
        op = model.ops[name]
        x = values[model.inputs[name][0]]
        if op == "matmul":
            values[name] = x @ model.parameters[name]["weight"]
        elif op == "bias":
            values[name] = x + model.parameters[name]["bias"]
        elif op == "relu":
            # np.maximum propagates NaN, as the format requires.
            values[name] = np.maximum(x, 0.0)
        elif op == "sigmoid":
            values[name] = sigmoid(x)
        elif op == "tanh":
            values[name] = np.tanh(x)
        elif op == "softmax":
            values[name] = softmax(x)
        elif op == "cross_entropy":
            # x is the softmax node's output; the loss uses that node's input.
            logits = values[model.inputs[model.inputs[name][0]][0]]
            values[name] = cross_entropy(logits, labels)
    return values


def nodes_to_compute(model, targets):
    """Return the set of nodes that `targets` depend on, including themselves."""
    needed = set()
    pending = list(targets)
    while pending:
        name = pending.pop()
        if name in needed or name not in model.ops:
            continue
        needed.add(name)
        pending.extend(model.inputs[name])
    return needed


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------


def differences(reference, actual):
    """Return (|actual - reference|, that divided by max(1, |reference|)).

    Both are 0 where the two values are equal or both NaN, and infinite
    where only one side is NaN or infinite.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        absolute = np.abs(reference - actual)
        scaled = absolute / np.maximum(1.0, np.abs(reference))
    both_equal = (reference == actual) | (np.isnan(reference) & np.isnan(actual))
    for difference in (absolute, scaled):
        difference[both_equal] = 0.0
        difference[np.isnan(difference)] = np.inf
    return absolute, scaled


def open_dataset(path, file, name, description):
    if name not in file or not isinstance(file[name], h5py.Dataset):
        raise CheckError(f"{path}: {description} dataset {name} not found")
    dataset = file[name]
    if dataset.dtype.kind not in "iuf":
        raise CheckError(f"{path}: {description} dataset {name} has non-numeric type {dataset.dtype}")
    return dataset


def read_labels(path, dataset, start, stop, classes):
    raw = np.asarray(dataset[start:stop]).reshape(-1)
    labels = raw.astype(np.int64)
    invalid = (labels != raw) | (labels < 0) | (labels >= classes)
    if np.any(invalid):
        row = start + int(np.argmax(invalid))
        raise CheckError(
            f"{path}: labels dataset {dataset.name}: value {raw[row - start]} at row {row} "
            f"is not a class index in 0..{classes - 1}"
        )
    return labels


def find_output_datasets(arguments, output_file, model, names, rows, failures):
    """Return name -> dataset for the outputs that exist with the right shape.

    Appends one message to `failures` for each output that is missing or
    has the wrong type or shape.
    """
    datasets = {}
    for name in names:
        expected_shape = (rows, model.widths[name])
        dataset = output_file.get(name)
        if dataset is None:
            failures.append(f"{name}: dataset /{name} missing from {arguments.output}")
        elif not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "iuf":
            failures.append(f"{name}: /{name} in {arguments.output} is not a numeric dataset")
        elif dataset.shape != expected_shape:
            failures.append(f"{name}: dataset /{name} has shape {dataset.shape}, expected {expected_shape}")
        else:
            datasets[name] = dataset
    return datasets


def batch_row_count(model, computed, compared, input_itemsize):
    """Return how many rows fit in BATCH_MEMORY_BYTES for one batch."""
    row_bytes = model.features_width * (input_itemsize + 8)
    row_bytes += 8 * sum(model.widths[name] for name in computed)
    # The stored output rows, their float64 copy and the difference array.
    row_bytes += 24 * sum(model.widths[name] for name in compared)
    return max(1, BATCH_MEMORY_BYTES // row_bytes)


class Comparison:
    """Per-output maximum differences and the reference accuracy and loss."""

    def __init__(self, names):
        self.max_absolute = {name: 0.0 for name in names}
        self.max_scaled = {name: 0.0 for name in names}
        self.max_scaled_position = {name: None for name in names}
        self.correct = 0
        self.loss_sum = 0.0

    def add(self, name, start, reference, actual):
        """Fold one batch of output `name`, whose first row is `start`."""
        if reference.size == 0:
            return
        absolute, scaled = differences(reference, actual)
        self.max_absolute[name] = max(self.max_absolute[name], float(absolute.max()))
        flat_index = int(np.argmax(scaled))
        if scaled.flat[flat_index] > self.max_scaled[name]:
            self.max_scaled[name] = float(scaled.flat[flat_index])
            row, column = np.unravel_index(flat_index, scaled.shape)
            self.max_scaled_position[name] = (start + int(row), int(column))


def compare_batches(arguments, model, features, labels, datasets, computed, score_loss):
    """Run the reference over all rows in batches and return a Comparison."""
    comparison = Comparison(datasets)
    classes = None
    if score_loss:
        classes = model.widths[model.inputs[model.cross_entropy][0]]

    rows = features.shape[0]
    batch_rows = batch_row_count(model, computed, datasets, features.dtype.itemsize)
    for start in range(0, rows, batch_rows):
        stop = min(rows, start + batch_rows)
        # nnbatch converts input rows to float32 before scoring them.
        batch = np.asarray(features[start:stop], dtype=np.float32).astype(np.float64)
        batch_labels = None
        if score_loss:
            batch_labels = read_labels(arguments.data, labels, start, stop, classes)
        values = run_graph(model, computed, batch, batch_labels)

        for name, dataset in datasets.items():
            actual = np.asarray(dataset[start:stop], dtype=np.float64)
            comparison.add(name, start, values[name], actual)

        if score_loss:
            # As in nnbatch, a row is correct when its label is the first index
            # of the largest logit, and a row with a NaN logit never is.
            softmax_node = model.inputs[model.cross_entropy][0]
            logits = values[model.inputs[softmax_node][0]]
            is_correct = (np.argmax(logits, axis=1) == batch_labels) & ~np.isnan(logits).any(axis=1)
            comparison.correct += int(np.sum(is_correct))
            comparison.loss_sum += float(values[model.cross_entropy].sum())
    return comparison


def print_report(arguments, output_file, comparison, rows, skipped, reference_note, failures):
    print(
        f"check_predictions: {rows} rows of {arguments.data}:{arguments.input} "
        f"through {arguments.model}, compared with {arguments.output}"
    )
    for name, scaled in comparison.max_scaled.items():
        position = comparison.max_scaled_position[name]
        where = f" at row {position[0]}, column {position[1]}" if position else ""
        verdict = "ok" if scaled <= arguments.tolerance else "EXCEEDS TOLERANCE"
        print(
            f"  {name}: max abs difference {comparison.max_absolute[name]:.3g}, "
            f"max scaled difference {scaled:.3g}{where}: {verdict}"
        )
        if scaled > arguments.tolerance:
            failures.append(
                f"{name}: max scaled difference {scaled:.3g} exceeds tolerance {arguments.tolerance:g}"
            )
    for name in skipped:
        print(f"  {name}: not checked, because it needs labels and --labels is empty")

    if reference_note is None and rows > 0:
        print(
            f"reference: accuracy {comparison.correct / rows:.6f}, "
            f"mean loss {comparison.loss_sum / rows:.6f}"
        )
    elif reference_note is not None:
        print(f"reference: {reference_note}")
    for attribute in ("accuracy", "mean_loss"):
        if attribute in output_file.attrs:
            print(f"output file @{attribute}: {np.asarray(output_file.attrs[attribute]).item()}")


def check(arguments):
    """Run the comparison, print the report and return the exit status."""
    model = load_model(arguments.model)

    use_labels = model.labels is not None and arguments.labels != ""
    compared = [name for name in model.outputs if use_labels or not needs_labels(model, name)]
    skipped = [name for name in model.outputs if name not in compared]
    score_loss = use_labels and model.cross_entropy is not None
    reference_note = None
    if model.cross_entropy is None:
        reference_note = "no accuracy or loss, because the model has no cross_entropy node"
    elif not use_labels:
        reference_note = "no accuracy or loss, because --labels is empty"
    computed = nodes_to_compute(model, compared + ([model.cross_entropy] if score_loss else []))

    try:
        data_file = h5py.File(arguments.data, "r")
    except OSError as error:
        raise CheckError(f"{arguments.data}: cannot read the data file: {error}") from None
    try:
        output_file = h5py.File(arguments.output, "r")
    except OSError as error:
        data_file.close()
        raise CheckError(f"{arguments.output}: cannot read the output file: {error}") from None

    failures = []
    with data_file, output_file:
        features = open_dataset(arguments.data, data_file, arguments.input, "input")
        if features.ndim != 2 or features.shape[1] != model.features_width:
            raise CheckError(
                f"{arguments.data}: input dataset {arguments.input} has shape {features.shape}, "
                f"expected (rows, {model.features_width}) for model input '{model.features}'"
            )
        rows = features.shape[0]

        labels = None
        if use_labels:
            labels = open_dataset(arguments.data, data_file, arguments.labels, "labels")
            if labels.shape not in ((rows,), (rows, 1)):
                raise CheckError(
                    f"{arguments.data}: labels dataset {arguments.labels} has shape {labels.shape}, "
                    f"expected ({rows},) or ({rows}, 1)"
                )

        datasets = find_output_datasets(arguments, output_file, model, compared, rows, failures)
        comparison = compare_batches(arguments, model, features, labels, datasets, computed, score_loss)
        print_report(arguments, output_file, comparison, rows, skipped, reference_note, failures)

    if failures:
        for failure in failures:
            print(f"check_predictions: FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"check_predictions: OK, {len(compared)} output(s) within tolerance {arguments.tolerance:g}")
    return 0


def parse_arguments():
    parser = argparse.ArgumentParser(
        description="Compare an nnbatch output file with a float64 numpy forward pass of the model. "
        "Exit status 0: all outputs within tolerance; 1: a difference exceeds it or an output "
        "dataset is missing or has the wrong shape; 2: a file is unreadable or invalid."
    )
    parser.add_argument("model", help="nnbatch model file")
    parser.add_argument("data", help="HDF5 file with the input rows")
    parser.add_argument("output", help="HDF5 file written by nnbatch score")
    parser.add_argument("--input", default="/test/images",
                        help="dataset of DATA with the input rows, shape (rows, width) (default: /test/images)")
    parser.add_argument("--labels", default="/test/labels",
                        help="dataset of DATA with the class indices, shape (rows,) or (rows, 1); "
                        "an empty string skips the outputs that need labels (default: /test/labels)")
    parser.add_argument("--tolerance", type=float, default=1e-5,
                        help="maximum allowed |output - reference| / max(1, |reference|) "
                        "per value (default: 1e-5)")
    return parser.parse_args()


def main():
    arguments = parse_arguments()
    try:
        return check(arguments)
    except CheckError as error:
        print(f"check_predictions: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # h5py raises OSError when a dataset read fails part way.
        print(f"check_predictions: reading failed: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
