"""The replica's Prometheus metrics: requests, errors and latency per protocol, and how
requests were merged into predict calls (so batching is observable from outside)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_LABELS = ("endpoint", "deployment", "replica")


class ReplicaMetrics:
    def __init__(self, endpoint: str, deployment: str, replica: int) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series only double the page
        self.registry = CollectorRegistry(auto_describe=False)
        own = (endpoint, deployment, str(replica))
        self._own = own
        self._requests = Counter(
            "kiln_replica_requests", "Scoring requests answered", (*_LABELS, "protocol", "code"), registry=self.registry
        )
        self._errors = Counter(
            "kiln_replica_request_errors",
            "Scoring requests answered with an error status",
            (*_LABELS, "protocol", "code"),
            registry=self.registry,
        )
        self._latency = Histogram(
            "kiln_replica_request_duration_seconds",
            "Time from request to response, per protocol",
            (*_LABELS, "protocol"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._predict_calls = Counter(
            "kiln_replica_predict_calls", "Calls of the model's predict", _LABELS, registry=self.registry
        ).labels(*own)
        self._predicted_rows = Counter(
            "kiln_replica_predicted_rows", "Rows passed to the model's predict", _LABELS, registry=self.registry
        ).labels(*own)
        self._batch_requests = Histogram(
            "kiln_replica_batch_requests",
            "Requests merged into one predict call",
            _LABELS,
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        ).labels(*own)
        self.in_flight = Gauge(
            "kiln_replica_in_flight_requests", "Scoring requests being answered", _LABELS, registry=self.registry
        ).labels(*own)
        self.ready = Gauge(
            "kiln_replica_ready", "1 once the model is loaded and init() has run", _LABELS, registry=self.registry
        ).labels(*own)
        self._children: dict[tuple[str, int], tuple[Counter, Counter | None, Histogram]] = {}

    def observe_request(self, protocol: str, status: int, seconds: float) -> None:
        children = self._children.get((protocol, status))
        if children is None:
            code = str(status)
            children = (
                self._requests.labels(*self._own, protocol, code),
                self._errors.labels(*self._own, protocol, code) if status >= 400 else None,
                self._latency.labels(*self._own, protocol),
            )
            self._children[(protocol, status)] = children
        requests, errors, latency = children
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)

    def observe_batch(self, requests: int, rows: int) -> None:
        self._predict_calls.inc()
        self._predicted_rows.inc(rows)
        self._batch_requests.observe(requests)

    def render(self) -> bytes:
        return generate_latest(self.registry)
