"""The pages and endpoints: each parses its input, calls one builder, renders or answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from bizmodel.config import Settings
from bizmodel.errors import ConfigError
from bizmodel.webapp import experiments as exp_pages
from bizmodel.webapp import pages
from bizmodel.webapp.filters import PERIODS, Filters
from bizmodel.webapp.monitoring import monitoring_page
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


def _filters(request: Request) -> Filters:
    return Filters.parse(request.query_params)


def _store(request: Request) -> Any:
    """The app's event store, shared by every request (:class:`~bizmodel.webapp.app.AppStore`)."""
    return request.app.state.store.get()


SettingsDep = Annotated[Settings, Depends(_settings)]
PlanDep = Annotated[BusinessPlan | None, Depends(_plan)]
FiltersDep = Annotated[Filters, Depends(_filters)]
StoreDep = Annotated[Any, Depends(_store)]


def _segments(request: Request) -> list[tuple[str, str]]:
    from bizmodel.webapp.queries import segment_choices

    return segment_choices(_store(request))


def _render(request: Request, name: str, **context: Any) -> HTMLResponse:
    filters = context.setdefault("filters", None)
    context.setdefault("days", None)
    context.setdefault("periods", PERIODS)
    context["root"] = request.scope.get("root_path", "").rstrip("/")
    context["segments"] = _segments(request) if filters is not None else []
    context["filters_scope"] = filters.describe() if filters is not None else ""
    html = request.app.state.templates.get_template(name).render(**context)
    return HTMLResponse(html)


def _margin(request: Request) -> dict[str, Any] | None:
    """The plan's margin with every cost the spec declares, at the recommendation; None
    without a spec, or with one the Business page will report as broken."""
    from bizmodel.errors import BizmodelError
    from bizmodel.optimize import evaluate_plan
    from bizmodel.webapp.costs import plan_margin

    try:
        plan = _plan(request)
        if plan is None:
            return None
        return plan_margin(plan.spec, evaluate_plan(plan.spec, plan.recommendation.levers))
    except BizmodelError:
        return None


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request, settings: SettingsDep, filters: FiltersDep, store: StoreDep
) -> HTMLResponse:
    data = pages.overview_page(settings, filters, margin=_margin(request), store=store)
    return _render(
        request, "overview.html", title="Overview", active="overview", filters=filters, **data
    )


def _embed(request: Request) -> Any:
    """The app's embedding function; with ``embeddings=1`` and none given, the packaged
    sentence encoder (loaded once, on this first request that asks for it)."""
    state = request.app.state
    if state.embed is None and request.query_params.get("embeddings") == "1":
        from bizmodel.webapp.embeddings import sentence_embedder

        state.embed = sentence_embedder()
    return state.embed


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring(
    request: Request, settings: SettingsDep, filters: FiltersDep, store: StoreDep
) -> HTMLResponse:
    data = monitoring_page(settings, filters, embed=_embed(request), store=store)
    charts = [
        {"id": f"chart-drift-{f['name']}", "figure": f["figure"]}
        for f in data["features"]
        if f.get("figure")
    ]
    charts += [{"id": f"chart-kpi-{p['name']}", "figure": p["figure"]} for p in data["panels"]]
    context = {"title": "Monitoring", "active": "monitoring", "filters": filters}
    return _render(request, "monitoring.html", charts=charts, **context, **data)


@router.get("/api/monitoring")
def monitoring_json(
    request: Request, settings: SettingsDep, filters: FiltersDep, store: StoreDep
) -> Any:
    """The Monitoring page's data: per feature its drift (``monitor --json``'s) and bins."""
    data = monitoring_page(settings, filters, embed=_embed(request), store=store)
    for f in data["features"]:
        f.pop("figure", None)
    for p in data["panels"]:
        p.pop("figure", None)
    return data


@router.get("/experiments", response_class=HTMLResponse)
def experiments(
    request: Request, settings: SettingsDep, filters: FiltersDep, store: StoreDep
) -> HTMLResponse:
    rows = exp_pages.experiments_page(settings, filters, store)
    context = {"title": "Experiments", "active": "experiments", "filters": filters}
    return _render(request, "experiments.html", rows=rows, **context)


@router.get("/experiments/{name}", response_class=HTMLResponse)
def experiment(
    request: Request,
    name: str,
    settings: SettingsDep,
    filters: FiltersDep,
    store: StoreDep,
    path: bool = False,
) -> HTMLResponse:
    data = exp_pages.experiment_page(settings, name, filters, store)
    figures = exp_pages.lift_figures(data["results"])
    if path and data["results"]:  # one analysis per day: only on request
        figure = exp_pages.path_figure(exp_pages.sequential_path(settings, name, store=store))
        if figure is not None:
            figures.append({"id": "chart-path", "figure": figure})
    return _render(
        request,
        "experiment.html",
        title=f"Experiment {name}",
        active="experiments",
        filters=filters,
        figures=figures,
        show_path=path,
        **data,
    )


