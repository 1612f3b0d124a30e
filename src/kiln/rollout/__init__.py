"""Safe rollout of an online deployment, run by the server: ``kiln online-endpoint rollout``.

A rollout mirrors a share of the endpoint's traffic to the deployment, then shifts live traffic to it step by step
(e.g. 10, 50, 100 %), watching that deployment's own error rate and p99 latency (the gateway's counters) for a
window at each step, and puts the traffic back as it was when a limit is crossed.

- ``plan``: the checks of a request and the arithmetic (the split at each step, a window's rates), no I/O;
- ``store``: the ``rollouts`` table (migration 0019): each endpoint's latest rollout, seen by every server and kept
  across restarts;
- ``service``: the rollouts of a workspace, each in a thread of the server (it outlives the CLI that started it),
  recorded in its row; one its server was running when it died is rolled back when that server starts again;
- ``api``, ``router``: REST ``rollouts.start``, ``rollouts.show``, ``rollouts.cancel``;
- ``studio``: the rollout's steps and the deployment's live numbers on the endpoint's page.
"""

from kiln.capabilities import Capability

CAPABILITY = Capability(
    name="rollout",
    summary="safe rollout of an online deployment: mirror, then shift traffic step by step while it behaves",
    api="kiln.rollout.api",
    router="kiln.rollout.router:rollout_router",
    service="kiln.rollout.service:RolloutService",
)
