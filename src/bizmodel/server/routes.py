"""HTTP routes: each parses its typed body, calls one store / pool method and answers."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import APIKeyHeader
from pydantic import AwareDatetime

from bizmodel.errors import ConflictError, DataError, ModelNotFoundError
from bizmodel.server.errors import log
from bizmodel.server.idempotency import IDEMPOTENCY_PARAMETER, idempotency_key, keyed_id
from bizmodel.server.schemas import (
    NAME,
    Assignment,
    ErrorBody,
    EventsRequest,
    EventsResponse,
    Experiment,
    ExperimentCreate,
    ExperimentUpdate,
    ExplainRequest,
    ExplainResponse,
    FeedbackRequest,
    FeedbackResponse,
    Health,
    PredictRequest,
    PredictResponse,
    Ready,
)
from bizmodel.store.assignment import assign_variant

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 422, 429, 503)
}


def _provided_key(request: Request, header_key: str | None) -> str | None:
    if header_key:
        return header_key
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def allow(role: str) -> Any:
    """Dependency: the caller's key has ``role``; ``read`` is open unless
    ``server.read_requires_key``. Counts the call against the key's rate limit and quota."""

    # async: a plain function would cost every request a hop through the thread pool.
    async def check(
        request: Request, key: Annotated[str | None, Depends(_api_key_header)] = None
    ) -> None:
        state = request.app.state
        if role == "read" and not state.settings.server.read_requires_key:
            return
        principal = await state.keyring.authenticate(_provided_key(request, key))
        server = state.settings.server
        await state.buckets.acquire(
            principal.id, principal.rate_per_minute or server.rate_per_minute
        )
        await state.quotas.acquire(principal.id, principal.calls_per_day or server.calls_per_day)
        state.keyring.authorize(principal, role)
        request.state.principal = principal

    check.__name__ = f"allow_{role}"
    return check


async def limit_explain(request: Request) -> None:
    """Count one explanation call against the caller's key (after the key is checked): a
    bucket of ``server.explain_per_minute`` per key, across replicas like the rate limit."""
    state = request.app.state
    await state.explain_limiter.acquire(
        f"explain:{request.state.principal.id}", state.settings.server.explain_per_minute
    )


