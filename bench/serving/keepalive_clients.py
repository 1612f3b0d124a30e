"""kiln's two loopback HTTP clients, client CPU per request: the gateway's hop to replicas
(``kiln.serving.control.replica_client``: whole answers over an httptools protocol) and ``/mlflow``'s relay to
MLflow's child (``kiln.tracking.loopback_http``: streamed bodies over asyncio streams), both pooling their
keep-alive connections through ``kiln.keepalive``.

Each sends ``--requests`` small JSON POSTs from 16 concurrent tasks to a do-nothing keep-alive server (its own
process, answering a fixed 20-byte JSON body) and reads the answers whole; the figure is this process's CPU time per
request (the steady figure on a shared machine). With ``--compare-src OTHER/src`` the same clients of another
checkout (an earlier kiln) run alternated with these, round by round, so a busy moment weighs on both.

    .venv/bin/python bench/serving/keepalive_clients.py [--requests 3000] [--rounds 7] [--compare-src OTHER/src]

Run it inside a loopback-only namespace: ``unshare -n sh -c 'ip link set lo up && .venv/bin/python …'``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

SRC = Path(__file__).resolve().parent.parent.parent / "src"
sys.path.insert(0, str(SRC))

SERVER = r"""
import asyncio
BODY = b'{"predictions": [0]}'
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)

class Answering(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self.buffer[:end].lower().split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(ANSWER)

async def main():
    server = await asyncio.get_running_loop().create_server(Answering, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""
BODY = b'{"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [[5.1, 3.5, 1.4, 0.2]]}}'
HEADERS = [(b"content-type", b"application/json"), (b"x-request-id", b"0123456789abcdef")]
CONCURRENCY = 16


def load(name: str, path: Path) -> ModuleType:
    """A module of another checkout, loaded from its file (its own imports resolve in this checkout)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def replica_hop(module: Any, port: int, requests: int) -> None:
    client = module.ReplicaClient()

    async def caller() -> None:
        for _ in range(requests // CONCURRENCY):
            answer = await client.exchange("127.0.0.1", port, "POST", "/invocations", HEADERS, BODY)
            assert answer.status == 200

    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    client.close()


async def mlflow_relay(module: Any, port: int, requests: int) -> None:
    client = module.LoopbackClient("127.0.0.1", port)

    async def caller() -> None:
        for _ in range(requests // CONCURRENCY):
            answer = await client.request("POST", "/api/2.0/mlflow/runs/get", HEADERS, BODY)
            assert answer.status == 200
            async for _piece in answer.body():
                pass

    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compare-src", type=Path, help="another checkout's src: its clients timed alongside")
    args = parser.parse_args()
    from kiln.serving.control import replica_client
    from kiln.tracking import loopback_http

    cases = {"replica hop": (replica_hop, replica_client), "mlflow relay": (mlflow_relay, loopback_http)}
    if args.compare_src:
        other = args.compare_src.resolve() / "kiln"
        cases[f"replica hop [{args.compare_src}]"] = (
            replica_hop, load("other_replica_client", other / "serving/control/replica_client.py"),
        )  # fmt: skip
        cases[f"mlflow relay [{args.compare_src}]"] = (
            mlflow_relay, load("other_loopback_http", other / "tracking/loopback_http.py"),
        )  # fmt: skip
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, (run, module) in cases.items():
                start = time.process_time()
                asyncio.run(run(module, port, args.requests))
                cpu[name].append((time.process_time() - start) / args.requests * 1e6)
    finally:
        server.kill()
    print(f"client CPU per request, {args.requests} requests from {CONCURRENCY} tasks, {args.rounds} rounds alternated")
    for name, values in cpu.items():
        print(f"  {name:<48} median {statistics.median(values):7.1f} µs   min {min(values):7.1f} µs")


if __name__ == "__main__":
    main()
