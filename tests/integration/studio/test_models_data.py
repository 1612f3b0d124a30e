"""kiln studio's Models, Data and Environments pages in headless Chromium against one real workspace server:
a model registered by a real job that read a data asset, its lineage graph (data version → job → model → deployment) with
links, aliases set and moved from the page (seen by the SDK and `kiln model show`), a reader without the
control whose forged write is refused, data previews, an environment built offline and its locked packages,
and unknown names as 404 pages.

The server's pip reads only a folder of wheels the module writes (no network), as in
tests/integration/services/test_environments.py. The deployment in the graph is created without waiting for
its replica (the lineage reads the deployment's record; a replica's start is slow).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata

import httpx
import pytest

from kiln.specs.users import Role
from tests.conftest import REPO, WorkspaceServer, cleanup_jobs, server_env
from tests.integration.studio.conftest import check_accessibility, screenshot, signed_in
from tests.lanes import server_fixture
from tests.unit.environments.test_builder import make_wheel

EXAMPLE = REPO / "examples" / "data-assets"
MODEL = "iris-from-table"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@server_fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceServer]:
    wheels = tmp_path_factory.mktemp("wheels")
    make_wheel(wheels, "kiln-probe", "1.0")
    make_wheel(wheels, "mlflow-skinny", metadata.version("mlflow"))  # stand-in: no registry offline
    home = tmp_path_factory.mktemp("kiln-studio-models-home")
    env = {k: v for k, v in server_env(home, local_concurrency="2").items() if not k.startswith("PIP_")}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)})
    server = WorkspaceServer(home, env).start()
    yield server
    server.stop()
    cleanup_jobs(home)


@dataclass(frozen=True)
class Made:
    job: str  # the job that read iris-table:1 and registered iris-from-table:1
    reader_token: str


@pytest.fixture(scope="module")
def made(studio: WorkspaceServer, tmp_path_factory: pytest.TempPathFactory) -> Made:
    studio.cli("data", "create", "-f", str(EXAMPLE / "data.yml"), check=True)
    studio.cli("data", "create", "--name", "iris-csv", "--type", "uri_file", "--path",
               str(EXAMPLE / "iris" / "iris.csv"), check=True)  # fmt: skip
    result = studio.cli("job", "create", "-f", str(EXAMPLE / "job.yml"), "--stream", "-o", "json", check=True)
    job = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert job["status"] == "completed"
    folder = tmp_path_factory.mktemp("env")
    (folder / "conda.yml").write_text(f"dependencies:\n  - python={PYTHON}\n  - pip:\n      - kiln-probe==1.0\n")
    (folder / "env.yml").write_text("name: probe\nversion: '1'\nconda_file: conda.yml\n")
    studio.cli("environment", "create", "-f", str(folder / "env.yml"), check=True)
    with studio.client() as client:
        # a deployment serving version 1: the lineage reads its record, so the test does not wait for its replica
        client.online_endpoints.create({"name": "iris-ep"})
        client.online_deployments.create(
            {"name": "blue", "endpoint_name": "iris-ep", "model": f"kiln:{MODEL}:1"}, wait=False
        )
        client.users.create("rita", Role.READER)
        token = client.users.create_token("rita", expires_in="1d").token
    return Made(job["name"], token)


def test_the_lineage_graph_links_data_job_and_model(browser, studio: WorkspaceServer, made: Made) -> None:
    page = signed_in(browser, studio, next_path="/ui/models")
    assert MODEL in page.locator("main table").inner_text()
    page.click(f"text={MODEL}")
    page.wait_for_url(f"**/ui/models/{MODEL}")
    graph = page.locator("svg.lineage")
    assert graph.get_attribute("role") == "img" and "Lineage of iris-from-table version 1" in graph.inner_html()
    links = {a.get_attribute("data-kind"): a.get_attribute("href") for a in graph.locator("a").all()}
    assert links == {
        "data": "/ui/data/iris-table/1", "job": f"/ui/jobs/{made.job}", "model": f"/ui/models/{MODEL}/1",
        "deployment": "/ui/endpoints/iris-ep",
    }  # fmt: skip
    assert graph.locator("path.edge").count() == 5  # data, code, environment → job; job → model → deployment
    # the columns run left to right: data, then the job, then the model
    xs = {
        kind: float(graph.locator(f"[data-kind={kind}] rect").first.get_attribute("x"))
        for kind in ("data", "job", "model", "deployment")
    }
    assert xs["data"] < xs["job"] < xs["model"] < xs["deployment"]
    signature = page.locator("table.signature").first.inner_text()
    assert "sepal_length" in signature and "double" in signature  # read from the version's MLmodel
    assert made.job in page.locator("#version-head + dl").inner_text()
    check_accessibility(page)
    screenshot(page, "models-lineage")
    graph.locator("[data-kind=data]").click()  # each node is a link
    page.wait_for_url("**/ui/data/iris-table/1")
    page.context.close()


def test_an_alias_set_and_moved_from_the_page_is_the_registrys(browser, studio: WorkspaceServer, made: Made) -> None:
    with studio.client() as client:
        client.models.create(name=MODEL, path=f"azureml://jobs/{made.job}/outputs/model")  # version 2, same job
    page = signed_in(browser, studio, next_path=f"/ui/models/{MODEL}/1")
    page.fill("#alias-form input[name=alias]", "champion")
    page.select_option("#alias-form select[name=version]", "1")
    page.click("#alias-form button[type=submit]")
    page.wait_for_selector("#aliases >> text=champion")
    page.wait_for_load_state()  # the reloaded page's scripts run before its form is used again
    with studio.client() as client:
        assert client.models.get(MODEL).aliases == {"champion": "1"}
    page.fill("#alias-form input[name=alias]", "champion")  # the same alias again moves it
    page.select_option("#alias-form select[name=version]", "2")
    page.click("#alias-form button[type=submit]")
    page.wait_for_function("document.querySelector('#aliases').innerText.includes('champion\\t2')")
    page.wait_for_load_state()
    shown = json.loads(studio.cli("model", "show", "-n", MODEL, "-o", "json", check=True).stdout)
    assert shown["aliases"] == {"champion": "2"}
    assert [v["aliases"] for v in shown["versions"]] == [[], ["champion"]]
    assert (
        page.locator("#versions-head ~ table tr:has(a[href$='/2']) .badge.alias").inner_text() == "champion"
    )  # in the versions table
    page.fill("#alias-form input[name=alias]", "latest")  # the registry's refusal, shown in the page
    page.click("#alias-form button[type=submit]")
    assert "reserved" in page.locator("#toast .note.bad").inner_text()  # waits for the note
    page.click("[data-alias-delete=champion]")
    page.wait_for_selector("#aliases >> text=No aliases yet")
    with studio.client() as client:
        assert client.models.get(MODEL).aliases == {}
    page.context.close()


def test_a_reader_sees_no_alias_control_and_a_forged_write_is_refused(
    browser, studio: WorkspaceServer, made: Made
) -> None:
    page = signed_in(browser, studio, made.reader_token, next_path=f"/ui/models/{MODEL}")
    assert "rita · reader" in page.locator("header .who").inner_text()
    assert page.locator("svg.lineage a").count() >= 3  # a reader reads the lineage
    assert page.locator("#alias-form").count() == 0 and page.locator("[data-alias-delete]").count() == 0
    csrf = page.locator('meta[name="kiln-csrf"]').get_attribute("content")
    cookies = {"kiln_session": next(c["value"] for c in page.context.cookies() if c["name"] == "kiln_session")}
    forged = httpx.put(
        f"{studio.url}/api/v1/models/{MODEL}/aliases/mine", json={"version": "1"}, cookies=cookies,
        headers={"x-kiln-csrf": csrf},
    )  # fmt: skip
    assert forged.status_code == 403 and "reader" in forged.json()["error"]["message"]
    check_accessibility(page)
    page.context.close()


def test_data_pages_preview_the_first_rows(browser, studio: WorkspaceServer, made: Made) -> None:
    page = signed_in(browser, studio, next_path="/ui/data")
    listed = page.locator("main table").inner_text()
    assert "iris-table" in listed and "iris-csv" in listed
    page.goto(f"{studio.url}/ui/data/iris-csv")
    assert "uri_file" in page.locator("main table").inner_text()
    page.click("main table a >> text=1")
    page.wait_for_url("**/ui/data/iris-csv/1")
    preview = page.locator("table.preview")
    headers = preview.locator("thead th").all_inner_texts()
    assert headers == ["#", "sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    assert preview.locator("tbody tr").count() == 50  # the first 50 of 150
    assert preview.locator("tbody tr").first.locator("td").all_inner_texts() == ["1", "5.1", "3.5", "1.4", "0.2", "0"]
    assert "more rows are not shown" in preview.locator("caption").inner_text()
    with studio.client() as client:
        digest = client.data.get("iris-csv", "1").content_hash
    assert digest in page.locator("main dl").inner_text()
    check_accessibility(page)
    screenshot(page, "data-preview")
    page.goto(f"{studio.url}/ui/data/iris-table/1")  # the MLTable, through its reader
    assert page.locator("table.preview tbody tr").count() == 50
    assert "iris.csv" in page.locator("table.preview caption").inner_text()
    page.context.close()


def test_an_environment_page_shows_its_locked_packages_and_build_log(
    browser, studio: WorkspaceServer, made: Made
) -> None:
    page = signed_in(browser, studio, next_path="/ui/environments")
    assert "probe" in page.locator("main table").inner_text()
    page.click("main table a >> text=probe")
    page.wait_for_url("**/ui/environments/probe")
    locked = page.locator("#locked").inner_text()
    assert "kiln-probe\t1.0" in locked and "mlflow-skinny" in locked
    assert "kiln-probe==1.0" in page.locator("#spec-head ~ ul").inner_text()
    assert "ready" in page.locator(".page-head .badge").inner_text()
    assert "kiln-probe" in page.locator("#log-head ~ pre").inner_text()
    check_accessibility(page)
    screenshot(page, "environment")
    page.context.close()


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/ui/models/no-such-model", "no-such-model"),
        (f"/ui/models/{MODEL}/99", "no version '99'"),
        ("/ui/data/no-such-data", "no data asset named 'no-such-data'"),
        ("/ui/data/iris-csv/9", "has no version '9'"),
        ("/ui/environments/no-such-env", "no environment named 'no-such-env'"),
    ],
)
def test_unknown_names_are_404_pages(browser, studio: WorkspaceServer, made: Made, path: str, says: str) -> None:
    page = signed_in(browser, studio)
    answer = page.goto(f"{studio.url}{path}")
    assert answer.status == 404 and page.locator("h1").inner_text() == "Not found"
    assert says in page.locator("[role=alert]").inner_text() and "Traceback" not in page.content()
    page.context.close()
