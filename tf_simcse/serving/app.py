"""`create_app(backend, settings, threshold)`: the FastAPI app of `python -m tf_simcse.serve`.

Endpoints (JSON in and out; every error is `{"error": "<field>: <what is wrong>", "field": "<field>"}`):

- `POST /v1/embeddings` `{"sentences": [...], "normalize": true}` -> `{"embeddings": [[...]], "dim": d}`;
- `POST /v1/similarity` `{"sentence1": a, "sentence2": b}` -> `{"score", "similar", "threshold",
  "threshold_source"}`, or `{"pairs": [[a, b], ...]}` -> the same with `"scores"` and a list of `"similar"`;
- `POST /v1/search` `{"query": q, "documents": [...], "top_k": 10}` -> `{"indices": [...], "scores": [...]}`,
  best first (ties in input order; `top_k` larger than the documents returns them all);
- `GET /healthz` (the model, its dim and max_seq_length, the threshold), `GET /metrics` (Prometheus text),
  `GET /docs` (OpenAPI UI; `/openapi.json` is the schema).

Scores are cosine similarities of the embeddings (a zero vector has cosine 0 with everything, as in
`tf_simcse.similarity.cosine_similarity_matrix`). A pair is `similar` iff its score is `>= threshold`.
Sentences are embedded as `Encoder.encode` embeds them: an empty or whitespace-only string is a valid
sentence ([CLS] [SEP] and nothing else, so all of them share one embedding), and text beyond the model's
max_seq_length tokens is truncated.

Status codes: 400 body not UTF-8 / not JSON; 401 missing or wrong API key; 404 / 405 unknown path or method;
413 body over `max_body_bytes`; 422 a field of the wrong type, missing or unknown, an empty list, too many
sentences, a sentence over `max_chars` characters or with a lone surrogate. The body is read as JSON whatever
its Content-Type.
"""

import contextlib
import dataclasses
import hmac
import time
import typing

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tf_simcse import _cli
from tf_simcse.serving.batcher import MicroBatcher
from tf_simcse.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from tf_simcse.serving.metrics import ServerMetrics

ENDPOINTS = ("/v1/embeddings", "/v1/similarity", "/v1/search", "/healthz", "/metrics", "/docs", "/openapi.json")
# Reachable without the API key: liveness probes and the API description.
PUBLIC_PATHS = ("/healthz", "/docs", "/docs/oauth2-redirect", "/openapi.json")
THRESHOLD_SOURCES = ("model", "flag", "none")


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """Limits and options of the app (the `python -m tf_simcse.serve` flags of the same names)."""

    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_sentences: int = 256
    max_chars: int = 2000
    max_body_bytes: int = 1 << 20
    api_key: str | None = None
    access_log: bool = True


@dataclasses.dataclass(frozen=True)
class DecisionThreshold:
    """The cosine threshold of `similar`: from the export's decision_threshold.json (`source="model"`, with
    the metric and split it was selected by) or from `--threshold` (`source="flag"`)."""

    value: float
    source: str
    metric: str | None = None
    split: str | None = None


def resolve_threshold(model_record, flag):
    """`--threshold` if given (an operator's explicit choice overrides the stored one), else the export's
    `read_decision_threshold` record, else None (`similar` is then null)."""
    if flag is not None:
        return DecisionThreshold(float(flag), "flag")
    if model_record is not None:
        return DecisionThreshold(model_record["threshold"], "model", model_record["metric"], model_record["split"])
    return None


# ------------------------------------------------------------------------------------------- schemas
class _Request(BaseModel):
    # strict: no "1" -> 1 or 1 -> "1" coercion; forbid: a misspelt field is an error, not silently ignored.
    model_config = ConfigDict(strict=True, extra="forbid")


class EmbeddingsRequest(_Request):
    sentences: list[str] = Field(description="the sentences to embed (at least one)")
    normalize: bool = Field(True, description="L2-normalize each embedding (then a dot product is the cosine)")


