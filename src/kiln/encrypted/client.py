"""The client SDK: encrypts rows with a CKKS context whose secret key never leaves this object, sends the
public context once and then ciphertexts that name it, and decrypts the answers.

    client = EncryptedClient(scoring_uri, key=endpoint_key)
    labels = client.predict(X)             # classifiers: labels; regressors: values
    probabilities = client.predict_proba(X)
    scores = client.decision_function(X)   # the decrypted scores, before the link
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kiln.encrypted import residues, seal_format, wire
from kiln.encrypted.model_form import apply_link, labels
from kiln.encrypted.packing import Layout, chunks, pack, unpack
from kiln.encrypted.parameters import CkksParameters
from kiln.errors import InvalidInput, KilnError, NotFound, Unavailable, error_from_json
from kiln.extras import require_extra

DEPLOYMENT_HEADER = "azureml-model-deployment"


def rows_of_request(data: Any) -> Any:
    """The rows of a scoring body in any shape the plain routes take: a list of rows, ``input_data``
    (``{"data": rows}`` or rows), ``inputs``, ``instances``, ``data``, ``dataframe_split``."""
    for key in ("input_data", "inputs", "instances", "data", "dataframe_split"):
        if isinstance(data, dict) and key in data:
            return rows_of_request(data[key])
    if isinstance(data, list):
        return data
    raise InvalidInput(
        'the request holds no rows: give a list of rows, or {"input_data": {"data": rows}} '
        "(or inputs, instances, data, dataframe_split)"
    )


class EncryptedClient:
    """``scoring_uri``: the endpoint's (``<workspace>/endpoints/NAME/score``) or its base; ``key``: an endpoint
    key (or a user's token for aml_token endpoints); ``deployment``: pin one deployment (else the split)."""

    def __init__(
        self, scoring_uri: str, key: str, *, deployment: str | None = None, timeout: float = 300.0, http: Any = None
    ) -> None:
        self.base = scoring_uri.rstrip("/").removesuffix("/score")
        self._headers = {"Authorization": f"Bearer {key}"}
        if deployment:
            self._headers[DEPLOYMENT_HEADER] = deployment
        self._timeout = timeout
        if http is None:
            import httpx

            http = httpx.Client(timeout=timeout)
        self._http = http
        self._info: dict[str, Any] | None = None
        self._context: Any = None
        self._context_id: str | None = None
        self._level: seal_format.Level | None = None
        self.parameters: CkksParameters | None = None

    # --- what the deployment serves ------------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        """The deployment's model shape, CKKS parameters and limits (GET .../encrypted)."""
        if self._info is None:
            self._info = self._call("GET", "/encrypted").json()
            self.parameters = CkksParameters.from_json(self._info["parameters"])
        return self._info

    @property
    def model(self) -> dict[str, Any]:
        return dict(self.info["model"])

    # --- scoring -------------------------------------------------------------------------------------
    def decision_function(self, X: Any) -> np.ndarray:
        """The model's scores (rows × outputs), computed on ciphertexts and decrypted here."""
        rows = self._rows(X)
        info, parameters = self.info, self.parameters
        assert parameters is not None
        model = info["model"]
        linear = model["layers"] == 1
        plan = chunks(len(rows), model["n_features"], parameters.slots, linear)
        out = np.empty((len(rows), model["n_outputs"]))
        for group in self._requests(plan, info["limits"]):
            answers = self._score([(rows[start : start + layout.rows], layout) for start, layout in group])
            for (start, layout), outputs in zip(group, answers, strict=True):
                for j, vector in enumerate(outputs):
                    out[start : start + layout.rows, j] = unpack(np.asarray(vector.decrypt()), layout)
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities: the sigmoid (binary, as two columns) or softmax of the scores, applied here."""
        link = self.model["link"]
        if link not in ("sigmoid", "softmax"):
            raise InvalidInput(f"this deployment's model ({self.model['kind']}) gives no probabilities; use predict")
        p = apply_link(self.decision_function(X), link)
        return np.hstack([1 - p, p]) if link == "sigmoid" else p

    def predict(self, X: Any) -> np.ndarray:
        """Labels for a classifier (as scikit-learn's predict), values for a regressor."""
        return self.predictions_from(self.decision_function(X))

    def predictions_from(self, scores: np.ndarray) -> np.ndarray:
        """``predict``'s answer from decrypted scores."""
        if self.model["link"] == "identity":
            return scores[:, 0] if scores.shape[1] == 1 else scores
        return labels(scores, self.model.get("classes"))

    # --- protocol --------------------------------------------------------------------------------------
    def _rows(self, X: Any) -> np.ndarray:
        try:
            rows = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"the rows must be numbers: {exc}") from exc
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        expected = self.info["model"]["n_features"]
        if rows.ndim != 2 or rows.shape[1] != expected or len(rows) == 0:
            raise InvalidInput(f"the rows have shape {rows.shape}; this model takes rows of {expected} features")
        if not np.all(np.isfinite(rows)):
            raise InvalidInput("the rows hold NaN or infinite values; CKKS encrypts finite numbers only")
        return rows

    def _requests(self, plan: list[tuple[int, Layout]], limits: dict[str, Any]) -> list[list[tuple[int, Layout]]]:
        """Chunks grouped into requests of at most the deployment's ciphertexts per request."""
        groups: list[list[tuple[int, Layout]]] = [[]]
        used = 0
        for item in plan:
            if groups[-1] and used + item[1].ciphertexts > limits["max_ciphertexts"]:
                groups.append([])
                used = 0
            groups[-1].append(item)
            used += item[1].ciphertexts
        return groups

    def _make_context(self) -> None:
        ts = require_extra("encrypted", "tenseal", needed_by="kiln.encrypted.EncryptedClient")
        parameters = self.parameters
        assert parameters is not None
        context = ts.context(
            ts.SCHEME_TYPE.CKKS,
            parameters.poly_modulus_degree,
            coeff_mod_bit_sizes=list(parameters.coeff_mod_bit_sizes),
            encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,  # seeded ciphertexts: half the bytes on the wire
        )
        context.global_scale = 2.0**parameters.scale_bits
        self._context = context

    def public_context(self) -> bytes:
        """The context without its secret key (and with the relinearization keys a network needs)."""
        if self._context is None:
            self.info  # noqa: B018 (the parameters)
            self._make_context()
        return bytes(
            self._context.serialize(
                save_public_key=False,
                save_secret_key=False,
                save_galois_keys=False,
                save_relin_keys=self.info["model"]["layers"] > 1,
            )
        )

    def _register(self) -> str:
        public = self.public_context()
        answer = self._call("POST", "/encrypted/contexts", public).json()
        self._context_id = str(answer["context_id"])
        return self._context_id

    def _score(self, items: list[tuple[np.ndarray, Layout]]) -> list[list[Any]]:
        ts = require_extra("encrypted", "tenseal", needed_by="kiln.encrypted.EncryptedClient")
        context_id = self._context_id or self._register()
        blobs: list[bytes] = []
        header_chunks: list[dict[str, Any]] = []
        for rows, layout in items:
            vectors = pack(rows, layout)
            encrypted = [ts.ckks_vector(self._context, v.tolist()).serialize() for v in vectors]
            if layout.feature_major and self.model["layers"] == 1:
                encrypted = self._lowered(encrypted)
            elif self.model["layers"] == 1:
                encrypted = self._uncompressed(encrypted)
            blobs.extend(encrypted)
            header_chunks.append(layout.to_json())

        def body_for(cid: str) -> bytes:
            return wire.encode({"context_id": cid, "chunks": header_chunks}, blobs)

        try:
            response = self._call("POST", "/encrypted/score", body_for(context_id))
        except NotFound as exc:
            if "context" not in exc.message:
                raise
            response = self._call("POST", "/encrypted/score", body_for(self._register()))  # expired: once more
        header, results = wire.decode(response.content, max_blobs=1 << 20)
        answers, offset = [], 0
        for chunk in header["chunks"]:
            k = int(chunk["outputs"])
            answers.append([ts.ckks_vector_from(self._context, blob) for blob in results[offset : offset + k]])
            offset += k
        return answers

    def _lowered(self, blobs: list[bytes]) -> list[bytes]:
        """A linear model's feature-major ciphertexts modulo only the primes its products need
        (``residues.level_for``): fewer bytes to send and to compute on. As sent where that cannot be read."""
        if self._level is None:
            assert self.parameters is not None
            try:
                levels = seal_format.levels(self._context) if seal_format.available() else []
            except (seal_format.SealFormatError, OSError, RuntimeError, ValueError):
                levels = []
            if not levels:
                return blobs
            bits = [sum(q.bit_length() for q in level.primes) for level in levels]
            self._level = levels[residues.level_for(bits, self.parameters.scale_bits)]
        level, degree = self._level, self.parameters.poly_modulus_degree  # type: ignore[union-attr]
        try:
            return [
                seal_format.write(
                    seal_format.dropped_to(seal_format.read(b, degree, 64), len(level.primes), level.parms_id)
                )
                for b in blobs
            ]
        except seal_format.SealFormatError:
            return blobs

    def _uncompressed(self, blobs: list[bytes]) -> list[bytes]:
        """A linear model's ciphertexts without SEAL's zstd: the server reads their residues as they come (a
        request of 1,000 rows spends a fifth of its server time decompressing otherwise) for ~18 % more bytes.
        As sent where that cannot be read."""
        if not seal_format.available():
            return blobs
        assert self.parameters is not None
        degree = self.parameters.poly_modulus_degree
        try:
            return [seal_format.write(seal_format.read(b, degree, 64)) for b in blobs]
        except seal_format.SealFormatError:
            return blobs

    def _call(self, method: str, path: str, body: bytes | None = None) -> Any:
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = wire.MEDIA_TYPE
        url = self.base + path
        try:
            response = self._http.request(method, url, content=body, headers=headers)
        except Exception as exc:
            raise Unavailable(f"cannot reach {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            try:
                payload: Any = response.json()
            except ValueError:
                payload = response.text
            error: KilnError = error_from_json(payload, response.status_code)
            raise error
        return response

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EncryptedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
