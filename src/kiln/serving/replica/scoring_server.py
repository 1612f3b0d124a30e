"""The replica's HTTP surface: one Starlette app speaking three protocols over one scorer.

Starlette rather than FastAPI: the bodies are read by the protocol codecs, so FastAPI's
per-request validation would be cost without use on the hot path. Before any route, the app
checks the gateway's secret (``kiln.internal_secret``: one header, one constant-time compare):
callers reach a replica only through the endpoint's scoring URI with a key. Every scoring route goes
through ``_scoring``: the concurrency limit (429), the readiness check (503), the timeout
(408), the protocol's own error shape, and the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kiln.encrypted import wire
from kiln.errors import (
    InvalidInput,
    KilnError,
    ModelLoadFailed,
    NotFound,
    ScoringFailed,
    ScoringTimeout,
    TooManyRequests,
    Unavailable,
)
from kiln.internal_secret import InternalOnly
from kiln.serving.replica import metrics as metrics_module
from kiln.serving.replica.batching import DynamicBatcher
from kiln.serving.replica.encrypted_path import NOT_ENCRYPTED, PLAINTEXT_REFUSAL, EncryptedScorer, read_bounded
from kiln.serving.replica.endpoint_keys import EndpointKeysOnly
from kiln.serving.replica.metrics import ReplicaMetrics
from kiln.serving.replica.payloads import ModelInput, Prediction, dumps
from kiln.serving.replica.protocols import azure, mlflow_invocations, v2
from kiln.serving.replica.scorers import MlflowModelScorer, Scorer, ScoringScriptScorer
from kiln.specs.replica import ReplicaConfig

log = logging.getLogger(__name__)
JSON = "application/json"
INLINE_PREDICT_S = 0.001  # a batch measured to predict faster runs on the event loop (batching.py)
_REFUSAL = (
    "a scoring replica answers only the workspace's gateway: call the endpoint's scoring URI "
    "(<workspace>/endpoints/NAME/score) with one of its keys (kiln online-endpoint get-credentials -n NAME)"
)


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status, media_type=JSON)


def _kiln_error(error: KilnError) -> Response:
    """The workspace's error body, which kiln's clients rebuild as the same class."""
    return _json(dumps(error.to_json()), error.http_status)


class _ScoringRoutesFirst:
    """``POST /invocations`` and ``POST /score`` straight to their handlers, past Starlette's
    middleware and route matching (a tenth of the replica's CPU per request); every other request,
    and lifespan, through the Starlette app. The handlers catch their own errors (``_scoring``)."""

    def __init__(self, app: Starlette, hot: dict[str, Callable[[Request], Awaitable[Response]]]) -> None:
        self.app = app
        self._hot = hot

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        handler = self._hot.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        response = await handler(Request(scope, receive))
        await response(scope, receive, send)


class ScoringServer:
    """``app`` serves; the scorer loads in the background after start, and ``exit_code``
    turns 1 (with ``request_exit`` called) when it cannot."""

    def __init__(
        self, config: ReplicaConfig, scorer: Scorer, metrics: ReplicaMetrics, key_hashes: tuple[str, ...] = ()
    ) -> None:
        """``key_hashes``: standalone mode's (``config.endpoint_keys``, read by ``endpoint_keys.read_key_hashes``)."""
        self.config = config
        self.scorer = scorer
        self.metrics = metrics
        self.ready = False
        self.exit_code = 0
        self.request_exit: Callable[[], None] = lambda: None
        self._timeout = config.request_timeout_ms / 1000
        self._in_flight = 0
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="scoring")
        self._batcher: DynamicBatcher | None = None
        self._loading: asyncio.Task[None] | None = None
        routed = Starlette(routes=self._routes(), lifespan=self._lifespan)
        inner = _ScoringRoutesFirst(routed, self._hot_routes())
        self.app: Any = (
            InternalOnly(inner, config.secret, _REFUSAL)
            if config.secret is not None
            else EndpointKeysOnly(inner, key_hashes)
        )

    def _hot_routes(self) -> dict[str, Callable[[Request], Awaitable[Response]]]:
        return {"/invocations": self.invocations, "/score": self.score}

    def _routes(self) -> list[Route]:
        model = "/v2/models/{model}"
        versioned = "/v2/models/{model}/versions/{version}"
        return [
            Route("/score", self.score, methods=["POST"]),
            Route("/invocations", self.invocations, methods=["POST"]),
            Route(f"{model}/infer", self.infer, methods=["POST"]),
            Route(f"{versioned}/infer", self.infer, methods=["POST"]),
            Route("/v2/health/live", self.live),
            Route("/v2/health/ready", self.readiness),
            Route("/v2", self.server_metadata),
            Route(model, self.model_metadata),
            Route(versioned, self.model_metadata),
            Route(f"{model}/ready", self.model_ready),
            Route(f"{versioned}/ready", self.model_ready),
            Route("/ping", self.readiness),
            Route("/health", self.readiness),
            Route("/metrics", self.prometheus),
            Route("/encrypted", self.encrypted_info, methods=["GET"]),
            Route("/encrypted/contexts", self.encrypted_context, methods=["POST"]),
            Route("/encrypted/score", self.encrypted_score, methods=["POST"]),
        ]

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loading = asyncio.create_task(self._load())
        try:
            yield
        finally:
            self._loading.cancel()
            if self._batcher is not None:
                await self._batcher.stop()
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _load(self) -> None:
        started = time.monotonic()
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self.scorer.load)
        except ModelLoadFailed as exc:
            self._fail(exc.message)
            return
        except Exception as exc:
            log.exception("loading failed")
            self._fail(f"loading failed: {type(exc).__name__}: {exc}")
            return
        if isinstance(self.scorer, MlflowModelScorer):
            # a scikit-learn estimator on arrays, an ONNX Runtime session: no thread-bound state, small batches on the loop
            inline = INLINE_PREDICT_S if self.scorer.fast_path is not None else 0.0
            self._batcher = DynamicBatcher(
                self.scorer.predict, self.config.batching, self._executor, self.metrics.observe_batch, inline
            )
            self._batcher.start()
        # The loaded libraries (MLflow, pandas, the model) are a large, long-lived heap: a full
        # collection walking it stalls every request for ~100 ms. Frozen, collections skip it
        # (measured: p99 at concurrency 16 from ~100 ms to ~10 ms).
        gc.collect()
        gc.freeze()
        self.ready = True
        self.metrics.ready.set(1)
        what = {ScoringScriptScorer: "scoring script", EncryptedScorer: "encrypted scoring"}.get(
            type(self.scorer), "MLflow model"
        )
        log.info("%s loaded in %.2f s; ready", what, time.monotonic() - started)

    def _fail(self, message: str) -> None:
        log.error("error: %s", message)
        self.exit_code = 1
        self.request_exit()

    # --- scoring routes ------------------------------------------------------------------

    async def _scoring(
        self,
        protocol: str,
        handle: Callable[[], Awaitable[Response]],
        render_error: Callable[[KilnError], Response],
    ) -> Response:
        started = time.perf_counter()
        if self._in_flight >= self.config.max_concurrent_requests:
            limit = self.config.max_concurrent_requests
            response = render_error(TooManyRequests(f"more than {limit} requests in flight (max_concurrent_requests)"))
        elif not self.ready:
            response = render_error(Unavailable("the model is still loading; try again when /v2/health/ready answers"))
        else:
            self._in_flight += 1
            self.metrics.in_flight.inc()
            try:
                response = await handle()
            except KilnError as exc:
                response = render_error(exc)
            except Exception as exc:
                log.exception("%s request failed", protocol)
                response = render_error(ScoringFailed(f"{type(exc).__name__}: {exc}"))
            finally:
                self._in_flight -= 1
                self.metrics.in_flight.dec()
        self.metrics.observe_request(protocol, response.status_code, time.perf_counter() - started)
        return response

    def _refuse_plaintext(self) -> None:
        if isinstance(self.scorer, EncryptedScorer):
            raise InvalidInput(PLAINTEXT_REFUSAL)

    async def _predict(self, item: ModelInput) -> Prediction:
        assert self._batcher is not None and isinstance(self.scorer, MlflowModelScorer)
        if self.scorer.signature is not None:
            item = self.scorer.signature.check(item)
        try:
            async with asyncio.timeout(self._timeout):  # no extra task per request, unlike wait_for
                return await self._batcher.submit(item)
        except TimeoutError:
            raise self._timed_out() from None

    async def _run_script(self, body: bytes) -> Any:
        try:
            raw_data = body.decode()
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"the request body is not UTF-8 text: {exc}") from exc
        assert isinstance(self.scorer, ScoringScriptScorer)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                return await loop.run_in_executor(self._executor, self.scorer.run, raw_data)
        except TimeoutError:
            raise self._timed_out() from None

    def _timed_out(self) -> ScoringTimeout:
        return ScoringTimeout(
            f"the model did not answer within {self.config.request_timeout_ms} ms (request_timeout_ms)"
        )

    async def score(self, request: Request) -> Response:
        async def handle() -> Response:
            self._refuse_plaintext()
            body = await request.body()
            if not isinstance(self.scorer, MlflowModelScorer):
                return _json(dumps(await self._run_script(body)))
            prediction = await self._predict(azure.parse_score_request(body, self.scorer.signature))
            return _json(azure.encode_score_response(prediction))

        return await self._scoring("azure", handle, lambda e: _json(azure.error_body(e), e.http_status))

    async def invocations(self, request: Request) -> Response:
        async def handle() -> Response:
            self._refuse_plaintext()
            body = await request.body()
            if not isinstance(self.scorer, MlflowModelScorer):
                return _json(dumps({"predictions": await self._run_script(body)}))
            content_type = request.headers.get("content-type")
            item = mlflow_invocations.parse_invocations_request(body, content_type, self.scorer.signature)
            return _json(mlflow_invocations.encode_invocations_response(await self._predict(item)))

        return await self._scoring("mlflow", handle, lambda e: _json(mlflow_invocations.error_body(e), e.http_status))

    async def infer(self, request: Request) -> Response:
        async def handle() -> Response:
            self._check_model(request)
            self._refuse_plaintext()
            body = await request.body()
            v2_request = v2.parse_infer_request(body, request.headers.get(v2.HEADER_LENGTH))
            if isinstance(self.scorer, MlflowModelScorer):
                prediction = await self._predict(v2.model_input(v2_request, self.scorer.signature))
            else:
                prediction = Prediction.from_script_output(await self._run_script(v2.script_body(v2_request)))
            content, headers = v2.encode_infer_response(
                v2_request, prediction, self.config.model_name, self.config.model_version
            )
            return Response(content, headers=headers)

        return await self._scoring("v2", handle, lambda e: _json(v2.error_body(e.message), e.http_status))

    # --- encrypted scoring (encrypted_path) ------------------------------------------------------

    def _encrypted(self) -> EncryptedScorer:
        if not isinstance(self.scorer, EncryptedScorer):
            raise InvalidInput(NOT_ENCRYPTED)
        return self.scorer

    async def _in_scoring_thread(self, work: Callable[[], Any]) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        except TimeoutError:
            raise self._timed_out() from None

    async def encrypted_info(self, request: Request) -> Response:
        async def handle() -> Response:
            return _json(dumps(self._encrypted().describe()))

        return await self._scoring("encrypted", handle, _kiln_error)

    async def encrypted_context(self, request: Request) -> Response:
        async def handle() -> Response:
            scorer = self._encrypted()
            body = await read_bounded(request, scorer.max_body)
            return _json(dumps(await self._in_scoring_thread(lambda: scorer.register(body))))

        return await self._scoring("encrypted", handle, _kiln_error)

    async def encrypted_score(self, request: Request) -> Response:
        async def handle() -> Response:
            scorer = self._encrypted()
            body = await read_bounded(request, scorer.max_body)
            answer = await self._in_scoring_thread(lambda: scorer.score(body))
            return Response(answer, media_type=wire.MEDIA_TYPE)

        return await self._scoring("encrypted", handle, _kiln_error)

    # --- health, metadata, metrics -----------------------------------------------------------

    def _check_model(self, request: Request) -> None:
        name, version = request.path_params["model"], request.path_params.get("version")
        if name != self.config.model_name:
            raise NotFound(f"model '{name}' is not served here; this replica serves '{self.config.model_name}'")
        if version not in (None, self.config.model_version):
            raise NotFound(
                f"version '{version}' of '{name}' is not served here; this replica serves version {self.config.model_version}"
            )

    async def live(self, request: Request) -> Response:
        return _json(b'{"live":true}')

    async def readiness(self, request: Request) -> Response:
        return _json(b'{"ready":true}') if self.ready else _json(b'{"ready":false}', 503)

    async def server_metadata(self, request: Request) -> Response:
        from kiln import __version__

        return _json(dumps({"name": "kiln", "version": __version__, "extensions": ["binary_tensor_data"]}))

    async def model_metadata(self, request: Request) -> Response:
        try:
            self._check_model(request)
        except NotFound as exc:
            return _json(v2.error_body(exc.message), 404)
        if not self.ready:
            return _json(v2.error_body("the model is still loading"), 503)
        body = v2.model_metadata(
            self.config.model_name,
            self.config.model_version,
            self.scorer.platform,
            self.scorer.signature,
            self.scorer.output_metadata,
        )
        return _json(body)

    async def model_ready(self, request: Request) -> Response:
        try:
            self._check_model(request)
        except NotFound as exc:
            return _json(v2.error_body(exc.message), 404)
        return await self.readiness(request)

    async def prometheus(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=metrics_module.CONTENT_TYPE)
