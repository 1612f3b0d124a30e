"""Online serving, as two programs that share nothing but a spec and HTTP.

- ``kiln.serving.replica``: the scoring replica, one process per replica that loads one model
  (or scoring script) and answers the scoring protocols. It runs without the workspace: no
  database, no services, no server, no control plane.
- ``kiln.serving.control``: the endpoint control plane inside the workspace server: the
  controller that keeps replica processes converged to the stored deployments, the launcher
  that starts them, the routing table, and the gateway that forwards scoring requests.

What one tells the other is ``kiln.specs.replica.ReplicaConfig`` (a JSON file the launcher
writes and the replica reads) and the replica's HTTP surface.
"""
