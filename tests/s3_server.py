"""A real S3 API endpoint for the tests: moto's standalone server, on loopback.

No S3 server ships as a Debian or Python package here, so the S3 tests start **moto's
standalone server** (``moto_server -H 127.0.0.1 -p PORT``, from ``moto[server]``) as a
separate process and use it as the endpoint. It is a real HTTP server speaking the S3 REST
API: kiln's s3fs store, MLflow's boto3 artifact repository and the test's own boto3 client
reach it over the network exactly as they would reach AWS S3 or MinIO. Its credentials are
dummies (moto accepts any unless it is started to check them, as ``refusing_credentials``
does); its buckets live in the process's memory and vanish when it stops.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiln.processes import free_port
from tests.lanes import require_slow_lane, server_fixture

ACCESS_KEY = "kiln-test-access-key"
SECRET_KEY = "kiln-test-secret-6f1c0e2a9b"  # a test dummy, but treated as a secret: no message may show it
REGION = "us-east-1"


@dataclass
class S3Server:
    """One ``moto_server`` process and what a client needs to reach it."""

    log: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables a process needs to use this endpoint (no instance-metadata lookups)."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
        }  # fmt: skip

    def start(self, timeout: float = 60) -> S3Server:
        require_slow_lane("moto's S3 server")
        executable = Path(sys.executable).with_name("moto_server")
        if not executable.exists():
            raise RuntimeError(f'{executable} not found: install the test extra (pip install "moto[server]")')
        self.port = free_port()
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                [str(executable), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=handle, stderr=subprocess.STDOUT, env={**_without_aws(os.environ), **self.extra_env},
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"moto_server exited at start:\n{self.log.read_text()[-2000:]}"
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=2)
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"moto_server did not answer within {timeout}s:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )  # fmt: skip

    def create_bucket(self, prefix: str = "kiln") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in ``bucket`` below ``prefix``, listed with boto3."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        body: bytes = self.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        return body


def _without_aws(env: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if not key.startswith("AWS_")}


@server_fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's standalone S3 server, shared by the session (each test makes its own bucket)."""
    server = S3Server(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@server_fixture
def refusing_credentials(tmp_path: Path) -> Iterator[S3Server]:
    """A moto server that checks credentials (``INITIAL_NO_AUTH_ACTION_COUNT=0``): it knows no
    access key, so it refuses the dummy ones as AWS refuses wrong ones."""
    server = S3Server(tmp_path / "moto-auth.log", extra_env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}).start()
    yield server
    server.stop()
