"""MLflow's tracking server as kiln runs it: ``python -m kiln.tracking.mlflow_child --port P --artifacts-destination D``.

What ``mlflow server --host 127.0.0.1 --workers 1 --serve-artifacts --static-prefix /mlflow`` runs,
in one process (``mlflow server`` starts a second one for uvicorn), with MLflow's ASGI app behind
``InternalOnly``: a request without the secret that the workspace server wrote to this process's
standard input is refused before MLflow sees it. The backend store's URI comes in
``MLFLOW_BACKEND_STORE_URI`` (an argument would show its password in ``ps``).

MLflow's CLI hands its settings to the app in environment variables that ``mlflow.server`` reads
when it is imported; ``server_environment`` sets the same ones first (a unit test checks their
names against MLflow's own constants).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

from kiln.internal_secret import InternalOnly

STORE_VARIABLE = "MLFLOW_BACKEND_STORE_URI"
DEFAULT_ARTIFACTS_URI = "mlflow-artifacts:/"  # where runs' artifacts go when the server serves them
REFUSAL = (
    "MLflow's tracking server answers only the kiln workspace server: use <workspace>/mlflow "
    "with a token (MLFLOW_TRACKING_URI=<workspace>/mlflow, MLFLOW_TRACKING_TOKEN=<token>)"
)


def server_environment(store_uri: str, artifacts_destination: str, static_prefix: str) -> dict[str, str]:
    """The variables ``mlflow server`` sets for its app (``mlflow.server._run_server``) with our options."""
    return {
        "_MLFLOW_SERVER_FILE_STORE": store_uri,
        "_MLFLOW_SERVER_REGISTRY_STORE": store_uri,
        "_MLFLOW_SERVER_ARTIFACT_ROOT": DEFAULT_ARTIFACTS_URI,
        "_MLFLOW_SERVER_SERVE_ARTIFACTS": "true",
        "_MLFLOW_SERVER_ARTIFACT_DESTINATION": artifacts_destination,
        "_MLFLOW_STATIC_PREFIX": static_prefix,
        "_MLFLOW_SGI_NAME": "uvicorn",
        "_MLFLOW_SERVER_BOOT_ID": uuid.uuid4().hex,
        "_MLFLOW_IN_JOB_EXECUTOR": "false",
        "MLFLOW_ENABLE_WORKSPACES": "false",
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kiln.tracking.mlflow_child", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--artifacts-destination", required=True)
    parser.add_argument("--static-prefix", default="/mlflow")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    secret = sys.stdin.readline().strip()
    store_uri = os.environ.get(STORE_VARIABLE, "")
    if not secret or not store_uri:
        print(f"error: give the secret on standard input and the store in {STORE_VARIABLE}", file=sys.stderr)
        return 2
    os.environ.update(server_environment(store_uri, args.artifacts_destination, args.static_prefix))

    import uvicorn
    from mlflow import server as mlflow_server
    from mlflow.server.handlers import initialize_backend_stores

    initialize_backend_stores(store_uri, store_uri, DEFAULT_ARTIFACTS_URI)  # as `mlflow server` does, before serving
    from mlflow.server.fastapi_app import app

    log_config = Path(mlflow_server.__file__).parent / "uvicorn_log_config.yaml"  # MLflow's own: its log looks the same
    uvicorn.run(
        InternalOnly(app, secret, REFUSAL),
        host="127.0.0.1",
        port=args.port,
        log_config=str(log_config) if log_config.is_file() else uvicorn.config.LOGGING_CONFIG,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
