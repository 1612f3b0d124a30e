"""Traffic rules and the splitter: shares sum to 0 or 100, mirroring limits, the weighted choice."""

from __future__ import annotations

import itertools
import random

import pytest

from kiln.errors import InvalidSpec
from kiln.serving.control.routing import DeploymentRoute, EndpointRoute, ReplicaTarget, TrafficSplitter, key_hash
from kiln.specs.endpoint import (
    OnlineDeploymentSpec,
    OnlineEndpointSpec,
    check_mirror_traffic,
    check_traffic,
    parse_traffic_text,
)
from kiln.specs.yaml_source import parse_yaml, validate_model


def test_traffic_must_sum_to_0_or_100() -> None:
    assert check_traffic({"blue": 90, "green": 10}, "traffic") == {"blue": 90, "green": 10}
    assert check_traffic({"blue": 0}, "traffic") == {"blue": 0}
    with pytest.raises(ValueError, match="sums to 95"):
        check_traffic({"blue": 90, "green": 5}, "traffic")
    with pytest.raises(ValueError, match="between 0 and 100"):
        check_traffic({"blue": 120, "green": -20}, "traffic")


def test_mirror_rules() -> None:
    assert check_mirror_traffic({"green": 20}, {"blue": 100}, "m") == {"green": 20}
    with pytest.raises(ValueError, match="between 0 and 50"):
        check_mirror_traffic({"green": 60}, {"blue": 100}, "m")
    with pytest.raises(ValueError, match="takes live traffic"):
        check_mirror_traffic({"green": 20}, {"blue": 90, "green": 10}, "m")
    with pytest.raises(ValueError, match="only one deployment"):
        check_mirror_traffic({"green": 10, "red": 10}, {"blue": 100}, "m")


def test_traffic_flag_parsing() -> None:
    assert parse_traffic_text("blue=90 green=10", "--traffic") == {"blue": 90, "green": 10}
    assert parse_traffic_text("blue=90,green=10", "--traffic") == {"blue": 90, "green": 10}
    with pytest.raises(ValueError, match="NAME=PERCENT"):
        parse_traffic_text("blue:90", "--traffic")


def test_endpoint_yaml_errors_name_the_field_and_line() -> None:
    source = parse_yaml("name: iris\nauth_mode: key\ntraffic:\n  blue: 80\n")
    with pytest.raises(InvalidSpec, match="line 3.*sums to 80"):
        validate_model(OnlineEndpointSpec, source)
    with pytest.raises(InvalidSpec, match="unknown field 'trafic'"):
        validate_model(OnlineEndpointSpec, parse_yaml("name: iris\ntrafic: {}\n"))
    with pytest.raises(InvalidSpec, match="auth_mode.*aad_token.*not available in kiln; use key .* or aml_token"):
        validate_model(OnlineEndpointSpec, parse_yaml("name: iris\nauth_mode: aad_token\n"))


def test_deployment_yaml_takes_azure_field_names() -> None:
    text = """
name: blue
endpoint_name: iris
model: kiln:iris@champion
instance_type: Standard_DS3_v2
instance_count: 2
environment_variables: {WORKERS: 2}
request_settings: {request_timeout_ms: 3000, max_concurrent_requests_per_instance: 8}
readiness_probe: {initial_delay: 1, period: 1, failure_threshold: 5}
liveness_probe: {period: 5}
code_configuration: {code: ./src, scoring_script: score.py}
"""
    spec = validate_model(OnlineDeploymentSpec, parse_yaml(text))
    assert spec.instance_count == 2 and spec.environment_variables == {"WORKERS": "2"}
    assert spec.readiness_probe.deadline_seconds == 6
    assert spec.request_settings.max_concurrent_requests_per_instance == 8
    with pytest.raises(InvalidSpec, match="unknown field 'request_settings.timeout'"):
        validate_model(
            OnlineDeploymentSpec, parse_yaml("name: b1\nendpoint_name: e1\nmodel: x\nrequest_settings: {timeout: 1}\n")
        )


def _draws(values: list[float]):  # type: ignore[no-untyped-def]
    iterator = itertools.cycle(values)
    return lambda: next(iterator)


def test_splitter_follows_the_weights_over_ready_deployments() -> None:
    rng = random.Random(7)
    splitter = TrafficSplitter({"blue": 90, "green": 10}, {"blue", "green"}, rng.random)
    picks = [splitter.choose() for _ in range(20_000)]
    share = picks.count("green") / len(picks)
    assert abs(share - 0.10) < 0.01
    # green not ready: blue takes everything; nothing ready: no choice
    assert {TrafficSplitter({"blue": 90, "green": 10}, {"blue"}).choose() for _ in range(100)} == {"blue"}
    assert TrafficSplitter({"blue": 100}, set()).choose() is None
    assert TrafficSplitter({}, {"blue"}).choose() is None
    # excluding a deployment that failed to answer moves to the other
    edge = TrafficSplitter({"blue": 50, "green": 50}, {"blue", "green"}, _draws([0.1]))
    assert edge.choose() == "blue" and edge.choose(frozenset({"blue"})) == "green"


def test_route_checks_keys_mirrors_and_round_robins() -> None:
    a, b, c = (ReplicaTarget(f"http://{host}", f"secret-{host}") for host in "abc")
    blue = DeploymentRoute("blue", (a, b), 5.0)
    green = DeploymentRoute("green", (c,), 5.0)
    route = EndpointRoute.build(
        "iris", (key_hash("k1"), key_hash("k2")), {"blue": 100}, {"green": 20}, {"blue": blue, "green": green}
    )
    assert route.accepts("k1") and route.accepts("k2") and not route.accepts("k3") and not route.accepts("")
    assert [blue.next_replica() for _ in range(4)] == [a, b, a, b]
    assert {blue.next_replica({a}) for _ in range(3)} == {b}
    assert blue.next_replica({a, b}) is None
    assert route.mirror_targets(lambda: 0.1) == [green] and route.mirror_targets(lambda: 0.5) == []
    # a mirror target without ready replicas is dropped
    idle = DeploymentRoute("green", (), 5.0)
    assert EndpointRoute.build("iris", (), {"blue": 100}, {"green": 20}, {"blue": blue, "green": idle}).mirror == {}
