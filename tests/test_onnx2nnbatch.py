#!/usr/bin/python3
"""Tests of tools/onnx2nnbatch.

Usage: test_onnx2nnbatch.py [-v]

Exports small PyTorch models with torch.onnx.export, converts them, scores
random rows with the nnbatch CLI ($NNB_CLI, default build/nnbatch) and
compares with PyTorch's own outputs. Converts hand-built ONNX graphs that use
Gemm's alpha, beta, transB and broadcast C, and checks them against numpy.
Checks that each unsupported node or use is rejected with one message naming
it. Run from the repository root.

Exit status: 0 when every test passes, 1 when one fails, 77 when torch,
onnx, numpy or h5py is missing (nothing is tested then).
"""

import os
import subprocess
import sys
import tempfile
import unittest

try:
    import h5py
    import numpy as np
    import onnx
    import torch
    from onnx import TensorProto, helper, numpy_helper
except ImportError as missing:
    print(f"test_onnx2nnbatch: skipped: {missing}", file=sys.stderr)
    sys.exit(77)

TOOL = os.path.join("tools", "onnx2nnbatch")
CLI = os.environ.get("NNB_CLI", os.path.join("build", "nnbatch"))
PYTHON = os.environ.get("NNB_PYTHON", sys.executable)

# Largest |nnbatch - reference| / max(1, |reference|): nnbatch computes in
# float32 with another summation order than PyTorch.
TOLERANCE = 1e-5


