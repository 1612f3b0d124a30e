"""Per-deployment request counts, errors and latency histograms, in Prometheus' text format.

Written by the gateway's event loop only; read by the /metrics route and by endpoint views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kiln.specs.endpoint import DeploymentMetricsView

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))


@dataclass
class DeploymentStats:
    codes: dict[int, int] = field(default_factory=dict)  # live answers by HTTP status
    errors: int = 0
    mirrored: int = 0
    mirror_errors: int = 0
    bucket_counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    latency_sum: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.codes.values())

    def observe(self, seconds: float) -> None:
        self.latency_sum += seconds
        for position, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.bucket_counts[position] += 1
                return

    def quantile(self, q: float) -> float | None:
        """Like PromQL's histogram_quantile: linear inside the bucket that holds the q-th value."""
        total = sum(self.bucket_counts)
        if total == 0:
            return None
        rank, seen, lower = q * total, 0, 0.0
        for bound, count in zip(BUCKETS, self.bucket_counts, strict=True):
            if count and seen + count >= rank:
                upper = bound if bound != float("inf") else lower
                return lower + (upper - lower) * (rank - seen) / count
            seen += count
            lower = bound if bound != float("inf") else lower
        return lower


class GatewayMetrics:
    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], DeploymentStats] = {}

    def stats(self, endpoint: str, deployment: str) -> DeploymentStats:
        key = (endpoint, deployment)
        found = self._stats.get(key)
        if found is None:
            found = self._stats[key] = DeploymentStats()
        return found

    def counters(self, endpoint: str, deployment: str) -> DeploymentStats:
        """A copy of a deployment's counters now (a rollout's window is the difference of two)."""
        stats = self._stats.get((endpoint, deployment)) or DeploymentStats()
        return DeploymentStats(
            codes=dict(stats.codes), errors=stats.errors, mirrored=stats.mirrored, mirror_errors=stats.mirror_errors,
            bucket_counts=list(stats.bucket_counts), latency_sum=stats.latency_sum,
        )  # fmt: skip

    def record(self, endpoint: str, deployment: str, status: int, seconds: float) -> None:
        stats = self.stats(endpoint, deployment)
        stats.codes[status] = stats.codes.get(status, 0) + 1
        if status >= 500:
            stats.errors += 1
        stats.observe(seconds)

    def record_mirror(self, endpoint: str, deployment: str, ok: bool) -> None:
        stats = self.stats(endpoint, deployment)
        stats.mirrored += 1
        if not ok:
            stats.mirror_errors += 1

    def forget(self, endpoint: str, deployment: str | None = None) -> None:
        for key in [k for k in self._stats if k[0] == endpoint and deployment in (None, k[1])]:
            del self._stats[key]

    def view(self, endpoint: str, deployment: str) -> DeploymentMetricsView:
        stats = self._stats.get((endpoint, deployment))
        if stats is None:
            return DeploymentMetricsView()
        p50, p99 = stats.quantile(0.5), stats.quantile(0.99)
        return DeploymentMetricsView(
            requests=stats.requests, errors=stats.errors, mirrored=stats.mirrored,
            latency_p50_ms=None if p50 is None else round(p50 * 1000, 3),
            latency_p99_ms=None if p99 is None else round(p99 * 1000, 3),
        )  # fmt: skip

    def live(self, endpoint: str, deployments: list[str]) -> LiveFeed:
        """Snapshots of ``endpoint``'s deployments for a live view (kiln studio's metrics stream)."""
        return LiveFeed(self, endpoint, deployments)

    def exposition(self) -> str:
        lines = [
            "# HELP kiln_endpoint_requests_total Requests answered through an endpoint, by deployment and status.",
            "# TYPE kiln_endpoint_requests_total counter",
        ]
        items = sorted(self._stats.items())
        for (endpoint, deployment), stats in items:
            for code, count in sorted(stats.codes.items()):
                lines.append(f'kiln_endpoint_requests_total{{{_labels(endpoint, deployment)},code="{code}"}} {count}')
        lines += [
            "# HELP kiln_endpoint_request_errors_total Requests that ended in a 5xx or reached no replica.",
            "# TYPE kiln_endpoint_request_errors_total counter",
        ]
        lines += [f"kiln_endpoint_request_errors_total{{{_labels(*key)}}} {s.errors}" for key, s in items]
        lines += [
            "# HELP kiln_endpoint_mirrored_requests_total Copies of requests sent to a mirror deployment.",
            "# TYPE kiln_endpoint_mirrored_requests_total counter",
        ]
        lines += [f"kiln_endpoint_mirrored_requests_total{{{_labels(*key)}}} {s.mirrored}" for key, s in items]
        lines += [
            "# HELP kiln_endpoint_request_duration_seconds Time to answer a request through the gateway.",
            "# TYPE kiln_endpoint_request_duration_seconds histogram",
        ]
        for key, stats in items:
            labels, cumulative = _labels(*key), 0
            for bound, count in zip(BUCKETS, stats.bucket_counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'kiln_endpoint_request_duration_seconds_bucket{{{labels},le="{le}"}} {cumulative}')
            lines.append(f"kiln_endpoint_request_duration_seconds_sum{{{labels}}} {stats.latency_sum}")
            lines.append(f"kiln_endpoint_request_duration_seconds_count{{{labels}}} {cumulative}")
        return "\n".join(lines) + "\n"


def _labels(endpoint: str, deployment: str) -> str:
    return f'endpoint="{endpoint}",deployment="{deployment}"'


class LiveFeed:
    """One viewer's snapshots of an endpoint: per deployment the totals, the request rate and error rate over
    the time since the last snapshot, and the latency percentiles (of all requests, as ``kiln online-endpoint
    show`` gives p50 and p99). Reads the counters the gateway writes, on the same event loop."""

    def __init__(self, metrics: GatewayMetrics, endpoint: str, deployments: list[str]) -> None:
        self._metrics, self._endpoint, self._deployments = metrics, endpoint, list(deployments)
        self._previous: dict[str, tuple[int, int]] = {}
        self._at: float | None = None

    def snapshot(self, now: float) -> dict[str, Any]:
        """``now``: a monotonic clock's reading (the rates are per second of it)."""
        seen = {deployment for endpoint, deployment in self._metrics._stats if endpoint == self._endpoint}
        answer: dict[str, Any] = {}
        elapsed = None if self._at is None else max(now - self._at, 1e-6)
        for name in sorted(seen | set(self._deployments)):
            stats = self._metrics._stats.get((self._endpoint, name)) or DeploymentStats()
            requests, errors = stats.requests, stats.errors
            before_requests, before_errors = self._previous.get(name, (requests, errors))
            new = requests - before_requests
            answer[name] = {
                "requests": requests, "errors": errors, "mirrored": stats.mirrored,
                "rate_per_s": round(new / elapsed, 3) if elapsed else 0.0,
                "error_rate": round((errors - before_errors) / new, 4) if new > 0 else 0.0,
                **{f"latency_p{q}_ms": _ms(stats.quantile(q / 100)) for q in (50, 90, 99)},
            }  # fmt: skip
            self._previous[name] = (requests, errors)
        self._at = now
        return {"endpoint": self._endpoint, "deployments": answer}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
