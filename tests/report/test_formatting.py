"""One formatting for the report, the dashboard and the web app: exact strings."""

import math

import pytest

from bizmodel.report.formatting import (
    format_cell,
    format_count,
    format_currency,
    format_number,
    format_percent,
    format_value,
    kpi_label,
    plotly_format,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.00004156, "$0.0000416"),  # the dashboard's "40µ"
        (0.0004, "$0.0004"),
        (0.5, "$0.50"),
        (0.123456, "$0.123"),
        (1.0, "$1.00"),
        (40.5, "$40.50"),
        (99.999, "$100.00"),
        (123.456, "$123"),
        (2157.3, "$2,157"),
        (12345.6, "$12,350"),
        (1234567.0, "$1,235,000"),
        (-3.2, "-$3.20"),
        (0, "$0"),
        (None, "—"),
        (math.nan, "—"),
        (math.inf, "—"),
    ],
)
def test_currency(value: float | None, text: str) -> None:
    assert format_currency(value) == text


def test_currency_never_uses_si_prefixes_or_exponents() -> None:
    for e in range(-7, 10):
        text = format_currency(4.156 * 10.0**e)
        assert not any(c in text for c in "µmkMGe"), text


@pytest.mark.parametrize(
    ("value", "kwargs", "text"),
    [
        (0.1234, {}, "12.3%"),
        (0.99999996, {}, "100.0%"),
        (0.2, {"decimals": 0}, "20%"),
        (0.05, {"signed": True}, "+5.0%"),
        (-0.05, {"signed": True}, "-5.0%"),
        (0.0, {"signed": True}, "0.0%"),
        (None, {}, "—"),
    ],
)
def test_percent(value: float | None, kwargs: dict, text: str) -> None:
    assert format_percent(value, **kwargs) == text


def test_counts_and_numbers() -> None:
    assert [format_count(v) for v in (2157, 2157.4, 0, 1e6)] == ["2,157", "2,157", "0", "1,000,000"]
    assert format_number(0.00004156) == "0.00004156"  # not 4.156e-05
    assert format_number(1234567.8) == "1,235,000"
    assert format_number(0.71234) == "0.7123"
    assert format_number(-12.0) == "-12"
    assert format_number(1e-9) == "1.000e-09"


def test_value_by_unit_and_cells() -> None:
    assert format_value(0.42, "share") == "42.0%"
    assert format_value(4.156e-05, "USD") == "$0.0000416"
    assert format_value(2157.0, "users") == "2,157"
    assert format_value(12.3456, "ms") == "12.35"
    assert [format_cell(v) for v in (2157, 4.156e-05, "v1", None, True, math.nan)] == [
        "2,157",
        "0.00004156",
        "v1",
        "",
        "True",
        "",
    ]


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("gross_margin", "Gross margin (%)"),
        ("revenue_usd", "Revenue (USD)"),
        ("arpu_usd", "ARPU (USD)"),
        ("cost_usd_per_1k", "Cost per 1k predictions (USD)"),
        ("latency_p95_ms", "Latency p95 (ms)"),
        ("active_users", "Active users"),
        ("conversion_rate", "Conversion rate (%)"),
        ("live_mae", "Live MAE (target units)"),
        ("profit_usd", "Profit (USD)"),
        ("users", "Users"),
    ],
)
def test_kpi_labels(name: str, label: str) -> None:
    assert kpi_label(name) == label


def test_plotly_formats_have_no_si_prefix() -> None:
    # d3's "s" type is the SI one ("40µ"); "r" and "f" are not
    assert [plotly_format(u) for u in ("USD", "share", "users", "")] == [
        "$,.3~r",
        ".1%",
        ",.0f",
        ",.4~r",
    ]
