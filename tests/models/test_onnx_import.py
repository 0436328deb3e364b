"""ONNX import: graphs built with ``onnx.helper`` run the same through the imported MLP as
through onnx's own reference evaluator; anything that is not an MLP is refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from spicecim.cli import cli
from spicecim.errors import ResultFileError, SpecError
from spicecim.models.onnx_import import load_onnx


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, np.float32), name)


def _model(nodes: list, inputs: dict[str, list], outputs: list[str], inits: list
           ) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n, shape in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", None]) for n in outputs],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def _skip_mlp(rng: np.random.Generator) -> onnx.ModelProto:
    """x (6) -> Gemm(transB)+Relu (8) -> Concat with x (14) -> MatMul+Add+Tanh (5)
    -> Gemm(alpha, beta)+Sigmoid (3) -> Identity -> out."""
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["g1"], transB=1, name="dense1"),
        helper.make_node("Relu", ["g1"], ["h1"]),
        helper.make_node("Concat", ["h1", "x"], ["skip"], axis=1),
        helper.make_node("MatMul", ["skip", "w2"], ["m2"]),
        helper.make_node("Add", ["m2", "b2"], ["a2"]),
        helper.make_node("Tanh", ["a2"], ["h2"]),
        helper.make_node("Gemm", ["h2", "w3", "b3"], ["g3"], alpha=0.5, beta=2.0),
        helper.make_node("Sigmoid", ["g3"], ["y"]),
        helper.make_node("Identity", ["y"], ["out"]),
    ]
    inits = [_init("w1", rng.normal(size=(8, 6))), _init("b1", rng.normal(size=8)),
             _init("w2", rng.normal(size=(14, 5))), _init("b2", rng.normal(size=(1, 5))),
             _init("w3", rng.normal(size=(5, 3))), _init("b3", rng.normal(size=3))]
    return _model(nodes, {"x": ["N", 6]}, ["out"], inits)


def _classifier(rng: np.random.Generator, head: str = "Identity", hidden: str = "Relu"
                ) -> onnx.ModelProto:
    """x (20) -> Flatten -> Gemm+``hidden`` (32) -> Gemm (4 logits) -> ``head``."""
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w1", "b1"], ["g1"]),
        helper.make_node(hidden, ["g1"], ["h1"]),
        helper.make_node("Gemm", ["h1", "w2", "b2"], ["z"]),
        helper.make_node(head, ["z"], ["logits"]),
    ]
    inits = [_init("w1", rng.normal(size=(20, 32)) / 4), _init("b1", rng.normal(size=32)),
             _init("w2", rng.normal(size=(32, 4)) / 6), _init("b2", np.zeros(4))]
    return _model(nodes, {"x": ["N", 20]}, ["logits"], inits)


def _same_as_onnx(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    mlp = load_onnx(model)
    got = mlp.forward({"x": x})
    want = ReferenceEvaluator(model).run(None, {"x": x})
    names = [o.name for o in model.graph.output]
    assert list(got) == names
    for name, ref in zip(names, want, strict=True):
        np.testing.assert_allclose(got[name], ref, rtol=2e-6, atol=2e-6)
    return got


def test_a_skip_mlp_runs_as_onnx_runs_it() -> None:
    rng = np.random.default_rng(0)
    model = _skip_mlp(rng)
    _same_as_onnx(model, rng.normal(size=(64, 6)).astype(np.float32))
    mlp = load_onnx(model)
    assert mlp.input_widths() == {"x": 6} and mlp.outputs == ("out",)
    assert [(d.name, d.sources, d.fan_in, d.fan_out, d.activation) for d in mlp.layers] == [
        ("h1", ("x",), 6, 8, "relu"), ("h2", ("h1", "x"), 14, 5, "tanh"),
        ("out", ("h2",), 5, 3, "sigmoid")]
    # the skip reads the raw (signed) input: two phases on a crossbar; tanh output too
    assert [mlp.signed_inputs(d) for d in mlp.layers] == [True, True, True]


@pytest.mark.parametrize("hidden", ["Relu", "Softplus"])
def test_a_classifier_runs_as_onnx_runs_it(hidden: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    model = _classifier(rng, hidden=hidden)
    path = tmp_path / "classifier.onnx"
    onnx.save(model, path)
    x = rng.normal(size=(128, 20)).astype(np.float32)
    got = _same_as_onnx(model, x)
    from_file = load_onnx(path)
    np.testing.assert_array_equal(from_file.forward({"x": x})["logits"], got["logits"])
    assert [d.activation for d in from_file.layers] == [hidden.lower(), "none"]
    assert not from_file.signed_inputs(from_file.layers[1])


@pytest.mark.parametrize(("change", "message"), [
    ("Softmax", "ONNX op 'Softmax'"),
    ("Exp", "ONNX op 'Exp'"),
])
def test_other_ops_are_refused_by_name(change: str, message: str) -> None:
    model = _classifier(np.random.default_rng(2), head=change)
    with pytest.raises(SpecError, match=message) as err:
        load_onnx(model)
    assert "is not supported" in str(err.value) and "\n" not in str(err.value)


def test_graphs_that_are_not_mlps_are_refused() -> None:
    rng = np.random.default_rng(3)
    w = [_init("w", rng.normal(size=(4, 4)))]
    residual = _model([helper.make_node("MatMul", ["x", "w"], ["m"]),
                       helper.make_node("Add", ["m", "x"], ["y"])], {"x": ["N", 4]}, ["y"], w)
    with pytest.raises(SpecError, match="residual adds"):
        load_onnx(residual)
    bare = _model([helper.make_node("Relu", ["x"], ["y"])], {"x": ["N", 4]}, ["y"], [])
    with pytest.raises(SpecError, match="every activation must follow a layer"):
        load_onnx(bare)
    image = _model([helper.make_node("Flatten", ["x"], ["f"]),
                    helper.make_node("MatMul", ["f", "w"], ["y"])], {"x": ["N", 1, 2, 2]}, ["y"],
                   w)
    with pytest.raises(SpecError, match="input 'x' has shape"):
        load_onnx(image)
    data = _model([helper.make_node("MatMul", ["x", "v"], ["y"])],
                  {"x": ["N", 4], "v": [4, 4]}, ["y"], [])
    with pytest.raises(SpecError, match="not a constant"):
        load_onnx(data)


def test_unreadable_files_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_onnx(tmp_path / "none.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00junk")
    with pytest.raises(ResultFileError, match="junk.onnx"):
        load_onnx(tmp_path / "junk.onnx")


def test_evaluate_reads_an_onnx_model(synthetic: Path, tmp_path: Path) -> None:
    path = tmp_path / "classifier.onnx"
    onnx.save(_classifier(np.random.default_rng(4)), path)
    result = CliRunner().invoke(cli, [
        "evaluate", str(synthetic), "--weights", str(path), "--points", "64",
        "--calibration-points", "64", "--no-baseline"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("model onnx:classifier.onnx")
    for name, arrays in (("h1", 3 * 8), ("logits", 4 * 1)):  # 20 -> 32 and 32 -> 4 on 8x8
        row = next(line for line in lines if line.startswith(f"{name} "))
        assert int(row.split()[3]) == arrays and "missing" not in row
    logits = next(line for line in lines if line.startswith("  logits "))  # accuracy table
    assert logits.split()[-2] == "-" and logits.split()[-1].endswith("%")  # no PSNR; top-1
