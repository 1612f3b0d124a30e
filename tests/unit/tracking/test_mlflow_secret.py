"""MLflow's child is started by kiln's own launcher (``kiln.tracking.mlflow_child``) and knows the
workspace server by a secret that the server's MLflow client sends with every request."""

from __future__ import annotations

import threading

from kiln.internal_secret import HEADER_NAME
from kiln.tracking.mlflow_child import DEFAULT_ARTIFACTS_URI, server_environment
from kiln.tracking.mlflow_secret import process_secret, send_with_mlflow_client


def test_the_launcher_sets_the_variables_mlflow_server_reads() -> None:
    """The names are MLflow's internal ones (mlflow.server reads them when it is imported): if an MLflow
    upgrade renames one, this fails instead of a server that serves without its prefix or store."""
    from mlflow import environment_variables as variables
    from mlflow.server import constants
    from mlflow.server.handlers import STATIC_PREFIX_ENV_VAR
    from mlflow.utils.server_cli_utils import resolve_default_artifact_root

    env = server_environment("sqlite:///m.db", "/artifacts", "/mlflow")
    assert env[constants.BACKEND_STORE_URI_ENV_VAR] == env[constants.REGISTRY_STORE_URI_ENV_VAR] == "sqlite:///m.db"
    assert env[constants.SERVE_ARTIFACTS_ENV_VAR] == "true"
    assert env[constants.ARTIFACTS_DESTINATION_ENV_VAR] == "/artifacts"
    assert env[constants.ARTIFACT_ROOT_ENV_VAR] == DEFAULT_ARTIFACTS_URI
    assert DEFAULT_ARTIFACTS_URI == resolve_default_artifact_root(True, "", "sqlite:///m.db")
    assert env[STATIC_PREFIX_ENV_VAR] == "/mlflow"
    assert env[variables._MLFLOW_SGI_NAME.name] == "uvicorn"
    assert env[variables.MLFLOW_ENABLE_WORKSPACES.name] == "false"
    assert variables._MLFLOW_SERVER_BOOT_ID.name in env and variables._MLFLOW_IN_JOB_EXECUTOR.name in env


def test_the_servers_mlflow_client_sends_the_secret() -> None:
    from mlflow.tracking.request_header.registry import resolve_request_headers

    send_with_mlflow_client()
    send_with_mlflow_client()  # once per process, however often asked
    assert resolve_request_headers()[HEADER_NAME] == process_secret()
    assert process_secret() == process_secret() and len(process_secret()) >= 40


def test_threads_asking_at_once_install_the_secret_once() -> None:
    """MLflow joins the values two providers give for one header: installed twice, the secret is refused."""
    from mlflow.tracking.request_header.registry import resolve_request_headers

    threads = [threading.Thread(target=send_with_mlflow_client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert resolve_request_headers()[HEADER_NAME] == process_secret()
