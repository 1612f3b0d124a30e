"""A ``type: responsible_ai`` job on a Ray compute target: the same scheduler as command jobs.

The credit model of examples/responsible-ml is trained (locally) on a few hundred generated rows; the
responsible_ai job then runs on a real one-node Ray cluster (tests/ray_cluster.py, loopback only) and its
report, metrics and mitigated model come back to the workspace as a local job's do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import WorkspaceServer
from tests.integration.rai.test_rai_jobs import INFORMATIVE, _example_with_data, _job
from tests.integration.runners.ray.test_ray import CLUSTER, _ray_status, ray_head, ray_server  # noqa: F401
from tests.ray_cluster import RayHead

pytestmark = pytest.mark.slow
ROWS = 300  # 200 training rows, 100 test rows

RAI_ON_RAY = f"""\
type: responsible_ai
experiment_name: rai-on-ray
model: kiln:credit@1
train_data: kiln:credit-train@latest
test_data: kiln:credit-test@latest
target_column: default
task_type: classification
explanation: {{global: true, local_rows: [0, 1], method: auto}}
fairness:
  sensitive_features: [sex]
  metrics: [accuracy, selection_rate]
  mitigation: {{method: exponentiated_gradient, constraint: demographic_parity, register_as: credit}}
compute: kiln:{CLUSTER}
"""


def test_a_responsible_ai_job_runs_on_ray(ray_server: WorkspaceServer, ray_head: RayHead, tmp_path: Path) -> None:  # noqa: F811
    folder = _example_with_data(ray_server, tmp_path, ROWS)
    _job(ray_server, folder / "train.yml", timeout=600)  # compute: local
    (folder / "rai-on-ray.yml").write_text(RAI_ON_RAY)

    view = _job(ray_server, folder / "rai-on-ray.yml", timeout=600)
    assert view["compute"] == CLUSTER and view["exit_code"] == 0
    assert view["submission_id"] and _ray_status(ray_head, view["submission_id"]) == "SUCCEEDED"
    with ray_server.client() as client:
        log = "".join(client.jobs.logs(view["name"]))
        from kiln.rai import api

        report = client.rest.call(api.REPORT, name=view["name"]).model_dump(mode="json")
        mitigated = client.models.get_version("credit", "2")
    assert f"submitting to Ray cluster '{CLUSTER}'" in log

    ranked = [item["feature"] for item in report["explanations"]["importances"]]
    assert set(ranked[:2]) <= INFORMATIVE, ranked
    assert [row["row"] for row in report["explanations"]["local"]] == [0, 1]
    (by_sex,) = report["fairness"]["groupings"]
    assert by_sex["features"] == ["sex"] and {g["label"] for g in by_sex["groups"]} == {"F", "M"}
    assert report["mitigation"]["registered_as"] == "credit" and mitigated.job == view["name"]
    assert view["metrics"]["demographic_parity_difference.sex"] == pytest.approx(
        by_sex["demographic_parity_difference"]
    )

    shown = ray_server.cli("rai", "show", "-n", view["name"], check=True).stdout
    assert "Top features" in shown and "Before/after" in shown
