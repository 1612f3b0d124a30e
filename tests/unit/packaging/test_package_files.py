"""The packaging capability's files, made without a server: requirement pins, Triton configs from ONNX graphs
made here, Kubernetes manifests against the schemas, the wheel's file list, the output folder's checks."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import onnx
import pytest
from google.protobuf import text_format
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2

from kiln.errors import InvalidSpec
from kiln.packaging.kubernetes import Autoscale, manifests, object_name
from kiln.packaging.requirements import model_requirement_lines, pin
from kiln.packaging.triton import TritonOptions, write_triton_repository
from kiln.packaging.wheel import package_files
from kiln.sdk.packages import checked_output
from kiln.specs.endpoint import OnlineDeploymentSpec

STACK = {"numpy": "numpy==2.0.0", "uvicorn": "uvicorn==0.30.0"}


def test_the_models_requirements_are_pinned_over_kilns_stack() -> None:
    numpy = metadata.version("numpy")
    text = (
        "# written by mlflow\n"
        "numpy==1.0.0  # the model's exact pin\n"
        "pyyaml\n"
        "packaging<1\n"
        "kiln==9\n"
        "private-pkg @ https://example.invalid/private_pkg-1.0-py3-none-any.whl\n"
        "not-installed-anywhere>=2\n"
    )
    pinned = pin(model_requirement_lines(text, "requirements.txt"), STACK)
    assert pinned.lines["numpy"] == "numpy==1.0.0"  # the model's pin wins over the stack's
    assert pinned.lines["pyyaml"] == f"pyyaml=={metadata.version('pyyaml')}"  # a bare name: the installed version
    assert pinned.lines["packaging"] == "packaging<1"  # the installed version does not satisfy it: kept, said
    assert pinned.lines["uvicorn"] == "uvicorn==0.30.0" and "kiln" not in pinned.lines
    assert pinned.lines["private-pkg"].startswith("private-pkg @ https://")
    notes = "\n".join(pinned.notes)
    assert f"numpy: the model's ==1.0.0 instead of the server's {numpy}" in notes
    assert "packaging: not pinned (the server has" in notes and "not-installed-anywhere: not pinned" in notes
    text_out = pinned.text("header line")
    assert text_out.startswith("# header line\n") and text_out.endswith("\n")


def test_an_option_line_in_the_models_requirements_is_refused_naming_it() -> None:
    with pytest.raises(InvalidSpec, match=r"requirements.txt line 2: '--index-url https://x' is not a package"):
        model_requirement_lines("numpy\n--index-url https://x\n", "requirements.txt")


def _graph(
    inputs: list[tuple[str, int, list[object]]], outputs: list[tuple[str, int, list[object]]]
) -> onnx.ModelProto:
    values = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    results = [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs]
    nodes = [helper.make_node("Identity", [inputs[0][0]], [o[0]]) for o in outputs]
    return helper.make_model(helper.make_graph(nodes, "g", values, results))


def _config(tmp_path: Path, model: onnx.ModelProto, **options: object) -> model_config_pb2.ModelConfig:
    onnx.save(model, str(tmp_path / "model.onnx"))
    write_triton_repository(tmp_path / "repo", "m", tmp_path / "model.onnx", TritonOptions(**options))  # type: ignore[arg-type]
    return text_format.Parse((tmp_path / "repo" / "m" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def test_a_graph_with_a_fixed_first_axis_is_not_batched(tmp_path: Path) -> None:
    config = _config(tmp_path, _graph([("x", TensorProto.DOUBLE, [1, 3])], [("y", TensorProto.DOUBLE, [1, 3])]))
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [1, 3] and config.input[0].data_type == model_config_pb2.TYPE_FP64
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU  # the default


def test_a_per_row_output_is_batched_with_a_reshape(tmp_path: Path) -> None:
    graph = _graph([("x", TensorProto.INT64, ["N"])], [("label", TensorProto.INT64, ["N"])])
    config = _config(tmp_path, graph, max_batch_size=32, instance_kind="cpu", instance_count=2)
    assert config.max_batch_size == 32 and config.dynamic_batching.max_queue_delay_microseconds == 100
    assert list(config.output[0].dims) == [1] and list(config.output[0].reshape.shape) == []
    assert [(g.kind, g.count) for g in config.instance_group] == [(model_config_pb2.ModelInstanceGroup.KIND_CPU, 2)]


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "", "x\ny"])
def test_a_triton_model_name_that_is_no_plain_folder_name_is_refused(tmp_path: Path, name: str) -> None:
    onnx.save(_graph([("x", TensorProto.FLOAT, ["N", 2])], [("y", TensorProto.FLOAT, ["N", 2])]), str(tmp_path / "m"))
    with pytest.raises(InvalidSpec, match="cannot name a Triton model folder"):
        write_triton_repository(tmp_path / "repo", name, tmp_path / "m", TritonOptions())
    assert not (tmp_path / "repo").exists() and not (tmp_path / "escape").exists()


def test_an_element_type_triton_lacks_is_refused(tmp_path: Path) -> None:
    graph = _graph([("x", TensorProto.COMPLEX64, ["N", 2])], [("y", TensorProto.COMPLEX64, ["N", 2])])
    with pytest.raises(InvalidSpec, match="'x' has element type 14, which Triton has no type for"):
        _config(tmp_path, graph)


def test_manifests_of_a_default_deployment_validate(tmp_path: Path) -> None:
    import kubernetes_validate

    spec = OnlineDeploymentSpec.model_validate({"name": "Blue", "endpoint_name": "Iris-EP", "model": "kiln:iris:1"})
    objects = manifests(spec, ("a" * 64, "b" * 64), "iris:1", None)
    assert sorted(objects) == ["deployment.yaml", "secret.yaml", "service.yaml"]
    for manifest in objects.values():
        kubernetes_validate.validate(manifest, "1.33", strict=True)
    assert objects["service.yaml"]["metadata"]["name"] == object_name("Iris-EP", "Blue") == "iris-ep-blue"


@pytest.mark.parametrize("text", ["5,2", "0,3", "2", "a,b", "2,3,4", "1,1001"])
def test_a_bad_autoscale_is_refused_saying_what_it_takes(text: str) -> None:
    with pytest.raises(InvalidSpec, match="expected MIN,MAX replicas"):
        Autoscale.parse(text)


def test_the_wheel_leaves_out_node_modules_caches_and_links(tmp_path: Path) -> None:
    for relative in ("a.py", "studio/web/node_modules/x.js", "__pycache__/a.pyc", "b.pyc", "studio/web/package.json"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    (tmp_path / "link.py").symlink_to(tmp_path / "a.py")
    assert [p.relative_to(tmp_path).as_posix() for p in package_files(tmp_path)] == ["a.py", "studio/web/package.json"]


def test_the_output_folder_must_be_new_or_empty_unless_overwrite(tmp_path: Path) -> None:
    assert checked_output(tmp_path / "new", overwrite=False) == tmp_path / "new"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.txt").write_text("kept")
    with pytest.raises(InvalidSpec, match="exists and is not empty.*--overwrite"):
        checked_output(tmp_path / "full", overwrite=False)
    assert checked_output(tmp_path / "full", overwrite=True) == tmp_path / "full"
    with pytest.raises(InvalidSpec, match="it is a file"):
        checked_output(tmp_path / "full" / "old.txt", overwrite=True)


def test_the_sdk_calls_each_packaging_operation() -> None:
    from kiln.packaging import api as packaging_api

    sdk = "".join(path.read_text() for path in (Path(__file__).parents[3] / "src" / "kiln" / "sdk").rglob("*.py"))
    for name in ("PACKAGE_MODEL", "EXPORT_MODEL", "PACKAGE_DEPLOYMENT"):
        assert isinstance(getattr(packaging_api, name).path, str) and f"packaging_api.{name}" in sdk