class SimilarityRequest(_Request):
    sentence1: str | None = Field(None, description="first sentence of a single pair")
    sentence2: str | None = Field(None, description="second sentence of a single pair")
    pairs: list[typing.Annotated[list[str], Field(min_length=2, max_length=2)]] | None = Field(
        None, description="several pairs [[a, b], ...] instead of sentence1 / sentence2"
    )


class SearchRequest(_Request):
    query: str = Field(description="the sentence to search with")
    documents: list[str] = Field(description="the sentences to rank (at least one)")
    top_k: int = Field(10, ge=1, description="how many documents to return, best first")


class EmbeddingsResponse(BaseModel):
    embeddings: list[list[float]]
    dim: int


class _ThresholdFields(BaseModel):
    threshold: float | None = Field(description="the cosine threshold of `similar`, or null")
    threshold_source: typing.Literal[THRESHOLD_SOURCES] = Field(
        description="model: the export's decision_threshold.json; flag: --threshold; none: no threshold "
        "(`similar` is null)"
    )


class PairResponse(_ThresholdFields):
    score: float
    similar: bool | None


class PairsResponse(_ThresholdFields):
    scores: list[float]
    similar: list[bool] | None


class SearchResponse(BaseModel):
    indices: list[int]
    scores: list[float]


class ErrorResponse(BaseModel):
    error: str
    field: str | None = None


_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 413, 422)}


class ClientError(Exception):
    """A request the server refuses: answered `{"error": "<field>: <message>", "field": <field>}`."""

    def __init__(self, status, field, message):
        super().__init__(f"{field}: {message}" if field else message)
        self.status, self.field = status, field


def json_response(content, status=200):
    # orjson writes float32 arrays directly (shortest round-trip digits), ~40x faster than json.dumps on lists.
    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status, media_type="application/json")


def _error_response(status, message, field=None):
    return json_response({"error": message, "field": field}, status)


