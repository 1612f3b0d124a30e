"""The endpoint control plane, inside the workspace server.

It owns the ``controller`` (a reconciler that keeps replica processes converged to the
deployments stored in the database, and publishes the routing table), the
``replica_launcher`` (writes a ``ReplicaConfig`` and starts ``python -m kiln.serving.replica``
in the deployment's environment), the ``routing`` table, and the ``gateway`` that forwards
scoring requests to ready replicas (with its ``gateway_metrics``).

It may import the store, the runners (process handles), ``kiln.specs`` and ``kiln.errors``; it
talks to replicas only over HTTP and through their command line, so it must not import
``kiln.serving.replica``. It must not import ``kiln.services`` or ``kiln.server`` (they import
it): what it needs from them, such as preparing a deployment's environment, it takes as a
protocol (``kiln.environments.resolver.EnvironmentResolver``).
"""