@router.get("/api/experiments/{name}")
def experiment_json(name: str, settings: SettingsDep, store: StoreDep) -> dict[str, Any]:
    """The page's data; ``results`` is what ``bizmodel ab-test --experiment NAME --json`` prints."""
    return exp_pages.experiment_page(settings, name, store=store)


@router.get("/api/experiments/{name}/path")
def experiment_path_json(
    name: str, settings: SettingsDep, store: StoreDep, metric: str | None = None
) -> dict[str, Any]:
    """The sequential test's lift and always-valid interval per arm at each day's end; 404
    for an experiment neither declared nor stored."""
    return exp_pages.sequential_path(settings, name, metric, store=store)


@router.get("/models", response_class=HTMLResponse)
def models(
    request: Request,
    settings: SettingsDep,
    filters: FiltersDep,
    store: StoreDep,
    promoted: str = "",
) -> HTMLResponse:
    rows = pages.models_page(settings, filters, store)
    context = {"title": "Models", "active": "models", "rows": rows, "promoted": promoted}
    return _render(request, "models.html", filters=filters, **context)


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
        settings,
        form.get("api_key"),
        form.get("name", ""),
        version,
        form.get("stage", ""),
        _store(request),
    )
    root = request.scope.get("root_path", "").rstrip("/")
    return RedirectResponse(f"{root}/models?promoted={mv.name}+v{mv.version}", status_code=303)


@router.get("/business", response_class=HTMLResponse)
def business(
    request: Request, plan: PlanDep, settings: SettingsDep, filters: FiltersDep, store: StoreDep
) -> HTMLResponse:
    context: dict[str, Any] = {"title": "Business", "active": "business", "plan": plan}
    context["figures"] = pages.analysis_figures(settings)
    context["spec_files"] = SPEC_FILES
    context["observed"] = pages.observed_period(settings, filters, store)
    if plan is not None:
        levers = plan.parse(request.query_params)
        context.update(fields=plan.levers(), chosen=levers, result=_whatif(plan, levers))
    return _render(request, "business.html", filters=filters, **context)


def _whatif(plan: BusinessPlan, levers: dict[str, float | str]) -> dict[str, Any]:
    from bizmodel.optimize import evaluate_plan
    from bizmodel.webapp.costs import plan_margin

    out = whatif(plan, levers)
    out["margin"] = plan_margin(plan.spec, evaluate_plan(plan.spec, levers))
    return out


@router.get("/business/whatif", response_class=HTMLResponse)
def business_whatif(request: Request, plan: PlanDep) -> HTMLResponse:
    """The what-if result block alone, for the page to swap in as levers move."""
    plan = _need(plan)
    levers = plan.parse(request.query_params)
    return _render(request, "_whatif.html", result=_whatif(plan, levers))


@router.post("/api/whatif", response_model=WhatIfResponse)
def whatif_json(body: WhatIfRequest, plan: PlanDep) -> dict[str, Any]:
    """Evaluate the spec at ``levers`` (``bizmodel evaluate-plan``) against the optimum."""
    plan = _need(plan)
    return whatif(plan, plan.parse(body.levers))


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return _render(request, "login.html", title="Sign in", active="")


@router.post("/login")
async def login(request: Request, settings: SettingsDep) -> Any:
    """Check the form's key for role ``read`` and keep it in a cookie for the next pages."""
    from urllib.parse import parse_qs

    from fastapi.responses import RedirectResponse

    from bizmodel.webapp.admin import KEY_COOKIE, check_read

    form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    key = form.get("api_key") or None
    reads_need_key = settings.model_copy(update={"server": _reads_need_key(settings)})
    await check_read(reads_need_key, key, _store(request))
    root = request.scope.get("root_path", "").rstrip("/")
    answer = RedirectResponse(f"{root}/", status_code=303)
    answer.set_cookie(KEY_COOKIE, key or "", httponly=True, samesite="strict", path=root or "/")
    return answer


def _reads_need_key(settings: Settings) -> Any:
    return settings.server.model_copy(update={"read_requires_key": True})


def _need(plan: BusinessPlan | None) -> BusinessPlan:
    if plan is None:
        raise ConfigError(
            f"no business spec: put one in the project folder as {' or '.join(SPEC_FILES)}, "
            "or give --spec"
        )
    return plan