# ----------------------------------------------------------------------------------------------- app
def create_app(backend, settings=None, threshold=None, log=None):
    """The FastAPI app serving `backend` (an `EmbeddingBackend`).

    Args:
        backend: `tf_simcse.serving.backend.EmbeddingBackend`.
        settings: `ServerSettings` (default: the defaults of `python -m tf_simcse.serve`).
        threshold: a `DecisionThreshold` (see `resolve_threshold`), or None.
        log: `log(line)` for the access log (default: stderr).
    """
    settings = settings or ServerSettings()
    metrics = ServerMetrics()
    batcher = MicroBatcher(
        backend.embed,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        on_batch=metrics.observe_batch,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="tf_simcse sentence embeddings",
        description=__doc__.split("\n\n", 1)[1],
        version=_version(),
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.backend, app.state.batcher, app.state.metrics = backend, batcher, metrics
    app.add_middleware(_Gate, settings=settings, metrics=metrics, log=log or _cli.info)
    app.add_exception_handler(ClientError, _client_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    threshold_fields = {
        "threshold": None if threshold is None else threshold.value,
        "threshold_source": "none" if threshold is None else threshold.source,
    }

    def check_sentences(named, field, what="sentences"):
        """`named`: [(field name, text)]: at least one, at most max_sentences, each within max_chars."""
        if not named:
            raise ClientError(422, field, f"empty list: give at least one of the {what}")
        if len(named) > settings.max_sentences:
            limit = settings.max_sentences
            message = f"{len(named)} sentences to embed, over this server's --max_sentences {limit}"
            raise ClientError(422, field, message)
        for name, text in named:
            if len(text) > settings.max_chars:
                raise ClientError(
                    422, name, f"{len(text)} characters, over this server's --max_chars {settings.max_chars}"
                )
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ClientError(422, name, f"not valid Unicode (a lone surrogate at character {e.start})") from None

    async def embed(request, sentences):
        request.state.sentences = len(sentences)
        return await batcher.embed(sentences)

    @app.post("/v1/embeddings", response_model=EmbeddingsResponse, responses=_ERRORS, summary="Embed sentences")
    async def embeddings(body: EmbeddingsRequest, request: Request):
        check_sentences([(f"sentences[{i}]", s) for i, s in enumerate(body.sentences)], "sentences")
        if not body.normalize and backend.normalized:
            raise ClientError(
                422, "normalize", "false is not available: this server runs the export's sentence_encoder, whose "
                "embeddings are L2-normalized (start it with --raw_embeddings for the un-normalized ones)"
            )
        vectors = await embed(request, body.sentences)
        if body.normalize and not backend.normalized:
            vectors = unit_rows(vectors).astype(np.float32)
        return json_response({"embeddings": np.ascontiguousarray(vectors), "dim": backend.dim})

    @app.post(
        "/v1/similarity",
        response_model=PairResponse | PairsResponse,
        responses=_ERRORS,
        summary="Cosine similarity of one pair or of several pairs, and whether each is similar",
    )
    async def similarity(body: SimilarityRequest, request: Request):
        if body.pairs is not None:
            if body.sentence1 is not None or body.sentence2 is not None:
                raise ClientError(422, "pairs", "give either pairs or sentence1 and sentence2, not both")
            named = [(f"pairs[{i}][{j}]", s) for i, pair in enumerate(body.pairs) for j, s in enumerate(pair)]
            check_sentences(named, "pairs", "pairs")
        else:
            for field in ("sentence1", "sentence2"):
                if getattr(body, field) is None:
                    raise ClientError(422, field, "field required (give sentence1 and sentence2, or pairs)")
            named = [("sentence1", body.sentence1), ("sentence2", body.sentence2)]
            check_sentences(named, "sentence1")
        vectors = unit_rows(await embed(request, [text for _, text in named]))
        scores = np.sum(vectors[0::2] * vectors[1::2], axis=1)
        similar = None if threshold is None else scores >= threshold.value
        if body.pairs is None:
            content = {"score": float(scores[0]), "similar": None if similar is None else bool(similar[0])}
        else:
            content = {"scores": scores, "similar": similar}
        return json_response({**content, **threshold_fields})

    @app.post("/v1/search", response_model=SearchResponse, responses=_ERRORS, summary="Rank documents by a query")
    async def search(body: SearchRequest, request: Request):
        if not body.documents:
            raise ClientError(422, "documents", "empty list: give at least one document")
        named = [("query", body.query)] + [(f"documents[{i}]", s) for i, s in enumerate(body.documents)]
        check_sentences(named, "documents")
        vectors = unit_rows(await embed(request, [text for _, text in named]))
        scores = vectors[1:] @ vectors[0]
        order = np.argsort(-scores, kind="stable")[: body.top_k]
        return json_response({"indices": order, "scores": scores[order]})

    @app.get("/healthz", summary="The model is loaded: its name, dim, max_seq_length and decision threshold")
    async def healthz():
        return json_response(
            {
                "status": "ok",
                "model": backend.name,
                "dim": backend.dim,
                "max_seq_length": backend.max_seq_length,
                "normalized": backend.normalized,
                "max_batch_size": settings.max_batch_size,
                "threshold": None if threshold is None else dataclasses.asdict(threshold),
            }
        )

    @app.get("/metrics", summary="Prometheus metrics: requests, latency, batch sizes")
    async def prometheus_metrics():
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    return app


def unit_rows(vectors):
    """Rows L2-normalized in float64; a zero row stays zero (cosine 0, as `cosine_similarity_matrix` has it)."""
    x = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


# ------------------------------------------------------------------------------------- error replies
async def _client_error(request, exc):
    return _error_response(exc.status, str(exc), exc.field)


async def _http_error(request, exc):
    messages = {404: f"no such endpoint: {request.url.path}", 405: f"{request.method} is not allowed here"}
    return _error_response(exc.status_code, messages.get(exc.status_code, str(exc.detail)))


_JSON_TYPES = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}


async def _validation_error(request, exc):
    """Pydantic's errors as one line naming the first bad field (`sentences[2]: expected a string, got number`)."""
    errors = exc.errors()
    first = errors[0]
    if first.get("type") == "json_invalid":
        position = first["loc"][-1]
        reason = (first.get("ctx") or {}).get("error", "invalid")
        return _error_response(400, f"body: not valid JSON ({reason} at character {position})", "body")
    named = [f"{_field_name(e.get('loc', ()))}: {_describe(e)}" for e in errors[:3]]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return _error_response(422, "; ".join(named) + more, _field_name(first.get("loc", ())))


def _field_name(loc):
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def _describe(error):
    kind, value = error.get("type", ""), error.get("input")
    got = "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)
    if kind == "missing":
        return "field required" if len(error.get("loc", ())) > 1 else "expected a JSON object, got nothing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("too_short", "too_long"):
        ctx = error.get("ctx") or {}
        wanted = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return f"expected {wanted} items, got {ctx.get('actual_length')}"
    if kind.endswith("_type") or kind == "model_attributes_type":
        expected = {"string_type": "a string", "list_type": "an array", "bool_type": "true or false",
                    "int_type": "an integer", "model_attributes_type": "a JSON object"}
        return f"expected {expected.get(kind, kind[: -len('_type')])}, got {got}"
    return error.get("msg", kind)


# ----------------------------------------------------------------------------------------- middleware
class _Gate:
    """Outermost layer: the API key, the body's size and encoding, and per request the metrics and access log.

    A POST body is read here in full (at most `max_body_bytes`), checked to be UTF-8, and handed on as JSON:
    FastAPI then parses and validates it.
    """

    def __init__(self, app, *, settings, metrics, log):
        self.app, self.settings, self.metrics, self.log = app, settings, metrics, log
        self.api_key = settings.api_key.encode("utf-8") if settings.api_key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]
        state = scope.setdefault("state", {})

        async def send_and_record(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            refusal = self._check_key(scope)
            if refusal is None and scope["method"] == "POST":
                body, refusal = await self._read_body(scope, receive)
                if refusal is None:
                    receive = _replay(body, receive)
                    headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
                    scope["headers"] = headers + [(b"content-type", b"application/json")]
            if refusal is not None:
                await refusal(scope, receive, send_and_record)
            else:
                await self.app(scope, receive, send_and_record)
        finally:
            seconds = time.perf_counter() - start
            path = scope["path"]
            endpoint = path if path in ENDPOINTS else "other"
            self.metrics.observe_request(scope["method"], endpoint, status[0], seconds)
            if self.settings.access_log:
                client = scope.get("client")
                where = f"{client[0]}:{client[1]}" if client else "-"
                sentences = f" sentences={state['sentences']}" if "sentences" in state else ""
                self.log(
                    f'{time.strftime("%Y-%m-%d %H:%M:%S")} {where} "{scope["method"]} {path}" {status[0]} '
                    f"{seconds * 1000:.1f}ms{sentences}"
                )

    def _check_key(self, scope):
        if self.api_key is None or scope["path"] in PUBLIC_PATHS:
            return None
        given = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, token = given.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key):
            return None
        message = "missing or wrong API key: send the header 'Authorization: Bearer <key>'"
        return _error_response(401, message, "Authorization")

    async def _read_body(self, scope, receive):
        limit = self.settings.max_body_bytes
        too_large = _error_response(413, f"body: over this server's --max_body_bytes {limit}", "body")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return None, too_large
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, _error_response(400, "body: the client disconnected", "body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None, too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as e:
            return None, _error_response(400, f"body: not valid UTF-8 (byte {e.start}: {e.reason})", "body")
        if not body.strip():
            return None, _error_response(400, "body: empty (send a JSON object)", "body")
        return body, None


def _replay(body, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect as the server reports it

    return replay


def _version():
    import tf_simcse

    return tf_simcse.__version__
