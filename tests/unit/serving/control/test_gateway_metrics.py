"""The gateway's Prometheus text and the quantiles `kiln online-endpoint show` prints."""

from __future__ import annotations

from kiln.serving.control.gateway_metrics import GatewayMetrics


def test_counts_errors_and_histogram() -> None:
    metrics = GatewayMetrics()
    for _ in range(98):
        metrics.record("iris", "blue", 200, 0.003)
    metrics.record("iris", "blue", 500, 0.2)
    metrics.record("iris", "blue", 503, 0.2)
    metrics.record_mirror("iris", "green", ok=True)
    view = metrics.view("iris", "blue")
    assert (view.requests, view.errors) == (100, 2)
    assert view.latency_p50_ms is not None and 2.5 <= view.latency_p50_ms <= 5
    assert view.latency_p99_ms is not None and view.latency_p99_ms > 100
    assert metrics.view("iris", "green").mirrored == 1
    text = metrics.exposition()
    assert 'kiln_endpoint_requests_total{endpoint="iris",deployment="blue",code="200"} 98' in text
    assert 'kiln_endpoint_request_duration_seconds_bucket{endpoint="iris",deployment="blue",le="+Inf"} 100' in text
    assert 'kiln_endpoint_mirrored_requests_total{endpoint="iris",deployment="green"} 1' in text
    metrics.forget("iris")
    assert metrics.view("iris", "blue").requests == 0
