"""Helpers for optimizer tests: write specs and growth-fit files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SAAS = """
[levers.price_usd]
min = 5.0
max = 80.0
[levers.ad_spend_usd]
min = 0.0
max = 20000.0
[levers.model]
CHOICES

[growth]
intercept = 7.5
coefficients = { price_usd = -0.04, ad_spend_usd = 0.00004, quality = 2.0 }

[quantities]
users = "growth"
requests = "users * 30"
revenue_usd = "users * price_usd"
cost_usd = "ad_spend_usd + requests * inference_cost_usd"
profit_usd = "revenue_usd - cost_usd"
margin = "profit_usd / revenue_usd"

[objective]
maximize = { profit_usd = 1.0, users = 0.3 }

[[constraints]]
expr = "margin >= 0.4"
[[constraints]]
expr = "ad_spend_usd <= 15000"
""".replace(
    "CHOICES",
    "choices = { small = { inference_cost_usd = 0.0004, quality = 0.78 }, "
    "large = { inference_cost_usd = 0.0030, quality = 0.86 } }",
)


def growth_fit_json(
    params: dict[str, float],
    cov: list[list[float]] | None = None,
    categorical: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A GrowthFit.to_json document (format bizmodel-growth-fit v1), as the stats helper writes."""
    names = list(params)
    p = len(names)
    return {
        "format": "bizmodel-growth-fit",
        "format_version": 1,
        "family": "poisson",
        "link": "log",
        "param_names": names,
        "params": [params[n] for n in names],
        "cov": cov if cov is not None else [[0.0] * p for _ in range(p)],
        "dispersion": 1.0,
        "features": names[1:],
        "categorical": categorical or {},
        "exposure": False,
        "n_obs": 1000,
        "deviance": 990.0,
        "aic": 4000.0,
    }


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "spec.toml", fit: dict[str, Any] | None = None) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        if fit is not None:
            (tmp_path / "growth_fit.json").write_text(json.dumps(fit), encoding="utf-8")
        return path

    return write
