"""kiln studio's endpoint, compute and user pages in a real browser against a real workspace server with a
real endpoint (two deployments of a tiny scikit-learn model, one replica each, and one that fails): the
traffic split shifted from the page and seen in ``kiln online-endpoint show`` and in which deployment
answers, live metrics, the test form, keys on request, an ended session that keeps the form, a reader
without write controls whose forged writes are refused, owners managing users and tokens."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import mlflow
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from tests.conftest import WorkspaceServer, wait_for
from tests.integration.studio.conftest import check_accessibility, screenshot, signed_in

ENDPOINT = "iris-ui"
IRIS = load_iris(as_frame=True)
SAMPLE = {"input_data": {"columns": list(IRIS.data.columns), "data": IRIS.data.iloc[:3].values.tolist()}}
PROBES = {"initial_delay": 0, "period": 1, "failure_threshold": 60}
BROKEN_SCRIPT = """\
def init():
    print("loading the broken model", flush=True)
    raise RuntimeError("no weights in this folder")

def run(raw_data):
    return []
"""


@pytest.fixture(scope="module")
def endpoint(studio: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Endpoint 'iris-ui': blue (model v1) with all traffic, green (v2) with none, and 'broken' (failed)."""
    folder = tmp_path_factory.mktemp("iris-ui")
    models = {
        "1": LogisticRegression(max_iter=300).fit(IRIS.data, IRIS.target),
        "2": LogisticRegression(C=0.05, max_iter=300).fit(IRIS.data, IRIS.target),
    }
    (folder / "code").mkdir()
    (folder / "code" / "score.py").write_text(BROKEN_SCRIPT)
    with studio.client() as client:
        for version, model in models.items():
            mlflow.sklearn.save_model(model, str(folder / f"v{version}"), input_example=IRIS.data.iloc[:2])
            client.models.create(name="iris-ui", path=str(folder / f"v{version}"))
        client.online_endpoints.create({"name": ENDPOINT, "auth_mode": "key", "description": "iris in the studio"})
        for name, version in (("blue", "1"), ("green", "2")):
            spec = {"name": name, "endpoint_name": ENDPOINT, "model": f"kiln:iris-ui:{version}", "instance_count": 1,
                    "readiness_probe": PROBES}  # fmt: skip
            client.online_deployments.create(spec, all_traffic=name == "blue")
        broken = {"name": "broken", "endpoint_name": ENDPOINT, "model": str(folder / "code"), "readiness_probe": PROBES,
                  "code_configuration": {"code": str(folder / "code"), "scoring_script": "score.py"}}  # fmt: skip
        with pytest.raises(Exception, match="failed"):
            client.online_deployments.create(broken)
        view = client.online_endpoints.get(ENDPOINT)
        keys = client.online_endpoints.get_keys(ENDPOINT)
        reader = client.users.create("rita", "reader")
        reader_token = client.users.create_token(reader.name).token
    yield {"uri": view.scoring_uri, "key": keys.primary_key, "keys": keys, "models": models, "reader": reader_token}
    studio.cli("online-endpoint", "delete", "-n", ENDPOINT)


def page_cookie(page: Any) -> dict[str, str]:
    return {"kiln_session": next(c["value"] for c in page.context.cookies() if c["name"] == "kiln_session")}


def csrf_of(page: Any) -> str:
    return str(page.locator('meta[name="kiln-csrf"]').get_attribute("content"))


def requests_cell(page: Any, deployment: str) -> int:
    text = page.locator(f'tr[data-deployment="{deployment}"] [data-live="requests"]').inner_text()
    return int(text) if text.isdigit() else -1


