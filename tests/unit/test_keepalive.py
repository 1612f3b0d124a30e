"""The keep-alive parts the gateway's replica client and ``/mlflow``'s relay share (``kiln.keepalive``): the idle pool
reuses the most recent usable connection per server, closes what it cannot keep, and the request head says what the
servers read."""

from __future__ import annotations

from kiln.keepalive import IdlePool, request_head


class _Connection:
    def __init__(self, name: str, usable: bool = True) -> None:
        self.name, self.open, self._usable = name, True, usable

    def usable(self) -> bool:
        return self.open and self._usable

    def close(self) -> None:
        self.open = False


def test_the_most_recent_usable_connection_of_that_server_is_reused() -> None:
    pool: IdlePool[_Connection] = IdlePool(max_idle=4)
    first, second, other = _Connection("first"), _Connection("second"), _Connection("other")
    pool.give_back(("127.0.0.1", 1), first)
    pool.give_back(("127.0.0.1", 1), second)
    pool.give_back(("127.0.0.1", 2), other)
    assert pool.take(("127.0.0.1", 1)) is second and pool.take(("127.0.0.1", 1)) is first
    assert pool.take(("127.0.0.1", 1)) is None and pool.take(("127.0.0.1", 2)) is other


def test_a_connection_no_longer_usable_is_closed_and_skipped() -> None:
    pool: IdlePool[_Connection] = IdlePool(max_idle=4)
    kept, gone_stale = _Connection("kept"), _Connection("stale")
    pool.give_back("mlflow", kept)
    pool.give_back("mlflow", gone_stale)
    gone_stale._usable = False  # the server closed it, or it idled past the server's keep-alive
    assert pool.take("mlflow") is kept and not gone_stale.open


def test_past_the_cap_or_unusable_a_connection_is_closed_not_kept() -> None:
    pool: IdlePool[_Connection] = IdlePool(max_idle=1)
    kept, extra, closed = _Connection("kept"), _Connection("extra"), _Connection("closed", usable=False)
    for connection in (kept, extra, closed):
        pool.give_back("replica", connection)
    assert (kept.open, extra.open, closed.open) == (True, False, False)
    pool.close()
    assert not kept.open and pool.take("replica") is None


def test_the_request_head_names_the_host_the_headers_and_the_body_s_length() -> None:
    head = request_head("POST", "/invocations", "127.0.0.1:9", [(b"x-a", b"b")], 7)
    assert head == b"POST /invocations HTTP/1.1\r\nhost: 127.0.0.1:9\r\ncontent-length: 7\r\nx-a: b\r\n\r\n"
    assert b"content-length: 0" in request_head("PUT", "/", "h", [], 0)  # a body method with no body says so
    assert b"content-length" not in request_head("GET", "/", "h", [], 0)
    assert b"content-length" not in request_head("POST", "/", "h", [], None)  # a length not known: none said
