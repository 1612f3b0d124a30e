"""A scoring replica's process: ``python -m kiln.serving.replica CONFIG.json`` runs ``main``.

The endpoint controller starts one process per replica with a ``ReplicaConfig`` and reads
its stdout. The process listens at once (``/v2/health/live``), loads the model or runs the
scoring script's ``init()`` in the background (``/v2/health/ready`` answers 200 after),
exits 0 on SIGTERM, 1 when the model or script cannot be loaded (the log's last line says
why), 2 when the config is unusable.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from kiln.errors import InvalidSpec, ModelLoadFailed
from kiln.processes import QUIET_ENVIRONMENT
from kiln.serving.replica.endpoint_keys import read_key_hashes
from kiln.specs.replica import HOST_VARIABLE, PORT_VARIABLE, ReplicaConfig

log = logging.getLogger("kiln.serving.replica")
USAGE = "usage: python -m kiln.serving.replica CONFIG.json"


def configure_logging() -> None:
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


def read_config(path: Path) -> ReplicaConfig:
    return ReplicaConfig.model_validate_json(path.read_bytes())


def prepare_environment(config: ReplicaConfig) -> None:
    """Telemetry off, the deployment's variables, and the model folder where Azure-style
    scripts look for it."""
    os.environ.update(QUIET_ENVIRONMENT)
    os.environ.update(config.environment_variables)
    if config.model_dir is not None:
        model_dir = config.model_dir.resolve()
        os.environ["KILN_MODEL_DIR"] = str(model_dir)
        # Azure's layout: the folder holding the model under the name it was registered from
        azureml = config.azureml_model_dir.absolute() if config.azureml_model_dir is not None else model_dir
        os.environ["AZUREML_MODEL_DIR"] = str(azureml)


def serve(config: ReplicaConfig, key_hashes: tuple[str, ...] = ()) -> int:
    import uvicorn

    from kiln.serving.replica.metrics import ReplicaMetrics
    from kiln.serving.replica.scorers import scorer_for
    from kiln.serving.replica.scoring_server import ScoringServer

    try:
        scorer = scorer_for(config)
    except ModelLoadFailed as exc:
        log.error("error: %s", exc.message)
        return 1
    metrics = ReplicaMetrics(config.endpoint, config.deployment, config.replica_index)
    server = ScoringServer(config, scorer, metrics, key_hashes)
    uvicorn_config = uvicorn.Config(
        server.app,
        host=config.host,
        port=config.port,
        loop="auto",  # uvloop when installed
        http="auto",  # httptools when installed
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=75,  # the gateway keeps its connections open; uvicorn's 5 s would churn them
        proxy_headers=False,  # its one caller is the gateway; the client's address is nothing to it
    )
    uvicorn_server = uvicorn.Server(uvicorn_config)

    def request_exit() -> None:
        uvicorn_server.should_exit = True

    server.request_exit = request_exit
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the
    # handler it found; a quiet one here makes a requested stop exit 0, not "killed".
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda signum, frame: None)
    log.info(
        "replica %d of %s/%s on http://%s:%d (model '%s' version %s)",
        config.replica_index,
        config.endpoint,
        config.deployment,
        config.host,
        config.port,
        config.model_name,
        config.model_version,
    )
    uvicorn_server.run()
    if server.exit_code == 0 and not uvicorn_server.started:
        return 1  # uvicorn could not bind the port; it logged why
    return server.exit_code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    configure_logging()
    if len(args) != 1:
        log.error(USAGE)
        return 2
    try:
        config = read_config(Path(args[0]))
    except (OSError, ValidationError) as exc:
        log.error("error: cannot read the replica config %s: %s", args[0], exc)
        return 2
    key_hashes: tuple[str, ...] = ()
    if config.endpoint_keys is not None:  # standalone (a packaged replica): no gateway, callers send a key
        try:
            key_hashes = read_key_hashes(config.endpoint_keys)
            config = standalone_address(config)
        except InvalidSpec as exc:
            log.error("error: %s", exc.message)
            return 2
    prepare_environment(config)
    return serve(config, key_hashes)


def standalone_address(config: ReplicaConfig) -> ReplicaConfig:
    """A standalone replica listens where ``KILN_REPLICA_HOST`` / ``KILN_REPLICA_PORT`` say, when set (a
    container keeps the config's ``0.0.0.0:8080``; the same command run outside one picks its own port)."""
    host = os.environ.get(HOST_VARIABLE) or config.host
    port_text = os.environ.get(PORT_VARIABLE) or str(config.port)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidSpec(f"{PORT_VARIABLE}: expected a port number from 1 to 65535, found {port_text!r}")
    return config.model_copy(update={"host": host, "port": int(port_text)})
