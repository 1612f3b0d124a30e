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


def test_a_live_feed_gives_rates_since_its_last_snapshot_and_every_deployment() -> None:
    metrics = GatewayMetrics()
    metrics.record("iris", "blue", 200, 0.002)
    feed = metrics.live("iris", ["blue", "green"])
    first = feed.snapshot(100.0)["deployments"]
    assert set(first) == {"blue", "green"}  # green has had no request yet, and is there all the same
    assert first["blue"]["requests"] == 1 and first["blue"]["rate_per_s"] == 0.0  # no interval yet
    assert first["green"] == {
        "requests": 0, "errors": 0, "mirrored": 0, "rate_per_s": 0.0, "error_rate": 0.0,
        "latency_p50_ms": None, "latency_p90_ms": None, "latency_p99_ms": None,
    }  # fmt: skip
    for _ in range(8):
        metrics.record("iris", "blue", 200, 0.002)
    metrics.record("iris", "blue", 503, 0.3)
    metrics.record("iris", "blue", 500, 0.3)
    metrics.record("other", "blue", 200, 0.002)  # another endpoint's counts stay its own
    second = feed.snapshot(102.0)["deployments"]["blue"]
    assert (second["requests"], second["errors"]) == (11, 2)
    assert second["rate_per_s"] == 5.0 and second["error_rate"] == 0.2  # 10 requests in 2 s, 2 of them errors
    assert second["latency_p50_ms"] < second["latency_p90_ms"] <= second["latency_p99_ms"]
    assert feed.snapshot(103.0)["deployments"]["blue"]["rate_per_s"] == 0.0  # nothing since
