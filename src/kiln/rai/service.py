"""The responsible AI capability in the workspace server: what it checks at submit (the data's columns, the
model's signature and flavors, against the job file), the reports of finished jobs, a model's analyses, and
the description of a mitigated version (its lineage in words). The model itself is never loaded here."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from kiln.capabilities.services import CapabilityContext
from kiln.errors import Conflict, InvalidSpec, KilnError, NotFound
from kiln.jobs.job import Job
from kiln.rai.api import AnalysisView
from kiln.rai.explanations import choose_method
from kiln.rai.report_schema import REPORT_FILE, RaiReport
from kiln.rai.spec import (
    JOB_TYPE,
    MITIGATED_OUTPUT,
    MODEL_INPUT,
    REDUCTIONS,
    REGISTER_AS_TAG,
    REPORT_OUTPUT,
    TEST_INPUT,
    TRAIN_INPUT,
    ResponsibleAiJobSpec,
)  # fmt: skip
from kiln.services import data_preview
from kiln.services.model_signature import Signature, parse_signature
from kiln.specs.job import ProcessJobSpec
from kiln.specs.pins import DataPin, InputPin, ModelPin, UploadPin
from kiln.specs.views import JobStatus, JobView
from kiln.specs.yaml_source import load_yaml
from kiln.tracking.mlflow_secret import send_with_mlflow_client

log = logging.getLogger(__name__)
FLOAT_TYPES = ("float", "double")
MAX_LISTED = 1000  # jobs looked through for a model's analyses


class RaiService:
    def __init__(self, context: CapabilityContext) -> None:
        self.context = context
        context.jobs.add_submission_check(JOB_TYPE, self.check_submission)
        context.jobs.engine.completion_hooks.append(self.describe_mitigated_version)

    # Submit --------------------------------------------------------------------------------
    def check_submission(self, spec: ProcessJobSpec, pins: dict[str, InputPin]) -> None:
        """Everything the stored data and model show wrong with ``spec``, before anything runs."""
        if not isinstance(spec, ResponsibleAiJobSpec):
            return
        problems: list[str] = []
        flavors, signature = self._model_facts(pins[MODEL_INPUT])
        needed = {spec.target_column: "target_column"}
        if spec.fairness:
            needed.update({name: "fairness.sensitive_features" for name in spec.fairness.sensitive_features})
        for field in (TRAIN_INPUT, TEST_INPUT):
            columns, rows = self._table_head(pins[field], field)
            if columns is None:
                continue
            for column, where in needed.items():
                if column not in columns:
                    problems.append(f"{where}: '{column}' is not a column of {field} (columns: {_listed(columns)})")
            if signature is not None and signature.inputs:
                absent = [c.name for c in signature.inputs if c.required and c.name not in columns and c.name != "—"]
                if absent:
                    problems.append(
                        f"model: its signature needs the columns {_listed(absent)}, which {field} does not have "
                        f"(columns: {_listed(columns)})"
                    )
            if field == TEST_INPUT and spec.target_column in columns:
                problems += _task_problems(spec, [row[columns.index(spec.target_column)] for row in rows])
        problems += _model_problems(spec, flavors, signature)
        if spec.explanation is not None:
            try:
                choose_method(spec.explanation.method)
            except InvalidSpec as exc:
                problems.append(exc.message)
        if problems:
            raise InvalidSpec("; ".join(problems))

    def _model_facts(self, pin: InputPin) -> tuple[list[str], Signature | None]:
        """The model's flavors and signature, from its MLmodel file alone."""
        text = self._mlmodel_text(pin)
        if text is None:
            raise InvalidSpec("model: no MLmodel file: a responsible_ai job analyses an MLflow model")
        data = load_yaml(text, "MLmodel")[1]
        flavors = sorted((data.get("flavors") or {}).keys()) if isinstance(data, dict) else []
        return flavors, parse_signature(text)

    def _mlmodel_text(self, pin: InputPin) -> str | None:
        if isinstance(pin, UploadPin):
            key = f"{pin.key}/MLmodel"
            if not self.context.artifacts.exists(key):
                return None
            with self.context.artifacts.open(key) as handle:
                return handle.read().decode(errors="replace")
        if not isinstance(pin, ModelPin):
            return None
        send_with_mlflow_client()  # MLflow imported once, under its lock; the fluent API's calls carry the secret
        import mlflow
        from mlflow.exceptions import MlflowException

        scratch = tempfile.mkdtemp(prefix="kiln-rai-mlmodel-")
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{pin.name}/{pin.version}/MLmodel", dst_path=scratch
            )
            return Path(local).read_text(errors="replace")
        except (MlflowException, OSError):
            return None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _table_head(self, pin: InputPin, field: str) -> tuple[list[str] | None, list[list[str]]]:
        """The columns and first rows of a table input (None: remote data, read by the job only)."""
        store = self.context.artifacts
        if isinstance(pin, DataPin):
            if pin.remote:
                return None, []
            preview = data_preview.preview(store, self.context.data.row(pin.name, pin.version))
        elif isinstance(pin, UploadPin):  # a local file (upload:HASH/NAME), or a folder of one file
            key = pin.key
            if store.is_dir(key):
                files = store.list_files(key)
                if len(files) != 1:
                    raise InvalidSpec(f"{field}: expected one CSV or Parquet file, found {len(files)} files")
                key = f"{key}/{files[0]}"
            preview = data_preview.file_preview(store, key, key.rsplit("/", 1)[-1])
        else:
            return None, []
        if not preview.columns:
            raise InvalidSpec(
                f"{field}: no table to read ({preview.note or 'a CSV, Parquet or MLTable asset is needed'})"
            )
        return preview.columns, preview.rows

    # Completion ----------------------------------------------------------------------------
    def describe_mitigated_version(self, job: Job) -> None:
        """Say in the mitigated version's description what it came from and how: its lineage in words."""
        spec = job.spec
        if not isinstance(spec, ResponsibleAiJobSpec) or MITIGATED_OUTPUT not in spec.outputs:
            return
        output = spec.outputs[MITIGATED_OUTPUT]
        pins = {name: pin for name, pin in _pins(job).items()}
        source = pins.get(MODEL_INPUT)
        if output is None or not output.name or not isinstance(source, ModelPin) or spec.fairness is None:
            return
        mitigation = spec.fairness.mitigation
        try:
            versions = self.context.models.get(output.name).versions
            mine = [v for v in versions if v.job == job.row.name]
            for version in mine:
                self.context.models.update(
                    output.name, version.version,
                    description=f"mitigated from {source.name}:{source.version} by {job.row.name} "
                    f"({mitigation.method if mitigation else '?'}, {mitigation.constraint if mitigation else '?'})",
                    tags={"mitigated_from": f"{source.name}:{source.version}", "rai_job": job.row.name},
                )  # fmt: skip
        except KilnError:
            log.exception("could not describe the mitigated model of job %s", job.row.name)

    # Reading -------------------------------------------------------------------------------
    def report(self, name: str) -> RaiReport:
        view = self.context.jobs.get(name)
        if view.type != JOB_TYPE:
            raise NotFound(f"job '{view.name}' is a {view.type} job, not a responsible_ai job: it has no report")
        if view.status != JobStatus.COMPLETED:
            if view.status.is_terminal:
                raise NotFound(
                    f"job '{view.name}' {view.status.value} without a report: {view.failure_reason or 'see its log'}"
                )
            raise Conflict(f"job '{view.name}' is {view.status.value}; its report is there once it completes")
        with self.context.jobs.output_file(view.name, REPORT_OUTPUT, REPORT_FILE) as handle:
            return RaiReport.model_validate(json.loads(handle.read()))

    def analyses(self, model: str | None = None) -> list[AnalysisView]:
        if model:
            self.context.models.get(model)  # NotFound names it
        found = []
        for view in self.context.jobs.list(None, MAX_LISTED):
            if view.type != JOB_TYPE:
                continue
            analysed = view.pinned_inputs.get(MODEL_INPUT)
            label = (
                f"{analysed.name}:{analysed.version}"
                if isinstance(analysed, ModelPin)
                else str(view.inputs.get(MODEL_INPUT))
            )
            if model and not (isinstance(analysed, ModelPin) and analysed.name == model):
                continue
            mitigated = next((o for o in view.outputs if o.name == MITIGATED_OUTPUT), None)
            found.append(
                AnalysisView(
                    job=view.name,
                    status=view.status.value,
                    model=label,
                    created_at=view.created_at,
                    mitigated_as=_registered_name(view) if mitigated else None,
                    summary=view.command,
                )  # fmt: skip
            )
        return found