def test_shifting_traffic_from_the_page_moves_the_split_and_the_answers(
    browser: Any, studio: WorkspaceServer, endpoint: dict[str, Any]
) -> None:
    page = signed_in(browser, studio, next_path=f"/ui/endpoints/{ENDPOINT}")
    assert endpoint["key"] not in page.content()  # keys only on request
    assert "no weights in this folder" in page.locator("details.failed-log").inner_text()  # the failed one's log
    page.wait_for_function("document.getElementById('live-state').textContent === 'live'")
    before = requests_cell(page, "green")

    page.fill('input[name="traffic-blue"]', "0")
    page.fill('input[name="traffic-green"]', "100")
    page.click("#traffic-form button[type=submit]")
    page.wait_for_function("document.querySelector('[data-traffic-of=green]').textContent.trim() === '100 %'")

    shown = json.loads(studio.cli("online-endpoint", "show", "-n", ENDPOINT, "-o", "json", check=True).stdout)
    assert shown["traffic"] == {"green": 100}
    answered: Counter[str] = Counter()
    with httpx.Client(headers={"Authorization": f"Bearer {endpoint['key']}"}, timeout=30) as http:
        for _ in range(12):
            response = http.post(endpoint["uri"], json=SAMPLE)
            assert response.status_code == 200, response.text
            answered[response.headers["azureml-model-deployment"]] += 1
            assert response.json() == endpoint["models"]["2"].predict(IRIS.data.iloc[:3]).tolist()
    assert answered == {"green": 12}
    # the live metrics in the page follow, from the server-sent events
    page.wait_for_function(
        f"Number(document.querySelector('tr[data-deployment=green] [data-live=requests]').textContent) >= {before + 12}"
    )
    assert page.locator('tr[data-deployment="green"] [data-live="latency_p50_ms"]').inner_text() != "—"

    # the test form starts from one row in the columns of the model taking the traffic (its signature)
    first_body = json.loads(page.locator("#invoke-body").input_value())
    assert first_body["input_data"]["columns"] == list(IRIS.data.columns)
    # it scores through the scoring URI on the server's side (no key in the browser)
    page.fill("#invoke-body", json.dumps(SAMPLE))
    page.click("#invoke-form button[type=submit]")
    page.wait_for_selector("#invoke-result")
    assert "answered by green" in page.locator("#invoke-answer").inner_text()
    assert (
        json.loads(page.locator("#invoke-result").inner_text())
        == endpoint["models"]["2"].predict(IRIS.data.iloc[:3]).tolist()
    )

    # an owner sees the keys on request
    page.click("#show-keys")
    page.wait_for_selector("#keys:not([hidden])")
    assert page.locator("#primary-key").inner_text() == endpoint["keys"].primary_key
    page.locator("#keys").evaluate("node => { node.hidden = true; }")  # not in the screenshot
    check_accessibility(page)
    screenshot(page, "endpoint")
    page.context.close()


def test_a_traffic_form_survives_an_ended_session(
    browser: Any, studio: WorkspaceServer, endpoint: dict[str, Any]
) -> None:
    path = f"/ui/endpoints/{ENDPOINT}"
    page = signed_in(browser, studio, next_path=path)
    page.fill('input[name="traffic-blue"]', "35")
    page.fill('input[name="traffic-green"]', "65")
    page.fill('input[name="mirror-green"]', "0")
    ended = httpx.post(f"{studio.url}/logout", cookies=page_cookie(page), headers={"x-kiln-csrf": csrf_of(page)})
    assert ended.status_code == 204  # the session ended on the server, from elsewhere
    page.click("#traffic-form button[type=submit]")
    page.wait_for_url("**/login?next=*")
    page.fill("#token", studio.token)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")
    page.wait_for_function("document.querySelector('input[name=\"traffic-blue\"]').value === '35'")
    assert page.locator('input[name="traffic-green"]').input_value() == "65"
    assert "your unsaved values are back" in page.locator("#toast").inner_text()
    with studio.client() as client:  # nothing was sent while signed out
        assert client.online_endpoints.get(ENDPOINT).traffic != {"blue": 35, "green": 65}
    page.context.close()


