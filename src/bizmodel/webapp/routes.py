"""The pages and endpoints: each parses its input, calls one builder, renders or answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from bizmodel.config import Settings
from bizmodel.errors import ConfigError
from bizmodel.webapp import experiments as exp_pages
from bizmodel.webapp import pages
from bizmodel.webapp.schemas import WhatIfRequest, WhatIfResponse
from bizmodel.webapp.whatif import SPEC_FILES, BusinessPlan, whatif

router = APIRouter()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _plan(request: Request) -> BusinessPlan | None:
    state = request.app.state
    if state.plan is None and state.spec_path is not None:
        state.plan = BusinessPlan.load(state.spec_path)
    plan: BusinessPlan | None = state.plan
    return plan


SettingsDep = Annotated[Settings, Depends(_settings)]
PlanDep = Annotated[BusinessPlan | None, Depends(_plan)]
Days = Annotated[int, Query(description="Time range: the last 7, 30 or 90 days.")]


def _render(request: Request, name: str, **context: Any) -> HTMLResponse:
    context.setdefault("days", None)
    html = request.app.state.templates.get_template(name).render(**context)
    return HTMLResponse(html)


def _days(days: int) -> int:
    if days not in pages.PERIODS:
        raise ConfigError(f"days: got {days}; valid: {', '.join(map(str, pages.PERIODS))}")
    return days


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, settings: SettingsDep, days: Days = 30) -> HTMLResponse:
    data = pages.overview_page(settings, _days(days))
    return _render(
        request, "overview.html", title="Overview", active="overview", periods=pages.PERIODS, **data
    )


@router.get("/experiments", response_class=HTMLResponse)
def experiments(request: Request, settings: SettingsDep) -> HTMLResponse:
    rows = exp_pages.experiments_page(settings)
    return _render(
        request, "experiments.html", title="Experiments", active="experiments", rows=rows
    )


@router.get("/experiments/{name}", response_class=HTMLResponse)
def experiment(request: Request, name: str, settings: SettingsDep) -> HTMLResponse:
    data = exp_pages.experiment_page(settings, name)
    return _render(
        request,
        "experiment.html",
        title=f"Experiment {name}",
        active="experiments",
        figures=exp_pages.lift_figures(data["results"]),
        **data,
    )


@router.get("/api/experiments/{name}")
def experiment_json(name: str, settings: SettingsDep) -> dict[str, Any]:
    """The page's data; ``results`` is what ``bizmodel ab-test --experiment NAME --json`` prints."""
    return exp_pages.experiment_page(settings, name)


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, settings: SettingsDep, promoted: str = "") -> HTMLResponse:
    rows = pages.models_page(settings)
    context = {"title": "Models", "active": "models", "rows": rows, "promoted": promoted}
    return _render(request, "models.html", **context)


@router.post("/models/promote", response_class=HTMLResponse)
async def promote(request: Request, settings: SettingsDep) -> Any:
    """Promote a version from the Models page's form (fields name, version, stage, api_key)."""
    from urllib.parse import parse_qs

    from fastapi.responses import RedirectResponse

    from bizmodel.webapp.admin import promote_version

    form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    try:
        version = int(form.get("version", ""))
    except ValueError:
        raise ConfigError(f"version: got {form.get('version')!r}; valid: a whole number") from None
    mv = await promote_version(
        settings, form.get("api_key"), form.get("name", ""), version, form.get("stage", "")
    )
    return RedirectResponse(f"/models?promoted={mv.name}+v{mv.version}", status_code=303)


@router.get("/business", response_class=HTMLResponse)
def business(request: Request, plan: PlanDep, settings: SettingsDep) -> HTMLResponse:
    context: dict[str, Any] = {"title": "Business", "active": "business", "plan": plan}
    context["figures"] = pages.analysis_figures(settings)
    context["spec_files"] = SPEC_FILES
    if plan is not None:
        levers = plan.parse(request.query_params)
        context.update(fields=plan.levers(), chosen=levers, result=whatif(plan, levers))
    return _render(request, "business.html", **context)


@router.get("/business/whatif", response_class=HTMLResponse)
def business_whatif(request: Request, plan: PlanDep) -> HTMLResponse:
    """The what-if result block alone, for the page to swap in as levers move."""
    plan = _need(plan)
    levers = plan.parse(request.query_params)
    return _render(request, "_whatif.html", result=whatif(plan, levers))


@router.post("/api/whatif", response_model=WhatIfResponse)
def whatif_json(body: WhatIfRequest, plan: PlanDep) -> dict[str, Any]:
    """Evaluate the spec at ``levers`` (``bizmodel evaluate-plan``) against the optimum."""
    plan = _need(plan)
    return whatif(plan, plan.parse(body.levers))


def _need(plan: BusinessPlan | None) -> BusinessPlan:
    if plan is None:
        raise ConfigError(
            f"no business spec: put one in the project folder as {' or '.join(SPEC_FILES)}, "
            "or give --spec"
        )
    return plan
