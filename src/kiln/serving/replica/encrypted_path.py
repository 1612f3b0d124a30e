"""Encrypted scoring (a deployment with ``encryption: {scheme: ckks}``): the model's homomorphic form
extracted at load, client contexts kept by id, and the three routes below the scoring URI (``kiln.encrypted.wire``).

Such a replica answers only these; its plaintext routes refuse with a 400 that says how to send an
encrypted request, and a plain replica's ``/encrypted`` routes say it is not encrypted. The body is
read with its bound before anything parses it; a malformed frame, context or ciphertext is a 4xx.
"""

from __future__ import annotations

import logging
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiln.encrypted import seal_format, wire
from kiln.encrypted.contexts import ContextStore, context_id, load_public, tenseal
from kiln.encrypted.evaluation import evaluate, linear_on_residues, residues_pay
from kiln.encrypted.model_form import HomomorphicForm, load_form
from kiln.encrypted.packing import Layout
from kiln.encrypted.parameters import CkksParameters, for_depth
from kiln.errors import InvalidInput, KilnError, ModelLoadFailed, PayloadTooLarge
from kiln.specs.replica import EncryptionSettings

log = logging.getLogger(__name__)
MIB = 1 << 20
PLAINTEXT_REFUSAL = (
    "this deployment scores only homomorphically encrypted requests: use kiln.encrypted.EncryptedClient "
    "or kiln online-endpoint invoke --encrypted (the rows are encrypted on your side; a plain body cannot be scored)"
)
NOT_ENCRYPTED = "this deployment is not encrypted: send plain rows to the scoring URI (/score)"


def parameters_for(form: HomomorphicForm) -> CkksParameters:
    """Linear models: one multiplication plus a prime of headroom (no rescale); networks: their depth."""
    return for_depth(max(2, form.depth))


class EncryptedScorer:
    platform = "kiln_ckks"
    signature = None
    output_metadata: list[dict[str, Any]] = []

    def __init__(self, model_dir: Path, settings: EncryptionSettings) -> None:
        self.model_dir = model_dir
        self.settings = settings
        self.form: HomomorphicForm | None = None
        self.parameters: CkksParameters | None = None
        self.contexts = ContextStore(settings.max_contexts, settings.max_context_mb * MIB, settings.context_ttl_s)
        self._rng = np.random.default_rng()

    def load(self) -> None:
        try:
            tenseal()
            form = load_form(self.model_dir)
        except KilnError as exc:
            raise ModelLoadFailed(f"encrypted scoring cannot serve this model: {exc.message}") from exc
        self.serve(form)

    def serve(self, form: HomomorphicForm) -> None:
        """Score ``form`` (what ``load`` read from the model) with the parameters its depth needs."""
        self.form = form
        self.parameters = parameters_for(form)
        _one_blas_thread()
        log.info(
            "encrypted scoring (CKKS, %s): %s, %d features → %d outputs",
            self.parameters.to_json(),
            self.form.kind,
            self.form.n_features,
            self.form.n_outputs,
        )

    @property
    def max_body(self) -> int:
        return self.settings.max_request_mb * MIB

    def describe(self) -> dict[str, Any]:
        assert self.form is not None and self.parameters is not None
        return {
            "model": self.form.describe(),
            "parameters": self.parameters.to_json(),
            "limits": {
                "max_request_bytes": self.max_body,
                "max_ciphertexts": self.settings.max_ciphertexts,
                "context_ttl_s": self.settings.context_ttl_s,
            },
            "active_contexts": self.contexts.active(),
        }

    def register(self, body: bytes) -> dict[str, Any]:
        assert self.form is not None and self.parameters is not None
        context = load_public(body, self.parameters, self.form.is_linear)
        key = context_id(body)
        self.contexts.add(key, Registered(context, _levels(context), _unscaled(body)), len(body))
        return {"context_id": key, "expires_in_s": self.settings.context_ttl_s}

    def score(self, body: bytes) -> bytes:
        assert self.form is not None and self.parameters is not None
        started = time.perf_counter()
        header, blobs = wire.decode(body, self.settings.max_ciphertexts)
        registered: Registered = self.contexts.get(str(header.get("context_id", "")))
        raw_chunks = header.get("chunks")
        if not isinstance(raw_chunks, list) or not raw_chunks:
            raise InvalidInput("the encrypted request's header needs chunks, a list of layouts")
        layouts = [
            Layout.checked(c, self.form.n_features, self.parameters.slots, self.form.is_linear) for c in raw_chunks
        ]
        if sum(layout.ciphertexts for layout in layouts) != len(blobs):
            raise InvalidInput(
                f"the chunks' layouts need {sum(layout.ciphertexts for layout in layouts)} ciphertexts; "
                f"the request has {len(blobs)}"
            )
        ts = tenseal()
        results: list[bytes] = []
        answer_chunks: list[dict[str, int]] = []
        offset = 0
        for layout in layouts:
            chunk = blobs[offset : offset + layout.ciphertexts]
            answers = self._on_residues(registered, layout, chunk, offset)
            if answers is None:
                vectors = [_vector(ts, registered.context, blob, index) for index, blob in enumerate(chunk, offset)]
                answers = [bytes(o.serialize()) for o in evaluate(self.form, vectors, layout, self._rng)]
            offset += layout.ciphertexts
            results.extend(answers)
            answer_chunks.append({"outputs": len(answers)})
        log.info("scored %d encrypted rows in %.3f s", sum(lay.rows for lay in layouts), time.perf_counter() - started)
        return wire.encode({"chunks": answer_chunks}, results)

    def _on_residues(
        self, registered: Registered, layout: Layout, chunk: list[bytes], first: int
    ) -> list[bytes] | None:
        """A linear chunk computed on the residues (``evaluation.linear_on_residues``); None where that does
        not pay or apply (one row's few ciphertexts, a network, blobs it does not read: TenSEAL then)."""
        assert self.form is not None and self.parameters is not None
        if not (residues_pay(self.form, layout) and registered.levels):
            return None
        try:
            return linear_on_residues(self.form, chunk, layout, registered, self.parameters, self._rng, first)
        except seal_format.SealFormatError:
            return None