def test_a_reader_finds_no_write_control_and_a_forged_write_is_refused(
    browser: Any, studio: WorkspaceServer, endpoint: dict[str, Any]
) -> None:
    page = signed_in(browser, studio, endpoint["reader"], next_path=f"/ui/endpoints/{ENDPOINT}")
    assert "rita · reader" in page.locator("header .who").inner_text()
    for control in ("#traffic-form", "#invoke-form", "#show-keys", "input", "textarea"):
        assert page.locator(control).count() == 0, control
    assert page.locator("#deployment-table tbody tr").count() == 3  # what it may read, it sees
    page.wait_for_function("document.getElementById('live-state').textContent === 'live'")
    check_accessibility(page)
    cookies, csrf = page_cookie(page), csrf_of(page)
    with studio.client() as client:
        split = client.online_endpoints.get(ENDPOINT).traffic
    forged = httpx.patch(
        f"{studio.url}/api/v1/online-endpoints/{ENDPOINT}", json={"traffic": {"blue": 100}},
        cookies=cookies, headers={"x-kiln-csrf": csrf},
    )  # fmt: skip
    assert forged.status_code == 403, forged.text
    assert forged.json()["error"]["message"] == "user 'rita' is a reader; updating endpoints needs contributor or owner"
    for url, body in ((f"/api/v1/online-endpoints/{ENDPOINT}/keys", None),
                      (f"/api/v1/online-endpoints/{ENDPOINT}/invoke", {"body": SAMPLE}),
                      ("/api/v1/users", {"name": "mallory", "role": "owner"})):  # fmt: skip
        assert (
            httpx.post(studio.url + url, json=body, cookies=cookies, headers={"x-kiln-csrf": csrf}).status_code == 403
        )
    with studio.client() as client:
        assert client.online_endpoints.get(ENDPOINT).traffic == split

    page.goto(f"{studio.url}/ui/endpoints")
    assert page.locator(f'a[href="/ui/endpoints/{ENDPOINT}"]').count() == 1
    assert "green" in page.locator("table tbody tr").first.inner_text()
    check_accessibility(page)
    missing = page.goto(f"{studio.url}/ui/endpoints/no-such-endpoint")
    assert missing is not None and missing.status == 404 and page.locator("h1").inner_text() == "Not found"
    assert "no-such-endpoint" in page.locator("main").inner_text()

    page.goto(f"{studio.url}/ui/users")
    assert page.locator("#user-form").count() == 0 and page.locator("select[data-role-of]").count() == 0
    assert page.locator("button[data-delete-user]").count() == 0
    page.goto(f"{studio.url}/ui/users/workspace-admin-none")
    assert page.locator("h1").inner_text() == "Not found"
    page.goto(f"{studio.url}/ui/users/rita")  # their own tokens: they may see and revoke, not make
    assert page.locator("#token-table tbody tr[data-token]").count() == 1
    assert page.locator("#token-form").count() == 0
    page.context.close()


def test_owners_create_a_user_and_a_token_from_the_page(
    browser: Any, studio: WorkspaceServer, endpoint: dict[str, Any]
) -> None:
    page = signed_in(browser, studio, next_path="/ui/users")
    page.fill("#user-name", "ursula")
    page.select_option("#user-role", "contributor")
    page.fill("#user-description", "made in the studio")
    page.click("#user-form button[type=submit]")
    page.wait_for_selector('tr[data-user="ursula"]')
    with studio.client() as client:
        assert client.users.get("ursula").role == "contributor"
    page.select_option('select[data-role-of="ursula"]', "owner")
    page.wait_for_selector("#toast .note")
    with studio.client() as client:
        assert client.users.get("ursula").role == "owner"
    check_accessibility(page)
    screenshot(page, "users")

    page.goto(f"{studio.url}/ui/users/ursula")
    page.fill("#token-description", "for the notebook")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#new-token-shown:not([hidden])")
    token = page.locator("#new-token-value").inner_text()
    who = httpx.get(f"{studio.url}/api/v1/whoami", headers={"authorization": f"Bearer {token}"})
    assert who.status_code == 200 and who.json()["name"] == "ursula"
    page.reload()
    assert token not in page.content()  # shown once
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("tr[data-token] button:has-text('Revoke')")
    page.wait_for_selector("tr[data-token] .badge.failed")
    assert httpx.get(f"{studio.url}/api/v1/whoami", headers={"authorization": f"Bearer {token}"}).status_code == 401
    check_accessibility(page)
    page.context.close()


