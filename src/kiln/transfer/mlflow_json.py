"""MLflow entities as JSON in the archive: MLflow's own REST representation (its protobuf
messages with snake_case names), so every field MLflow has travels and reads back whole."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.entities import Experiment, LoggedModel, Metric, Run
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel


def to_json(entity: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    data: dict[str, Any] = MessageToDict(entity.to_proto(), preserving_proto_field_name=True)
    return data


def _parse(proto_class: Any, data: dict[str, Any]) -> Any:
    from google.protobuf.json_format import ParseDict

    message = proto_class()
    ParseDict(data, message, ignore_unknown_fields=True)
    return message


def run_of(data: dict[str, Any]) -> Run:
    from mlflow.entities import Run
    from mlflow.protos.service_pb2 import Run as RunProto

    return Run.from_proto(_parse(RunProto, data))


def metric_of(data: dict[str, Any]) -> Metric:
    from mlflow.entities import Metric
    from mlflow.protos.service_pb2 import Metric as MetricProto

    return Metric.from_proto(_parse(MetricProto, data))


def experiment_of(data: dict[str, Any]) -> Experiment:
    from mlflow.entities import Experiment
    from mlflow.protos.service_pb2 import Experiment as ExperimentProto

    return Experiment.from_proto(_parse(ExperimentProto, data))


def logged_model_of(data: dict[str, Any]) -> LoggedModel:
    from mlflow.entities import LoggedModel
    from mlflow.protos.service_pb2 import LoggedModel as LoggedModelProto

    return LoggedModel.from_proto(_parse(LoggedModelProto, data))


def registered_model_of(data: dict[str, Any]) -> RegisteredModel:
    from mlflow.entities.model_registry import RegisteredModel
    from mlflow.protos.model_registry_pb2 import RegisteredModel as RegisteredModelProto

    entity: Any = RegisteredModel
    model: RegisteredModel = entity.from_proto(_parse(RegisteredModelProto, data))
    return model


def model_version_of(data: dict[str, Any]) -> ModelVersion:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.protos.model_registry_pb2 import ModelVersion as ModelVersionProto

    return ModelVersion.from_proto(_parse(ModelVersionProto, data))