class Onnx2NnbatchTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory(prefix="nnb-onnx-")
        self.addCleanup(self.directory.cleanup)

    def path(self, name):
        return os.path.join(self.directory.name, name)

    def convert(self, onnx_path, expect_success=True):
        output = self.path("model.h5")
        result = subprocess.run([PYTHON, TOOL, onnx_path, output], capture_output=True,
                                text=True)
        if expect_success:
            self.assertEqual(result.returncode, 0, result.stderr)
        return result, output

    def score(self, model_path, rows):
        """Score float32 `rows` with the nnbatch CLI; returns {output: array}."""
        data = self.path("data.h5")
        output = self.path("scores.h5")
        with h5py.File(data, "w") as f:
            f["x"] = rows.reshape(rows.shape[0], -1).astype(np.float32)
        result = subprocess.run([CLI, "score", model_path, data, "--input", "x", "--output",
                                 output, "--quiet"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        with h5py.File(output, "r") as f:
            return {name: f[name][()] for name in f}

    def assert_close(self, actual, expected):
        self.assertEqual(actual.shape, expected.shape)
        scaled = np.abs(actual - expected) / np.maximum(1.0, np.abs(expected))
        self.assertLessEqual(scaled.max(), TOLERANCE)

    def export(self, module, example, name="model.onnx"):
        path = self.path(name)
        module.eval()
        torch.onnx.export(module, example, path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        return path

    # ---- PyTorch exports -----------------------------------------------------

    def check_torch(self, module, feature_shape, rows=37):
        torch.manual_seed(3)
        example = torch.randn(2, *feature_shape)
        path = self.export(module, example)
        _, model = self.convert(path)
        x = torch.randn(rows, *feature_shape)
        with torch.no_grad():
            expected = module(x).double().numpy()
        scores = self.score(model, x.numpy())
        self.assertEqual(list(scores), ["y"])
        self.assert_close(scores["y"], expected)

    def test_torch_mlp_softmax(self):
        torch.manual_seed(1)
        module = torch.nn.Sequential(torch.nn.Linear(12, 20), torch.nn.ReLU(),
                                     torch.nn.Linear(20, 5), torch.nn.Softmax(dim=1))
        self.check_torch(module, (12,))

    def test_torch_flatten_tanh_sigmoid_dropout(self):
        torch.manual_seed(2)
        module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 8, bias=False),
                                     torch.nn.Tanh(), torch.nn.Dropout(0.5),
                                     torch.nn.Linear(8, 3), torch.nn.Sigmoid(),
                                     torch.nn.Identity())
        self.check_torch(module, (2, 3))

    def test_torch_matmul_add(self):
        class Affine(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = torch.nn.Parameter(torch.randn(7, 4))
                self.bias = torch.nn.Parameter(torch.randn(4))

            def forward(self, x):
                return torch.tanh(x @ self.weight + self.bias)

        torch.manual_seed(4)
        self.check_torch(Affine(), (7,))

    # ---- Hand-built graphs ---------------------------------------------------

    def save_graph(self, nodes, initializers, output_width, input_shape=("batch", 4),
                   opset=13, outputs=None):
        graph = helper.make_graph(
            nodes, "test",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
            outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                      ["batch", output_width])],
            [numpy_helper.from_array(np.asarray(v, np.float32), k)
             for k, v in initializers.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        path = self.path("graph.onnx")
        onnx.save(model, path)
        return path

    def test_gemm_alpha_beta_trans_b(self):
        rng = np.random.default_rng(5)
        b = rng.normal(size=(3, 4)).astype(np.float32)  # (N, K), used as B'
        c = rng.normal(size=(1, 3)).astype(np.float32)
        node = helper.make_node("Gemm", ["x", "B", "C"], ["y"], alpha=0.5, beta=2.0, transB=1)
        _, model = self.convert(self.save_graph([node], {"B": b, "C": c}, 3))
        x = rng.normal(size=(11, 4)).astype(np.float32)
        expected = 0.5 * x.astype(np.float64) @ b.T.astype(np.float64) + 2.0 * c
        self.assert_close(self.score(model, x)["y"], expected)

    def test_gemm_scalar_c_and_softmax(self):
        rng = np.random.default_rng(6)
        b = rng.normal(size=(4, 3)).astype(np.float32)
        nodes = [helper.make_node("Gemm", ["x", "B", "C"], ["z"]),
                 helper.make_node("Softmax", ["z"], ["y"], axis=-1)]
        _, model = self.convert(self.save_graph(nodes, {"B": b, "C": [0.25]}, 3))
        x = rng.normal(size=(6, 4)).astype(np.float32)
        z = x.astype(np.float64) @ b + 0.25
        e = np.exp(z - z.max(axis=1, keepdims=True))
        self.assert_close(self.score(model, x)["y"], e / e.sum(axis=1, keepdims=True))

    def test_output_names_and_two_outputs(self):
        b = np.eye(4, dtype=np.float32)
        nodes = [helper.make_node("MatMul", ["x", "B"], ["hidden/out"]),
                 helper.make_node("Relu", ["hidden/out"], ["y"])]
        outputs = [helper.make_tensor_value_info("hidden/out", TensorProto.FLOAT, ["batch", 4]),
                   helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])]
        _, model = self.convert(self.save_graph(nodes, {"B": b}, 4, outputs=outputs))
        with h5py.File(model, "r") as f:
            self.assertEqual(list(f.attrs["outputs"]), ["hidden_out", "y"])
            self.assertEqual(f["inputs/x"].attrs["width"], 4)
        x = np.array([[1, -2, 3, -4]], np.float32)
        scores = self.score(model, x)
        np.testing.assert_array_equal(scores["hidden_out"], x)
        np.testing.assert_array_equal(scores["y"], np.maximum(x, 0))

    # ---- Rejections ----------------------------------------------------------

    def check_rejected(self, path, *fragments):
        result, output = self.convert(path, expect_success=False)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr.count("\n"), 1, result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, result.stderr)
        self.assertFalse(os.path.exists(output))

    def test_rejects_unsupported_node(self):
        node = helper.make_node("LeakyRelu", ["x"], ["y"], name="act1")
        self.check_rejected(self.save_graph([node], {}, 4),
                            "node 'act1' (LeakyRelu) is not supported", "Gemm, MatMul")

    def test_rejects_softmax_axis(self):
        nodes = [helper.make_node("Softmax", ["x"], ["y"], axis=0, name="sm")]
        self.check_rejected(self.save_graph(nodes, {}, 4), "node 'sm' (Softmax): axis 0")

    def test_rejects_trans_a(self):
        node = helper.make_node("Gemm", ["x", "B"], ["y"], transA=1, name="g")
        self.check_rejected(self.save_graph([node], {"B": np.ones((4, 2))}, 2),
                            "node 'g' (Gemm): transA = 1")

    def test_rejects_constant_times_data(self):
        node = helper.make_node("MatMul", ["W", "x"], ["y"], name="mm")
        self.check_rejected(self.save_graph([node], {"W": np.ones((3, 3))}, 4),
                            "node 'mm' (MatMul): the first input is a constant")

    def test_rejects_per_row_bias(self):
        node = helper.make_node("Add", ["x", "C"], ["y"], name="add")
        self.check_rejected(self.save_graph([node], {"C": np.ones((5, 4))}, 4),
                            "node 'add' (Add): the constant input has shape (5, 4)")

    def test_rejects_sum_of_computed_values(self):
        node = helper.make_node("Add", ["x", "x"], ["y"], name="twice")
        self.check_rejected(self.save_graph([node], {}, 4),
                            "node 'twice' (Add): adds two computed values")

    def test_rejects_unflattened_input(self):
        node = helper.make_node("Relu", ["x"], ["y"], name="r")
        self.check_rejected(self.save_graph([node], {}, 4, input_shape=("batch", 2, 2)),
                            "node 'r' (Relu): input 0 has shape (batch, 2, 2)", "Flatten")

    def test_rejects_not_onnx(self):
        path = self.path("not.onnx")
        with open(path, "wb") as f:
            f.write(b"\xff\x00 not a protobuf")
        self.check_rejected(path, "cannot read the ONNX model")


if __name__ == "__main__":
    unittest.main()
