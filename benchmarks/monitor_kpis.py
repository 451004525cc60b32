"""How long monitoring takes at scale: KPIs over ~1M events, drift, the HTML report.

Reference for the KPIs: a plain pandas loop that filters each day and computes the same
aggregates (the obvious way to write it); both run in this process on the same frames and the
values are checked equal. Drift and the report have no outside reference here: their times
are absolute.

Run:  PYTHONPATH=src nice -n 10 python benchmarks/monitor_kpis.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bizmodel.monitor.drift import embedding_drift, text_drift
from bizmodel.monitor.kpi import compute_kpis, normalise_ratings
from bizmodel.report import build_report
from bizmodel.report.demo import demo_report_data
from bizmodel.simulate.market import GrowthTruth, MarketConfig, simulate_market


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def naive_daily_kpis(ev: pd.DataFrame, pr: pd.DataFrame, fb: pd.DataFrame) -> pd.DataFrame:
    """The same KPIs, day by day with boolean masks."""
    rows = []
    days = pd.date_range(ev["ts"].min().floor("D"), ev["ts"].max().floor("D"), freq="D")
    prev_active = None
    for day in days:
        nxt = day + pd.Timedelta("1D")
        e = ev[(ev["ts"] >= day) & (ev["ts"] < nxt)]
        p = pr[(pr["ts"] >= day) & (pr["ts"] < nxt)]
        f = fb[(fb["ts"] >= day) & (fb["ts"] < nxt)]
        active = len(set(e.loc[e["type"] != "churn", "user_id"]) | set(p["user_id"].dropna()))
        buys = e[e["type"] == "purchase"]
        revenue = buys["value"].sum()
        cost = p["cost_usd"].sum()
        rows.append(
            {
                "active_users": active,
                "revenue_usd": revenue,
                "conversion_rate": buys["user_id"].nunique() / active,
                "churn_rate": np.nan
                if prev_active is None
                else e.loc[e["type"] == "churn", "user_id"].nunique() / prev_active,
                "latency_p95_ms": p["latency_ms"].quantile(0.95),
                "cost_usd_per_1k": 1000 * cost / len(p),
                "gross_margin": (revenue - cost) / revenue,
                "satisfaction": normalise_ratings(f["rating"], "five").mean(),
            }
        )
        prev_active = active
    return pd.DataFrame(rows, index=days)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--intercept", type=float, default=5.5, help="growth intercept (scale)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    market = simulate_market(
        MarketConfig(truth=GrowthTruth(intercept=args.intercept), seed=1, long_text_from_day=21)
    )
    sim_s = time.perf_counter() - t0
    ev, pr, fb = market.events, market.predictions, market.feedback
    print(
        f"simulated {len(ev):,} events, {len(pr):,} predictions, {len(fb):,} feedback "
        f"in {sim_s:.2f} s"
    )

    names = [
        "active_users",
        "revenue_usd",
        "conversion_rate",
        "churn_rate",
        "latency_p95_ms",
        "cost_usd_per_1k",
        "gross_margin",
        "satisfaction",
    ]
    compute_kpis(ev, pr, fb, kpis=names)  # warm-up: first calls pay for imports and caches
    ours_s, report = timed(lambda: compute_kpis(ev, pr, fb, kpis=names), args.repeats)
    all_s, _ = timed(lambda: compute_kpis(ev, pr, fb), args.repeats)
    ref_s, ref = timed(lambda: naive_daily_kpis(ev, pr, fb), args.repeats)
    for n in names:
        np.testing.assert_allclose(report.series(n).to_numpy(), ref[n].to_numpy(), rtol=1e-9)
    print(
        f"KPIs (8, daily, {len(ref)} days): bizmodel {ours_s:.3f} s, naive pandas loop "
        f"{ref_s:.3f} s, ratio {ref_s / ours_s:.1f}x; all 16 KPIs {all_s:.3f} s"
    )

    day = (pr["ts"] - pr["ts"].min().floor("D")).dt.days
    ref_txt, cur_txt = pr.loc[day < 7, "text"].tolist(), pr.loc[day >= 21, "text"].tolist()
    drift_s, drift = timed(lambda: text_drift(ref_txt, cur_txt), args.repeats)
    print(
        f"text drift ({len(ref_txt):,} vs {len(cur_txt):,} texts): {drift_s:.3f} s, "
        f"severity {drift.severity}"
    )
    rng = np.random.default_rng(0)
    e_ref, e_cur = rng.normal(size=(100_000, 384)), rng.normal(size=(100_000, 384))
    emb_s, emb = timed(lambda: embedding_drift(e_ref, e_cur), args.repeats)
    print(
        f"embedding drift (2 x 100,000 x 384, 16 projections): {emb_s:.3f} s, "
        f"severity {emb.severity}"
    )

    data_s, data = timed(lambda: demo_report_data(), 1)
    html_s, html = timed(lambda: build_report(data), args.repeats)
    print(f"demo report: inputs {data_s:.2f} s, HTML {html_s:.3f} s, {len(html) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
