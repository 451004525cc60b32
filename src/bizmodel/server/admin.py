"""Admin routes: API keys, model promotion and the audit log (role ``admin``).

Each change is written to the store's audit log with the caller's key id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from bizmodel.errors import ModelNotFoundError
from bizmodel.server.routes import _ERRORS, NAME, Admin, audit
from bizmodel.server.schemas import (
    AuditEntry,
    KeyCreate,
    KeyInfo,
    ModelStages,
    NewKeyInfo,
    PromoteRequest,
)

router = APIRouter(responses=_ERRORS, dependencies=Admin, tags=["admin"])
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]


@router.post("/v1/keys", response_model=NewKeyInfo, status_code=201)
def create_key(body: KeyCreate, request: Request) -> dict[str, Any]:
    """A new API key with ``roles``: the answer holds the key, shown this once."""
    new = request.app.state.keys.create(
        body.roles,
        name=body.name,
        rate_per_minute=body.rate_per_minute,
        calls_per_day=body.calls_per_day,
        actor=request.state.principal.id,
    )
    return new.to_dict()


@router.get("/v1/keys", response_model=list[KeyInfo])
def list_keys(request: Request) -> list[dict[str, Any]]:
    """Every stored key (revoked ones too), without secrets."""
    return [k.to_dict() for k in request.app.state.keys.list_keys()]


@router.delete("/v1/keys/{key_id}", response_model=KeyInfo)
def revoke_key(key_id: KeyId, request: Request) -> dict[str, Any]:
    """Revoke a key: refused from the next request on (on this worker at once)."""
    info = request.app.state.keys.revoke(key_id, actor=request.state.principal.id)
    request.app.state.keyring.invalidate(key_id)
    return dict(info.to_dict())


@router.post("/v1/models/{name}/promote", response_model=ModelStages)
def promote(
    name: Annotated[str, Path(pattern=NAME)], body: PromoteRequest, request: Request
) -> dict[str, Any]:
    """Point ``stage`` of model ``name`` at ``version`` (served from the next request)."""
    state = request.app.state
    try:
        mv = state.registry.promote(name, body.version, body.stage)
    except ModelNotFoundError as exc:  # its message names the registry's folder
        raise ModelNotFoundError(
            str(exc), public=f"no model {name!r} with version {body.version}"
        ) from None
    state.pool.forget_resolved(name)
    audit(request, "model.promote", name, {"version": body.version, "stage": body.stage})
    return {"name": mv.name, "version": mv.version, "stages": list(mv.stages)}


@router.get("/v1/audit", response_model=list[AuditEntry])
def audit_log(
    request: Request, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> list[dict[str, Any]]:
    """Admin actions recorded in the store, newest first."""
    return list(request.app.state.keys.audit_log(limit))