def test_the_compute_page_shows_capacity_and_jobs_per_target(browser: Any, studio: WorkspaceServer) -> None:
    job = {"type": "command", "command": "sleep 60", "experiment_name": "studio-compute", "compute": "one-slot"}
    with studio.client() as client:
        client.computes.create({"name": "one-slot", "type": "local", "max_concurrent_jobs": 1})
        jobs = [client.jobs.create(job), client.jobs.create(job)]  # one runs, the other waits for the slot
        wait_for(lambda: client.computes.get("one-slot").use.jobs_running == 1)
    page = signed_in(browser, studio, next_path="/ui/compute")
    row = page.locator('tr[data-compute="one-slot"]')
    assert row.locator("[data-running]").inner_text() == "1" and row.locator("[data-queued]").inner_text() == "1"
    assert page.locator('tr[data-compute="local"] [data-running]').inner_text() == "0"
    check_accessibility(page)
    screenshot(page, "compute")
    page.context.close()
    with studio.client() as client:
        for made in jobs:
            client.jobs.cancel(made.name)


def test_a_rollout_shows_its_steps_and_the_deployments_numbers_live(
    browser: Any, studio: WorkspaceServer, endpoint: dict[str, Any]
) -> None:
    with studio.client() as client:
        client.online_endpoints.update(ENDPOINT, traffic={"blue": 100}, mirror_traffic={})
        page = signed_in(browser, studio, next_path=f"/ui/endpoints/{ENDPOINT}")
        assert page.locator("#rollout").is_hidden()  # none since the server started
        # a long window: the rollout stays at its first step while the page is looked at
        client.online_endpoints.rollout(ENDPOINT, "green", [50, 100], window_seconds=600, max_p99_ms=10_000)
        page.wait_for_selector("#rollout:not([hidden])")
        with httpx.Client(headers={"Authorization": f"Bearer {endpoint['key']}"}, timeout=30) as http:
            answered = Counter(
                http.post(endpoint["uri"], json=SAMPLE).headers["azureml-model-deployment"] for _ in range(30)
            )
        first_step = '#rollout-steps tr[data-step="0"]'
        page.wait_for_function(
            f"Number(document.querySelector('{first_step} td:nth-of-type(2)').textContent) === {answered['green']}"
        )
        assert answered["green"] > 0 and page.locator("#rollout-status").inner_text() == "running"
        assert page.locator(first_step).inner_text().split("\t")[:2] == ["50 % live", "watching"]
        assert page.locator('#rollout-steps tr[data-step="1"] td').first.inner_text() == "pending"
        assert "green 50 %" in page.locator("#traffic-now").inner_text()
        assert "limits: error rate 1.00 %, p99 10000 ms" in page.locator("#rollout-limits").inner_text()
        check_accessibility(page)
        screenshot(page, "endpoint-rollout")

        client.online_endpoints.cancel_rollout(ENDPOINT)
        page.wait_for_function("document.getElementById('rollout-status').textContent === 'cancelled'")
        assert page.locator("#rollout-reason").inner_text() == "reason: cancelled by a user"
        assert page.locator('#rollout-steps tr[data-step="1"] td').first.inner_text() == "skipped"
        page.wait_for_function("document.getElementById('traffic-now').textContent.includes('blue 100 %')")
    page.context.close()
