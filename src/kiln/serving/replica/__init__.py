"""The scoring replica: ``python -m kiln.serving.replica CONFIG.json`` (see ``process``).

It owns the replica's HTTP surface (``scoring_server``), the request and response shapes it
speaks (``protocols``), the model's input signature, adaptive batching, the scorers (an MLflow
model or an Azure-style scoring script), the payloads between them, and its Prometheus metrics.

A replica runs in a deployment's own environment, beside the workspace rather than in it: it
may import ``kiln.errors``, ``kiln.specs`` (its ``ReplicaConfig``), ``kiln.processes`` and
``kiln.internal_secret`` (it answers only the gateway, which sends its secret), ``kiln.authorization``
(standalone, as a packaged container: callers' endpoint keys against their hashes, ``endpoint_keys.py``), and
must not import the database (``kiln.store``, ``sqlalchemy``), ``kiln.services``,
``kiln.server`` or the control plane (``kiln.serving.control``). This package's ``__init__``
imports nothing, so that the launcher's command line loads only what a replica needs.
"""
