"""Report sections: plain data in, a titled Plotly figure (plus an optional table) out.

Every builder takes simple inputs (dicts, lists, DataFrames) in the shape of the other
capabilities' ``to_dict()`` outputs, so the HTML report and the live dashboard can be fed
from anything. :func:`sections_from_data` maps one dict of such inputs to sections
(the builders live in :mod:`.charts` and :mod:`.monitoring`, :class:`Section` in
:mod:`.section`; all are importable from here):

==================  ==========================================  =============================
key                 value                                       builder
==================  ==========================================  =============================
``alerts``          list of ``Alert.to_dict()``                 :func:`alerts_section`
``kpis``            ``KpiReport.to_dict()``                     :func:`kpi_trends_section`
``experiments``     list of lift dicts                          :func:`experiment_lifts_section`
``growth``          dict of keyword arguments                   :func:`growth_curve_section`
``pareto``          dict of keyword arguments                   :func:`pareto_section`
``model_versions``  list of version dicts                       :func:`model_versions_section`
``drift``           ``DriftReport.to_dict()``                   :func:`drift_section`
``custom``          list of ``Section.to_dict()``-shaped dicts  :func:`custom_sections`
==================  ==========================================  =============================

Examples
--------
>>> s = experiment_lifts_section([{"name": "price 14.99", "lift": -0.2, "ci_low": -0.3,
...                                "ci_high": -0.1}])
>>> s.key, len(s.figures[0]["data"])
('experiments', 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bizmodel.errors import DataError
from bizmodel.report.charts import (
    experiment_lifts_section,
    growth_curve_section,
    kpi_trends_section,
)
from bizmodel.report.monitoring import alerts_section, drift_section, model_versions_section
from bizmodel.report.pareto import pareto_section
from bizmodel.report.section import Section, _figure, _need

__all__ = [
    "SECTION_KEYS",
    "Section",
    "alerts_section",
    "custom_sections",
    "drift_section",
    "experiment_lifts_section",
    "growth_curve_section",
    "kpi_trends_section",
    "model_versions_section",
    "pareto_section",
    "sections_from_data",
]


def custom_sections(items: Sequence[Mapping[str, Any]]) -> list[Section]:
    """Sections a caller built itself (a template's own plots), from ``Section.to_dict()`` shapes.

    Each item needs ``key`` and ``title``; ``description``, ``figures`` (Plotly figure dicts,
    e.g. ``go.Figure.to_plotly_json()``), ``table`` (list of row dicts) and ``notes`` are
    optional.

    Examples
    --------
    >>> [s.title for s in custom_sections([{"key": "frontier", "title": "Efficient frontier",
    ...                                      "table": [{"volatility": 0.1, "return": 0.05}]}])]
    ['Efficient frontier']
    """
    out = []
    for i, item in enumerate(items):
        _need(item, ("key", "title"), f"custom[{i}]")
        figures = tuple(
            _figure(f) if not isinstance(f, Mapping) else dict(f) for f in item.get("figures", ())
        )
        out.append(
            Section(
                key=str(item["key"]),
                title=str(item["title"]),
                description=str(item.get("description", "")),
                figures=figures,
                table=tuple(dict(r) for r in item.get("table", ())),
                notes=tuple(str(n) for n in item.get("notes", ())),
            )
        )
    return out


_BUILDERS: dict[str, Any] = {
    "alerts": lambda v: alerts_section(v),
    "custom": lambda v: custom_sections(v),
    "kpis": lambda v: kpi_trends_section(v),
    "experiments": lambda v: experiment_lifts_section(v),
    "growth": lambda v: growth_curve_section(**v),
    "pareto": lambda v: pareto_section(**v),
    "model_versions": lambda v: model_versions_section(v),
    "drift": lambda v: drift_section(v),
}

#: The keys :func:`sections_from_data` understands, in report order.
SECTION_KEYS = tuple(_BUILDERS)


def sections_from_data(data: Mapping[str, Any]) -> list[Section]:
    """Build the sections for whichever of :data:`SECTION_KEYS` ``data`` holds, in that order.

    Examples
    --------
    >>> [s.key for s in sections_from_data({"model_versions": [
    ...     {"version": "v1", "quality": 0.7, "cost_usd_per_1k": 0.5}]})]
    ['model_versions']
    """
    unknown = [k for k in data if k not in _BUILDERS]
    if unknown:
        raise DataError(
            f"report data: unknown section key(s) {unknown}; valid: {list(SECTION_KEYS)}"
        )
    out = []
    for key, build in _BUILDERS.items():
        if key in data and data[key] is not None:
            try:
                built = build(data[key])
                out.extend(built if isinstance(built, list) else [built])
            except TypeError as exc:
                raise DataError(f"report data, section {key!r}: {exc}") from None
    return out
