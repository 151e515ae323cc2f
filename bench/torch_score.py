#!/usr/bin/python3
"""PyTorch contender of the nnbatch benchmark.

Builds a torch.nn.Sequential from the weights of an nnbatch model file whose
graph is a chain: matmul, bias and activation nodes, optionally ending in
softmax and cross_entropy. Reads the input dataset with h5py in batches,
scores each batch under torch.inference_mode() and writes the same graph
outputs as nnbatch (float32 datasets named after their nodes) to a new HDF5
file. Prints key=value lines like nnb_bench. Only the loop from opening the
data file to closing the output file is timed.
"""

import argparse
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

ACTIVATIONS = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}

# Bytes per output chunk, as nnbatch's output writer uses (io/output.c).
OUTPUT_CHUNK_BYTES = 1 << 20


def text(value):
    """Decode an h5py string attribute (bytes or str)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def text_list(value):
    if isinstance(value, (str, bytes)):
        return [text(value)]
    return [text(v) for v in value]


def load_chain(model_path):
    """Return (sequential, flops_per_row, head, outputs) for a chain model.

    head is "softmax" when the chain ends in a softmax node (whose input are
    the logits the Sequential returns), else None. outputs lists
    (output name, kind) with kind "features", "softmax" or "loss".
    """
    with h5py.File(model_path, "r") as f:
        inputs = f["inputs"]
        features = [n for n in inputs if text(inputs[n].attrs["role"]) == "features"][0]
        nodes = {}
        readers = {}
        for name, group in f["nodes"].items():
            node_inputs = text_list(group.attrs["inputs"])
            params = {key: np.asarray(group[key], dtype=np.float32) for key in group}
            nodes[name] = (text(group.attrs["op"]), node_inputs, params)
            readers.setdefault(node_inputs[0], []).append(name)
        graph_outputs = text_list(f.attrs["outputs"])

    layers = []
    flops = 0
    head = None
    value = features
    kinds = {}
    while value in readers:
        chain_readers = [r for r in readers[value] if nodes[r][0] != "cross_entropy"]
        if len(chain_readers) != 1:
            break
        name = chain_readers[0]
        op, _, params = nodes[name]
        if op == "matmul":
            weight = params["weight"]
            linear = torch.nn.Linear(weight.shape[0], weight.shape[1], bias=False)
            linear.weight.data = torch.from_numpy(np.ascontiguousarray(weight.T))
            layers.append(linear)
            flops += 2 * weight.shape[0] * weight.shape[1]
        elif op == "bias":
            previous = layers[-1] if layers else None
            if not isinstance(previous, torch.nn.Linear) or previous.bias is not None:
                raise SystemExit(f"torch_score: node '{name}': bias must follow a matmul")
            previous.bias = torch.nn.Parameter(torch.from_numpy(params["bias"]))
        elif op in ACTIVATIONS:
            layers.append(ACTIVATIONS[op]())
        elif op == "softmax":
            head = "softmax"
            kinds[name] = "softmax"
            for reader in readers.get(name, []):
                if nodes[reader][0] == "cross_entropy":
                    kinds[reader] = "loss"
            break
        else:
            raise SystemExit(f"torch_score: node '{name}': op '{op}' is not supported")
        value = name
    if head is None:
        kinds[value] = "features"

    outputs = []
    for name in graph_outputs:
        if name not in kinds:
            raise SystemExit(f"torch_score: output '{name}' is not the end of the chain")
        outputs.append((name, kinds[name]))
    return torch.nn.Sequential(*layers).eval(), flops, head, outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="nnbatch model file")
    parser.add_argument("--data", required=True, help="HDF5 file with the input rows")
    parser.add_argument("--input", required=True, help="rows x features dataset")
    parser.add_argument("--labels", help="class indices dataset (adds the loss output)")
    parser.add_argument("--output", required=True, help="output HDF5 file to create")
    parser.add_argument("--threads", type=int, required=True,
                        help="torch.set_num_threads value")
    parser.add_argument("--batch-rows", type=int, required=True, help="rows per batch")
    parser.add_argument("--chunk-cache-bytes", type=int, default=1 << 20,
                        help="HDF5 chunk cache of the data file, in bytes")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    sequential, flops_per_row, head, outputs = load_chain(args.model)
    if args.labels is None:
        outputs = [(name, kind) for name, kind in outputs if kind != "loss"]

    start = time.perf_counter()
    with h5py.File(args.data, "r", rdcc_nbytes=args.chunk_cache_bytes,
                   rdcc_nslots=100003) as data, h5py.File(args.output, "w") as out:
        features = data[args.input]
        rows, width = features.shape
        labels = data[args.labels] if args.labels else None
        batch = np.empty((min(args.batch_rows, rows), width), dtype=np.float32)

        # Output datasets are created at the first batch, when their widths are known.
        written = {}

        loss_sum = 0.0
        correct = 0
        with torch.inference_mode():
            for first in range(0, rows, args.batch_rows):
                count = min(args.batch_rows, rows - first)
                features.read_direct(batch, np.s_[first:first + count], np.s_[0:count])
                x = torch.from_numpy(batch[:count])
                result = sequential(x)
                values = {}
                if head == "softmax":
                    values["softmax"] = torch.softmax(result, dim=1)
                    if labels is not None:
                        target = torch.from_numpy(
                            labels[first:first + count].astype(np.int64).reshape(-1))
                        loss = F.cross_entropy(result, target, reduction="none")
                        values["loss"] = loss.reshape(-1, 1)
                        loss_sum += float(loss.double().sum())
                        correct += int((result.argmax(dim=1) == target).sum())
                else:
                    values["features"] = result

                for name, kind in outputs:
                    array = values[kind].numpy()
                    if name not in written:
                        chunk_rows = max(1, min(rows, OUTPUT_CHUNK_BYTES // (4 * array.shape[1])))
                        written[name] = out.create_dataset(
                            name, shape=(rows, array.shape[1]), dtype=np.float32,
                            chunks=(chunk_rows, array.shape[1]))
                    written[name][first:first + count] = array
    seconds = time.perf_counter() - start

    print(f"rows={rows}")
    print(f"seconds={seconds:.6f}")
    print(f"flops={flops_per_row * rows}")
    print(f"threads={args.threads}")
    print(f"batch_rows={args.batch_rows}")
    print(f"torch_version={torch.__version__}")
    if labels is not None and head == "softmax":
        print(f"mean_loss={loss_sum / rows:.9g}")
        print(f"accuracy={correct / rows:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