def _one_blas_thread() -> None:
    """The residues' matrix products on one BLAS thread: a replica is one scoring thread (``instance_count``
    adds cores, as for ONNX's default), and OpenBLAS's threads spinning beside it cost more CPU than they save
    on a shared machine (1,000 rows: 0.43 s of CPU on one thread, 1.00 s on two)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without it numpy keeps its default
        return
    threadpool_limits(1, user_api="blas")


@dataclass(frozen=True)
class Registered:
    """A client's public context, its chain's levels (primes and ids; empty where they cannot be read), and
    a copy that does not rescale (``evaluation.linear_on_residues``)."""

    context: Any
    levels: list[seal_format.Level]
    unscaled: Any  # the same context, without TenSEAL's rescale after each product


def _unscaled(body: bytes) -> Any:
    context = tenseal().context_from(body, n_threads=1)
    context.auto_rescale = False
    return context


def _levels(context: Any) -> list[seal_format.Level]:
    if not seal_format.available():
        return []
    try:
        return seal_format.levels(context)
    except (seal_format.SealFormatError, OSError, RuntimeError, ValueError, struct.error):
        return []


def _vector(ts: Any, context: Any, blob: bytes, index: int) -> Any:
    try:
        vector = ts.ckks_vector_from(context, blob)
    except Exception as exc:
        raise InvalidInput(
            f"ciphertext {index} is not a CKKS vector under the registered context ({type(exc).__name__}: {exc})"
        ) from exc
    return vector


async def read_bounded(request: Any, limit: int) -> bytes:
    """The body, refused with a 413 as soon as it passes ``limit`` bytes (its Content-Length first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the request is {int(declared)} bytes; this deployment reads at most {limit} (max_request_mb)"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the request passes {limit} bytes; this deployment reads at most that (max_request_mb)"
            )
        chunks.append(chunk)
    return b"".join(chunks)