def _pins(job: Job) -> dict[str, InputPin]:
    from kiln.specs.pins import input_pins

    return input_pins(job.row.pinned_inputs)


def _registered_name(view: JobView) -> str | None:
    value: Any = view.tags.get(REGISTER_AS_TAG)
    return str(value) if value else None


def _listed(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _task_problems(spec: ResponsibleAiJobSpec, values: list[str]) -> list[str]:
    numbers = []
    for value in values:
        try:
            numbers.append(float(value))
        except ValueError:
            if spec.task_type == "regression":
                return [f"task_type: regression, but target_column '{spec.target_column}' holds text ('{value[:40]}')"]
            return []
    if spec.task_type == "classification" and numbers and any(n != int(n) for n in numbers):
        return [
            f"task_type: classification, but target_column '{spec.target_column}' holds fractional numbers "
            "(a regression target?); set task_type: regression"
        ]
    return []


def _model_problems(spec: ResponsibleAiJobSpec, flavors: list[str], signature: Signature | None) -> list[str]:
    problems = []
    outputs = [c.type for c in signature.outputs] if signature is not None else []
    if spec.task_type == "classification" and outputs and all(t in FLOAT_TYPES for t in outputs):
        problems.append(
            f"task_type: classification, but the model's signature says it predicts {outputs[0]} values "
            "(a regression model?); set task_type: regression"
        )
    if spec.task_type == "regression" and outputs and all(t == "string" for t in outputs):
        problems.append("task_type: regression, but the model predicts text labels (a classifier?)")
    mitigation = spec.fairness.mitigation if spec.fairness else None
    if mitigation is not None and mitigation.method in REDUCTIONS and "sklearn" not in flavors:
        problems.append(
            f"fairness.mitigation.method: {mitigation.method} retrains the model's scikit-learn estimator; this model's "
            f"flavors are {', '.join(flavors) or 'none'}: use threshold_optimizer"
        )
    if spec.explanation is not None and signature is not None:
        text = [c.name for c in signature.inputs if c.type in ("string", "binary")]
        if text:
            problems.append(
                f"explanation: the black-box explainers need numeric features; text features: {_listed(text)}"
            )
    return problems
