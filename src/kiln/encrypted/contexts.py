"""Public TenSEAL contexts on the server: loaded with checks (no secret key, the deployment's parameters),
and kept in memory by id with a count, a byte and a time limit, so a caller registers its context once and
then sends only ciphertexts that name it."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kiln.encrypted.parameters import CkksParameters
from kiln.errors import InvalidInput, NotFound
from kiln.extras import require_extra


def tenseal() -> Any:
    return require_extra("encrypted", "tenseal", needed_by="encrypted scoring")


def context_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def chain_of(context: Any) -> tuple[int, tuple[int, ...]]:
    """(poly modulus degree, the modulus's total bits at each level from the key level down) of a context."""
    data = context.seal_context().data.key_context_data()
    degree, totals = data.parms().poly_modulus_degree(), []
    while data is not None:
        totals.append(data.total_coeff_modulus_bit_count())
        data = data.next_context_data()
    return degree, tuple(totals)


def expected_chain(parameters: CkksParameters) -> tuple[int, tuple[int, ...]]:
    bits = parameters.coeff_mod_bit_sizes
    return parameters.poly_modulus_degree, tuple(sum(bits[:k]) for k in range(len(bits), 0, -1))


def load_public(data: bytes, parameters: CkksParameters, linear: bool) -> Any:
    """The context in ``data``; InvalidInput for one that is not a TenSEAL CKKS context, carries a secret
    key (the server must never hold one), or has other parameters than the deployment's."""
    ts = tenseal()
    try:
        context = ts.context_from(data, n_threads=1)
    except Exception as exc:
        raise InvalidInput(f"the body is not a serialized TenSEAL context ({type(exc).__name__}: {exc})") from exc
    if context.is_private():
        raise InvalidInput(
            "the context carries its secret key: send only the public context "
            "(serialize(save_secret_key=False)); the server never holds a secret key"
        )
    expected = expected_chain(parameters)
    try:
        found = chain_of(context)
    except Exception as exc:
        raise InvalidInput(f"the context is not a CKKS context ({type(exc).__name__}: {exc})") from exc
    if found != expected:
        raise InvalidInput(
            f"the context has poly modulus degree {found[0]} and a modulus chain of {list(found[1])} bits; this "
            f"deployment needs {parameters.poly_modulus_degree} and coefficient moduli "
            f"{list(parameters.coeff_mod_bit_sizes)} (GET .../encrypted tells them)"
        )
    if not linear and not context.has_relin_keys():
        raise InvalidInput("this model squares ciphertexts: the context needs its relinearization keys")
    return context


@dataclass
class _Entry:
    context: Any
    size: int
    expires: float


class ContextStore:
    """At most ``max_contexts`` contexts and ``max_bytes`` of them; each expires ``ttl_s`` after its last use.
    The oldest go first when a new one needs room."""

    def __init__(
        self, max_contexts: int, max_bytes: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_contexts, self.max_bytes, self.ttl_s = max_contexts, max_bytes, ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str, context: Any, size: int) -> None:
        if size > self.max_bytes:
            raise InvalidInput(
                f"the context is {size} bytes; this deployment keeps contexts of at most {self.max_bytes}"
            )
        with self._lock:
            self._expire()
            self._entries.pop(key, None)
            while self._entries and (len(self._entries) >= self.max_contexts or self._bytes() + size > self.max_bytes):
                self._entries.popitem(last=False)
            self._entries[key] = _Entry(context, size, self._clock() + self.ttl_s)

    def get(self, key: str) -> Any:
        with self._lock:
            self._expire()
            entry = self._entries.get(key)
            if entry is None:
                raise NotFound(
                    f"context '{key[:64]}' is unknown or expired here: register it again "
                    "(POST .../encrypted/contexts; EncryptedClient does so by itself)"
                )
            entry.expires = self._clock() + self.ttl_s
            self._entries.move_to_end(key)
            return entry.context

    def active(self) -> int:
        with self._lock:
            self._expire()
            return len(self._entries)

    def _bytes(self) -> int:
        return sum(e.size for e in self._entries.values())

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, e in self._entries.items() if e.expires <= now]:
            del self._entries[key]
