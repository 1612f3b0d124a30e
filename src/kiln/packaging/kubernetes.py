"""Kubernetes manifests for a deployment, serving the image built from its Docker build context (``docker.py``).

One file per object: ``deployment.yaml`` (replicas = ``instance_count``, the liveness and readiness probes from
the deployment's probe settings on the replica's health routes, resources, the deployment's variables, the key
hashes from the Secret), ``service.yaml`` (ClusterIP, port 80 to the replica's 8080), ``secret.yaml`` (the
SHA-256 hashes of the endpoint's keys: callers keep the keys, the cluster never holds them) and, when asked,
``hpa.yaml`` (an ``autoscaling/v2`` HorizontalPodAutoscaler on CPU).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kiln.errors import InvalidSpec
from kiln.packaging.docker import LIVE_PATH, PORT, READY_PATH, USER_ID
from kiln.specs.endpoint import OnlineDeploymentSpec, ProbeSettings
from kiln.specs.replica import KEY_HASHES_VARIABLE

SECRET_KEY = "key-hashes"
CPU_TARGET_PERCENT = 70
# A replica's share of a node when nothing says otherwise (kiln's specs carry no resources: Azure's
# instance_type names a VM size); edit them in deployment.yaml to fit the model.
RESOURCES = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}
_AUTOSCALE = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*$")


@dataclass(frozen=True)
class Autoscale:
    minimum: int
    maximum: int

    @classmethod
    def parse(cls, text: str) -> Autoscale:
        """``MIN,MAX`` replicas, 1 ≤ MIN ≤ MAX ≤ 1000."""
        found = _AUTOSCALE.match(text)
        if found is None or not 1 <= int(found[1]) <= int(found[2]) <= 1000:
            raise InvalidSpec(
                f"autoscale: expected MIN,MAX replicas with 1 <= MIN <= MAX <= 1000 (e.g. 2,10), found {text!r}"
            )
        return cls(int(found[1]), int(found[2]))


def object_name(endpoint: str, deployment: str) -> str:
    """A DNS-1123 name for the deployment's objects: ``ENDPOINT-DEPLOYMENT`` in lower case, at most 63 characters."""
    name = re.sub(r"[^a-z0-9-]", "-", f"{endpoint}-{deployment}".lower()).strip("-")[:63].rstrip("-")
    return name or "kiln-replica"


def manifests(
    spec: OnlineDeploymentSpec, key_hashes: tuple[str, ...], image: str, autoscale: Autoscale | None
) -> dict[str, dict[str, Any]]:
    """The objects by file name."""
    name = object_name(spec.endpoint_name, spec.name)
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "kiln-scoring-replica",
        "app.kubernetes.io/managed-by": "kiln",
    }
    secret = f"{name}-keys"
    environment: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in spec.environment_variables.items()]
    environment.append(
        {"name": KEY_HASHES_VARIABLE, "valueFrom": {"secretKeyRef": {"name": secret, "key": SECRET_KEY}}}
    )
    container = {
        "name": "replica",
        "image": image,
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": environment,
        "resources": RESOURCES,
        # liveness: Kubernetes takes one success only
        "livenessProbe": _probe(LIVE_PATH, spec.liveness_probe, success_threshold=1),
        "readinessProbe": _probe(READY_PATH, spec.readiness_probe),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    objects: dict[str, dict[str, Any]] = {
        "deployment.yaml": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": spec.instance_count,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"automountServiceAccountToken": False, "containers": [container]},
                },
            },
        },
        "service.yaml": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "type": "ClusterIP",
                "selector": {"app.kubernetes.io/name": name},
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        "secret.yaml": {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret, "labels": labels},
            "type": "Opaque",
            "stringData": {SECRET_KEY: ",".join(key_hashes)},
        },
    }
    if autoscale is not None:
        objects["hpa.yaml"] = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": autoscale.minimum,
                "maxReplicas": autoscale.maximum,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": CPU_TARGET_PERCENT},
                        },
                    }
                ],
            },
        }
    return objects


def write_manifests(dest: Path, objects: dict[str, dict[str, Any]]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for file_name, body in objects.items():
        (dest / file_name).write_text(yaml.safe_dump(body, sort_keys=False))


def _probe(path: str, settings: ProbeSettings, success_threshold: int | None = None) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": settings.initial_delay,
        "periodSeconds": settings.period,
        "timeoutSeconds": settings.timeout,
        "successThreshold": success_threshold or settings.success_threshold,
        "failureThreshold": settings.failure_threshold,
    }