def audit(request: Request, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """Record an admin action by the caller's key in the store's audit log."""
    request.app.state.keys.audit(request.state.principal.id, action, target, detail)


require_key = allow("predict")  # a template's prediction routes (/v1/advice, /v1/risk, ...)
Write = Predict = [Depends(require_key)]
Ingest = [Depends(allow("ingest"))]
Read = [Depends(allow("read"))]
Admin = [Depends(allow("admin"))]
ExperimentName = Annotated[str, Path(pattern=NAME)]
router = APIRouter(responses=_ERRORS)


def _caller(request: Request) -> str:
    """Whose idempotency keys these are: the caller's API key id ("" on an open server)."""
    principal = getattr(request.state, "principal", None)
    return str(getattr(principal, "id", "") or "")


@router.post(
    "/v1/predict",
    response_model=PredictResponse,
    dependencies=Predict,
    openapi_extra=IDEMPOTENCY_PARAMETER,
)
async def predict(body: PredictRequest, request: Request) -> dict[str, Any]:
    """Predict for one text (pair) or a list; concurrent requests are batched together.

    With an ``Idempotency-Key`` header the prediction ids are derived from it, so a second try
    answers the same ids and logs nothing new."""
    t0 = time.perf_counter()
    state = request.app.state
    items = body.items()
    limit = state.settings.server.max_texts_per_request
    if len(items) > limit:
        raise DataError(f"{len(items)} texts in one request; at most {limit} are accepted")
    pool = state.pool
    name = body.model or pool.default_name
    ctx: dict[str, Any] = {"t0": t0, "user_id": body.user_id, "ts": body.ts}
    retry_key = idempotency_key(request.headers)
    if retry_key is not None:  # ids from the key: a second try logs nothing new
        ctx["idempotency"] = (_caller(request), retry_key)
    version = None
    if body.user_id is not None and name is not None:
        exp = state.experiments.for_model(name)
        if exp is not None:
            variant = assign_variant(exp["salt"], body.user_id, exp["variants"])
            ctx["experiment"], ctx["variant"] = exp["name"], variant
            version = next(v["model_version"] for v in exp["variants"] if v["name"] == variant)
    served = await pool.get(name, version)
    served.check_items(items)
    answers = await served.batcher.submit(items, ctx)
    return {
        "predictions": [pool.format(served, a) for a in answers],
        "model_name": served.name,
        "model_version": served.version,
        "latency_ms": 1000.0 * (time.perf_counter() - t0),
        "experiment": ctx.get("experiment"),
        "variant": ctx.get("variant"),
    }


@router.post(
    "/v1/explain",
    response_model=ExplainResponse,
    dependencies=[*Predict, Depends(limit_explain)],
)
async def explain(body: ExplainRequest, request: Request) -> dict[str, Any]:
    """Token attributions of the served model's predictions (integrated gradients or SHAP).

    Expensive (one explanation = ``n_steps`` or ``n_samples`` model calls): at most 8 inputs
    and ``server.explain_budget`` model calls per request (422 beyond), one explanation at a
    time per server, ``server.explain_per_minute`` calls per API key (429 beyond).
    """
    from bizmodel.responsible.explain import explain_model, method_name

    t0 = time.perf_counter()
    state = request.app.state
    items = body.items()
    shap = method_name(body.method) == "shap"
    per, unit = (body.n_samples, "n_samples") if shap else (body.n_steps, "n_steps")
    budget = state.settings.server.explain_budget
    if len(items) * per > budget:
        raise DataError(
            f"{len(items)} input(s) x {unit} {per} = {len(items) * per} model evaluations; at "
            f"most {budget} per request (server.explain_budget): send fewer or lower {unit}"
        )
    pool = state.pool
    served = await pool.get(body.model or pool.default_name, body.version)
    served.check_items(items)
    model = await pool.explainer(served)

    def run() -> list[Any]:
        return [
            explain_model(
                model,
                text,
                pair,
                method=body.method,
                n_steps=body.n_steps,
                n_samples=body.n_samples,
                target=body.target,
                seed=body.seed,
                name=served.key,
            )
            for text, pair in items
        ]

    async with pool.explain_lock:  # one at a time: each one keeps the cores busy
        done = await asyncio.to_thread(run)
    return {
        "explanations": [
            {k: v for k, v in e.to_dict().items() if k in _EXPLANATION_FIELDS} for e in done
        ],
        "method": done[0].method,
        "n_steps": None if shap else body.n_steps,
        "n_samples": body.n_samples if shap else None,
        "model_name": served.name,
        "model_version": served.version,
        "latency_ms": 1000.0 * (time.perf_counter() - t0),
    }


_EXPLANATION_FIELDS = (
    "text", "text_pair", "tokens", "attributions", "prediction", "baseline_prediction",
    "target", "delta",
)  # fmt: skip


@router.post(
    "/v1/feedback",
    response_model=FeedbackResponse,
    status_code=201,
    dependencies=Ingest,
    openapi_extra=IDEMPOTENCY_PARAMETER,
)
def feedback(body: FeedbackRequest, request: Request) -> dict[str, Any]:
    """Store a user's rating or correction of a prediction (training data for retraining).

    With an ``Idempotency-Key`` header a second try is not stored again: it answers the stored
    feedback's id."""
    retry_key = idempotency_key(request.headers)
    fid = request.app.state.store.add_feedback(
        body.prediction_id,
        rating=body.rating,
        correction=body.correction,
        comment=body.comment,
        user_id=body.user_id,
        ts=body.ts,
        client_feedback_id=(
            None if retry_key is None else keyed_id(_caller(request), retry_key, body.prediction_id)
        ),
    )
    return {"id": fid, "prediction_id": body.prediction_id}


@router.post("/v1/events", response_model=EventsResponse, dependencies=Ingest)
def events(body: EventsRequest, request: Request) -> dict[str, Any]:
    """Store a batch of business events; an event whose client_event_id is stored is skipped.

    The answer comes after the commit: a 2xx means every event in the batch is stored.
    """
    result = request.app.state.store.add_events([e.model_dump() for e in body.events])
    if result.inserted:
        counter = request.app.state.metrics.events
        for e in body.events:
            counter.labels(e.type).inc()
    return result.to_dict()


@router.get("/v1/assign", response_model=Assignment, dependencies=Ingest)
def assign(
    request: Request,
    experiment: Annotated[str, Query(pattern=NAME)],
    user_id: Annotated[str, Query(min_length=1, max_length=128)],
    ts: Annotated[AwareDatetime | None, Query()] = None,
) -> dict[str, Any]:
    """Deterministic, sticky variant of ``user_id`` in ``experiment`` (exposure recorded).

    ``ts`` (ISO 8601 with a time zone; default: now) is when the user was exposed, for importing
    history; the exposure time kept is the earliest one given (the variant never changes).
    """
    store = request.app.state.store
    exp = store.get_experiment(experiment)
    if exp["status"] != "running":
        raise ConflictError(f"experiment {experiment!r} is {exp['status']}, not running")
    variant = assign_variant(exp["salt"], user_id, exp["variants"])
    store.record_assignment(experiment, user_id, variant, ts=ts)
    chosen = next(v for v in exp["variants"] if v["name"] == variant)
    return {
        "experiment": experiment,
        "user_id": user_id,
        "variant": variant,
        "model_version": chosen.get("model_version"),
    }


@router.post("/v1/experiments", response_model=Experiment, status_code=201, dependencies=Admin)
def create_experiment(body: ExperimentCreate, request: Request) -> dict[str, Any]:
    """Define an experiment; with ``model_name`` its variants route /v1/predict to versions."""
    state = request.app.state
    if body.model_name is not None:
        for v in body.variants:
            if v.model_version is None:
                raise DataError(f"variant {v.name!r}: a model experiment needs model_version")
            try:
                state.registry.resolve(body.model_name, v.model_version)
            except ModelNotFoundError as exc:  # its message names the registry's folder
                raise ModelNotFoundError(
                    f"variant {v.name!r}: {exc}",
                    public=f"variant {v.name!r}: no model named {body.model_name!r} "
                    f"with version {v.model_version}",
                ) from None
    exp = state.store.create_experiment(
        body.name,
        [v.model_dump(exclude_none=True) for v in body.variants],
        salt=body.salt,
        model_name=body.model_name,
        description=body.description,
    )
    state.experiments.invalidate()
    audit(request, "experiment.create", body.name, {"variants": len(body.variants)})
    return exp


@router.get("/v1/experiments", response_model=list[Experiment], dependencies=Read)
def list_experiments(request: Request) -> list[dict[str, Any]]:
    return list(request.app.state.store.list_experiments())


@router.get("/v1/experiments/{name}", response_model=Experiment, dependencies=Read)
def get_experiment(name: ExperimentName, request: Request) -> dict[str, Any]:
    return dict(request.app.state.store.get_experiment(name))


@router.patch("/v1/experiments/{name}", response_model=Experiment, dependencies=Admin)
def update_experiment(
    name: ExperimentName, body: ExperimentUpdate, request: Request
) -> dict[str, Any]:
    """Start or stop an experiment."""
    exp = request.app.state.store.set_experiment_status(name, body.status)
    request.app.state.experiments.invalidate()
    audit(request, "experiment.update", name, {"status": body.status})
    return dict(exp)


@router.delete("/v1/experiments/{name}", status_code=204, dependencies=Admin)
def delete_experiment(name: ExperimentName, request: Request) -> Response:
    request.app.state.store.delete_experiment(name)
    request.app.state.experiments.invalidate()
    audit(request, "experiment.delete", name)
    return Response(status_code=204)


@router.get("/health", response_model=Health)
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready}})
def ready(request: Request, response: Response) -> dict[str, Any]:
    """Readiness: the database answers and the served model is loaded."""
    state = request.app.state
    db = "ok"
    try:
        state.store.count("experiments")
    except Exception:  # any failure means not ready; the reason goes to the server log only
        log.warning("/ready: the event store does not answer", exc_info=True)
        db = "error: the event store does not answer"
    pool = state.pool
    loaded = [s for s in pool.models.values() if s.name == pool.default_name]
    model = loaded[0].key if loaded else None
    runtime = loaded[0].runtime.name if loaded else None
    choice = getattr(loaded[0].runtime, "choice", None) if loaded else None
    ok = db == "ok" and model is not None
    if not ok:
        response.status_code = 503
    status = "ready" if ok else (state.load_error or "no model loaded")
    return {
        "status": status,
        "database": db,
        "model": model,
        "runtime": runtime,
        "runtime_choice": choice,
    }


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
    dependencies=Read,
)
def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
