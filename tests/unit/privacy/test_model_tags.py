"""The privacy tags a model gets when a job registers it: only a job that read private data and was charged gets
them; the ledger's side (versions, charges, what was declared) comes from the job's record, the achieved epsilon
and delta from its MLmodel, and a model reporting more than was declared is refused."""

from __future__ import annotations

from typing import Any

import pytest

from kiln.errors import InvalidSpec
from kiln.privacy.service import JOB_CHARGES_TAG, model_privacy_tags
from kiln.store.tables import JobRow

CREDIT = {
    "kind": "data", "name": "credit", "version": "1", "type": "uri_file", "content_hash": "0" * 64,
    "key": "data/" + "0" * 64, "file": "credit.csv", "private": True,
}  # fmt: skip


def job(privacy: dict[str, float] | None, inputs: dict[str, Any]) -> JobRow:
    spec: dict[str, Any] = {"type": "command", "command": "python train.py", "tags": {JOB_CHARGES_TAG: "credit:1#7"}}
    if privacy is not None:
        spec["privacy"] = privacy
    return JobRow(name="dp-job", spec=spec, pinned_inputs=inputs)


def test_a_charged_job_s_model_carries_the_ledger_s_record_and_the_achieved_guarantee() -> None:
    asked = {"privacy.epsilon": "0.93", "privacy.delta": "1e-06", "privacy.accountant": "opacus rdp", "team": "x"}
    tags = model_privacy_tags(job({"epsilon": 1.0, "delta": 1e-6}, {"table": CREDIT}), asked)
    assert tags == {
        "privacy.data": "credit:1", "privacy.charges": "credit:1#7", "privacy.declared_epsilon": "1",
        "privacy.declared_delta": "1e-06", "privacy.epsilon": "0.93", "privacy.delta": "1e-06",
        "privacy.accountant": "opacus rdp",
    }  # fmt: skip


def test_a_job_that_read_no_private_data_gets_no_privacy_tags_whatever_its_model_says() -> None:
    public = {**CREDIT, "private": None}
    assert model_privacy_tags(job({"epsilon": 1.0, "delta": 1e-6}, {"table": public}), {"privacy.epsilon": "0.1"}) == {}
    assert model_privacy_tags(job(None, {"table": CREDIT}), {"privacy.epsilon": "0.1"}) == {}


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ({"privacy.epsilon": "1.5"}, "reports privacy.epsilon 1.5, more than the 1 the job declared"),
        ({"privacy.delta": "1e-3"}, "reports privacy.delta 0.001, more than the 1e-06"),
        ({"privacy.epsilon": "small"}, "privacy.epsilon 'small', which is not a number"),
    ],
)
def test_a_model_reporting_more_than_was_declared_is_refused(asked: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        model_privacy_tags(job({"epsilon": 1.0, "delta": 1e-6}, {"table": CREDIT}), asked)
