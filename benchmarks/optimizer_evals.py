"""Evaluations to reach the optimum: bizmodel's optimizer vs scipy's derivative-free methods.

Each spec's objective (single term or explicitly scaled, so every method maximises the same
function) is optimised by

* bizmodel at its defaults ("auto": closed-form stationary points first where a bounds-only
  subproblem admits them — :mod:`bizmodel.optimize.closed_form` — then trust-region Newton
  with exact Hessians on bounds-only specs, SLSQP otherwise), the same without the closed
  form ("numeric"), and with the other local solvers, numeric only: "slsqp" (exact gradients),
  "trust-constr" (scipy's, exact Hessians of objective and constraints); multi-start with
  the default settings;
* scipy Nelder–Mead (bounds; constraints by an exact L1 penalty), from the same start points;
* scipy differential evolution (bounds; constraints as NonlinearConstraint), several seeds.

An *evaluation* is one call of the model at a new point (bizmodel's call also returns the
exact gradient, and for the second-order methods the exact Hessian, in the same walk; its cost
in arithmetic is about 1 + n plain calls with a gradient and 1 + n + n(n+1)/2 with a Hessian,
shown as "f-equiv" for the default method).
Two accuracy criteria, both on feasible points (every constraint within 1e-9 relative):
"f" — the first evaluation whose objective is within 1e-6 relative of the optimum; "x" — the
first whose levers are all within 1e-6 of their range from the optimum. The optimum of every
spec is known in closed form (first-order conditions, see REFERENCE). Medians over runs; a
run that never gets there counts its full length (a lower bound) and is flagged "(kx>)".

Run:  PYTHONPATH=src nice -n 10 python benchmarks/optimizer_evals.py [--runs 5]
      PYTHONPATH=src nice -n 10 python benchmarks/optimizer_evals.py --scan-delta0
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
import tomllib
from typing import Any

import numpy as np
from scipy.optimize import NonlinearConstraint, differential_evolution, minimize

from bizmodel.optimize.model import BusinessModel
from bizmodel.optimize.problem import Counter
from bizmodel.optimize.search import Search, SearchOptions, constraint_rows
from bizmodel.optimize.solver import objective_scales, signed_weights
from bizmodel.optimize.spec import Spec

REL = 1e-6
FEAS = 1e-9
Trace = list[tuple[float, bool, np.ndarray]]

SPECS: dict[str, dict[str, Any]] = {
    "revenue-1d": {
        "levers": {"price_usd": {"min": 1.0, "max": 200.0}},
        "growth": {"intercept": 8.0, "coefficients": {"price_usd": -0.05}},
        "quantities": {"users": "growth", "revenue_usd": "users * price_usd"},
        "objective": {"maximize": {"revenue_usd": 1.0}},
    },
    "profit-2d": {
        "levers": {
            "price_usd": {"min": 5.0, "max": 100.0},
            "ad_spend_usd": {"min": 0.0, "max": 50000.0},
        },
        "growth": {"intercept": 7.0, "coefficients": {"price_usd": -0.05, "reach": 0.6}},
        "quantities": {
            "reach": "log(1 + ad_spend_usd / 2000)",
            "users": "growth",
            "profit_usd": "users * (price_usd - 2) - ad_spend_usd",
        },
        "objective": {"maximize": {"profit_usd": 1.0}},
    },
    "saas-2d-constrained": {
        "levers": {
            "price_usd": {"min": 5.0, "max": 80.0},
            "ad_spend_usd": {"min": 0.0, "max": 20000.0},
        },
        "constants": {"inference_cost_usd": 0.003, "quality": 0.86},
        "growth": {
            "intercept": 7.5,
            "coefficients": {"price_usd": -0.04, "ad_spend_usd": 0.00004, "quality": 2.0},
        },
        "quantities": {
            "users": "growth",
            "requests": "users * 30",
            "revenue_usd": "users * price_usd",
            "cost_usd": "ad_spend_usd + requests * inference_cost_usd",
            "profit_usd": "revenue_usd - cost_usd",
            "margin": "profit_usd / revenue_usd",
        },
        "objective": {
            "maximize": {"profit_usd": 1.0, "users": 0.3},
            "scales": {"profit_usd": 153598.567, "users": 15063.05},
        },
        "constraints": ["margin >= 0.4", "ad_spend_usd <= 15000"],
    },
    "budget-4d-constrained": {
        "levers": {
            "price_usd": {"min": 5.0, "max": 100.0},
            "search_usd": {"min": 0.0, "max": 30000.0},
            "social_usd": {"min": 0.0, "max": 30000.0},
            "tv_usd": {"min": 0.0, "max": 30000.0},
        },
        "growth": {
            "intercept": 8.0,
            "coefficients": {"price_usd": -0.05, "r_search": 0.3, "r_social": 0.5, "r_tv": 0.2},
        },
        "quantities": {
            "r_search": "log(1 + search_usd / 1000)",
            "r_social": "log(1 + social_usd / 3000)",
            "r_tv": "log(1 + tv_usd / 500)",
            "spend_usd": "search_usd + social_usd + tv_usd",
            "users": "growth",
            "profit_usd": "users * (price_usd - 2) - spend_usd",
        },
        "objective": {"maximize": {"profit_usd": 1.0}},
        "constraints": [{"expr": "spend_usd <= 20000", "name": "budget"}],
    },
}


# Closed-form optima from the first-order conditions.
#   revenue-1d: p* = -1/a.   profit-2d: p* = c - 1/a, and users·(p-c)·0.6/(2000+s) = 1 gives
#   s* = 2000((e^{7-0.05·22}·0.6·20/2000)^{1/0.4} - 1).   saas: ad spend at its cap 15000, and
#   p* = c - 1/a - 0.3·S1/S2 (the users term pulls the price down).   budget-4d: p* = 22 and,
#   with the budget binding, s_i + k_i ∝ β_i: s_i = β_i(20000 + Σk)/Σβ - k_i.
REFERENCE: dict[str, np.ndarray] = {
    "revenue-1d": np.array([20.0]),
    "profit-2d": np.array([22.0, 2000 * ((np.exp(7 - 0.05 * 22) * 0.6 * 20 / 2000) ** 2.5 - 1)]),
    "saas-2d-constrained": np.array([0.09 + 25.0 - 0.3 * 153598.567 / 15063.05, 15000.0]),
    "budget-4d-constrained": np.array(
        [22.0, 0.3 * 24500 - 1000, 0.5 * 24500 - 3000, 0.2 * 24500 - 500]
    ),
}


class Traced:
    """Value-only objective and constraints of a spec, recording every new point."""

    def __init__(self, spec: Spec) -> None:
        self.model = BusinessModel(spec)
        self.layout = self.model.layout({})
        self.rows = constraint_rows(spec)
        counter = Counter()
        scales = objective_scales(spec, self.model, SearchOptions(), counter)
        self.coefs = {n: w / scales[n] for n, w in signed_weights(spec).items()}
        self.trace: Trace = []
        self._last: tuple[bytes, tuple[float, np.ndarray, np.ndarray]] | None = None

    def eval(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        key = np.asarray(x, float).tobytes()
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        x = np.clip(x, self.layout.lower, self.layout.upper)
        with np.errstate(all="ignore"):
            env = self.model.evaluate(self.layout, x, grad=False)
            F = float(sum(c * float(env[n]) for n, c in self.coefs.items()))
            a = np.array([float(r.a(env)) for r in self.rows])
            b = np.array([float(r.b(env)) for r in self.rows])
        viol = (a - b) / np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
        feas = bool(np.all(viol <= FEAS)) and np.isfinite(F)
        self.trace.append((F, feas, x.copy()))
        out = (F, a - b, viol)
        self._last = (key, out)
        return out


def reached_f(trace: Trace, best: float, x_best: np.ndarray, span: np.ndarray) -> int | None:
    for i, (F, feas, _) in enumerate(trace, start=1):
        if feas and best - REL * abs(best) <= F:
            return i
    return None


def reached_x(trace: Trace, best: float, x_best: np.ndarray, span: np.ndarray) -> int | None:
    for i, (_, feas, x) in enumerate(trace, start=1):
        if feas and np.all(np.abs(x - x_best) <= REL * span):
            return i
    return None


def median_reach(
    fn: Any, traces: list[Trace], best: float, x_best: np.ndarray, span: np.ndarray
) -> tuple[float, int]:
    """Median evaluations to reach; a run that never does counts its length (lower bound)."""
    hits = [fn(t, best, x_best, span) for t in traces]
    vals = [h if h is not None else len(t) for t, h in zip(traces, hits, strict=True)]
    return float(statistics.median(vals)), sum(h is None for h in hits)


def cell(v: float, fails: int) -> str:
    return f"{v:.0f}" + (f"({fails}x>)" if fails else "")


def strict(trace: Trace, rows: int, spec: Spec) -> Trace:
    """Re-check feasibility at FEAS (bizmodel's own trace uses its 1e-6 tolerance)."""
    tr = Traced(spec)
    out = []
    for F, _, x in trace:
        _, _, viol = tr.eval(x)
        out.append((F, bool(np.all(viol <= FEAS)) and np.isfinite(F), x))
    return out


#: bizmodel variants: the default ("auto": closed-form stationary points first where the
#: subproblem admits them, then trust-region Newton / SLSQP), the same without the closed form
#: ("numeric", the default before), and the other local solvers, numeric only
VARIANTS: dict[str, dict[str, Any]] = {
    "auto": {},
    "numeric": {"closed_form": False},
    "slsqp": {"method": "slsqp", "closed_form": False},
    "trust-constr": {"method": "trust-constr", "closed_form": False},
}
METHODS = tuple(VARIANTS)


def uses_hessian(spec: Spec, method: str) -> bool:
    """Whether ``method`` evaluates Hessians on this spec (see Problem._choose)."""
    bounds_only = not spec.constraints and not spec.discrete
    return method == "trust-constr" or (method in ("auto", "numeric", "newton") and bounds_only)


def f_equiv(spec: Spec, method: str) -> int:
    """Plain-call equivalents of one evaluation: 1 + n (+ n(n+1)/2 with a Hessian)."""
    n = len(spec.continuous)
    return 1 + n + (n * (n + 1) // 2 if uses_hessian(spec, method) else 0)


def run_bizmodel(spec: Spec, seed: int, variant: str = "auto") -> tuple[Trace, float, int]:
    model = BusinessModel(spec)
    counter = Counter()
    scales = objective_scales(spec, model, SearchOptions(), counter)
    coefs = {n: w / scales[n] for n, w in signed_weights(spec).items()}
    counter = Counter(record=True)
    t = time.perf_counter()
    options = SearchOptions(seed=seed, **VARIANTS[variant])
    found = Search(model, coefs, constraint_rows(spec), options, counter).run()
    assert found.feasible
    elapsed = time.perf_counter() - t
    return strict(counter.trace, 0, spec), elapsed, counter.n


def run_nelder_mead(spec: Spec, x0: np.ndarray) -> tuple[Trace, float]:
    tr = Traced(spec)
    rho = 1e3 * max(1.0, abs(tr.eval(x0)[0]))
    tr.trace.clear()

    def f(x: np.ndarray) -> float:
        F, _, viol = tr.eval(x)
        return -F + rho * float(np.sum(np.maximum(viol, 0.0)))

    bounds = list(zip(tr.layout.lower, tr.layout.upper, strict=True))
    t = time.perf_counter()
    minimize(
        f,
        x0,
        method="Nelder-Mead",
        bounds=bounds,
        options={"xatol": 1e-12, "fatol": 1e-14, "maxfev": 20000, "adaptive": True},
    )
    return tr.trace, time.perf_counter() - t


def run_de(spec: Spec, seed: int) -> tuple[Trace, float]:
    tr = Traced(spec)
    bounds = list(zip(tr.layout.lower, tr.layout.upper, strict=True))
    cons = ()
    if tr.rows:
        cons = (NonlinearConstraint(lambda x: tr.eval(x)[2], -np.inf, 0.0),)
    t = time.perf_counter()
    differential_evolution(
        lambda x: -tr.eval(x)[0],
        bounds,
        constraints=cons,
        seed=seed,
        tol=1e-12,
        atol=0.0,
        maxiter=3000,
        polish=True,
    )
    return tr.trace, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scan-delta0", action="store_true", help="only the first-radius scan")
    args = ap.parse_args()
    if args.scan_delta0:
        delta0_scan()
        return
    print(
        f"# optimizer_evals  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  "
        f"runs={args.runs}  python {sys.version.split()[0]}"
    )
    print(
        f"{'spec':<24}{'n':>3} {'crit':>5} {'auto':>6} {'f-equiv':>8} {'numeric':>8} "
        f"{'slsqp':>7} {'tr-constr':>10} {'NM':>11} {'DE':>11} {'NM/auto':>8} {'DE/auto':>8} "
        f"{'NM/f-eq':>8} {'NM/num':>7}"
    )
    for name, raw in SPECS.items():
        spec = Spec.from_dict(raw, source=name)
        n = len(spec.continuous)
        rng = np.random.default_rng(0)
        lo = np.array([lv.min for lv in spec.continuous])
        hi = np.array([lv.max for lv in spec.continuous])
        starts = [(lo + hi) / 2] + [
            lo + rng.uniform(size=n) * (hi - lo) for _ in range(args.runs - 1)
        ]
        biz = {m: [run_bizmodel(spec, seed, m) for seed in range(args.runs)] for m in METHODS}
        nm = [run_nelder_mead(spec, x0) for x0 in starts]
        de = [run_de(spec, seed) for seed in range(args.runs)]
        x_best = REFERENCE[name]
        best = Traced(spec).eval(x_best)[0]
        cost = f_equiv(spec, "auto")
        for crit, fn in (("f", reached_f), ("x", reached_x)):
            ref = (best, x_best, hi - lo)
            med = {m: median_reach(fn, [b[0] for b in biz[m]], *ref) for m in METHODS}
            b_med, _ = med["auto"]
            nm_med, nm_fail = median_reach(fn, [r[0] for r in nm], *ref)
            de_med, de_fail = median_reach(fn, [r[0] for r in de], *ref)
            print(
                f"{name:<24}{n:>3} {crit:>5} {cell(*med['auto']):>6} {b_med * cost:>8.0f} "
                f"{cell(*med['numeric']):>8} "
                f"{cell(*med['slsqp']):>7} {cell(*med['trust-constr']):>10} "
                f"{cell(nm_med, nm_fail):>11} {cell(de_med, de_fail):>11} "
                f"{nm_med / b_med:>8.1f} {de_med / b_med:>8.1f} {nm_med / (b_med * cost):>8.2f} "
                f"{nm_med / med['numeric'][0]:>7.1f}"
            )
        for m in METHODS:
            total = statistics.median(b[2] for b in biz[m])
            biz_x = max((e for b in biz[m] for e in b[0] if e[1]), key=lambda e: e[0])[2]
            print(
                f"{'':<27}{m}: total evaluations (all starts) {total:.0f}; max |x - x*| / "
                f"range {np.max(np.abs(biz_x - x_best) / (hi - lo)):.1e}; "
                f"time/run {statistics.median(b[1] for b in biz[m]):.3f} s; f-equiv/eval "
                f"{f_equiv(spec, m)}"
            )
        print(
            f"{'':<27}x* = " + ", ".join(f"{v:.6g}" for v in x_best) + "; time/run s: "
            f"NM {statistics.median(r[1] for r in nm):.3f}, "
            f"DE {statistics.median(r[1] for r in de):.3f}"
        )
    branch_and_bound()


def delta0_scan() -> None:
    """Sensitivity of the Newton method's count to its first trust radius (absolute, unit box)."""
    import functools

    import bizmodel.optimize.problem as problem_module
    from bizmodel.optimize.newton import trust_region_box

    for d0 in (0.05, 0.1, 0.2, 0.25, 0.35, 0.5, 0.7, 1.0):
        problem_module.trust_region_box = functools.partial(trust_region_box, delta0=d0)
        out = []
        for name in ("revenue-1d", "profit-2d"):
            spec = Spec.from_dict(SPECS[name], source=name)
            lo = np.array([lv.min for lv in spec.continuous])
            hi = np.array([lv.max for lv in spec.continuous])
            best = Traced(spec).eval(REFERENCE[name])[0]
            trace, _, total = run_bizmodel(spec, 0, "newton")
            ref = (best, REFERENCE[name], hi - lo)
            out.append(
                f"{name} f {reached_f(trace, *ref)} x {reached_x(trace, *ref)} total {total}"
            )
        print(f"delta0 {d0:<5} " + "; ".join(out))
    problem_module.trust_region_box = trust_region_box


def branch_and_bound() -> None:
    """Discrete levers: full enumeration vs branch-and-bound on 2 x 5 x 5 = 50 assignments."""
    from bizmodel.optimize import example_spec_path, optimize

    data = tomllib.loads(example_spec_path("saas").read_text())
    data["levers"]["region"] = {
        "choices": {f"r{i}": {"reach": 0.05 * i, "rcost": 200.0 * i * i} for i in range(5)}
    }
    data["levers"]["plan"] = {
        "choices": {f"p{i}": {"boost": 0.03 * i, "pcost": 0.002 * i * i} for i in range(5)}
    }
    data["growth"]["coefficients"].update({"reach": 1.0, "boost": 1.0})
    data["quantities"]["cost_usd"] = (
        "ad_spend_usd + requests * (inference_cost_usd + pcost) + rcost"
    )
    for label, limit in (("enumeration", 1000), ("branch-and-bound", 1)):
        t = time.perf_counter()
        res = optimize(data, enumerate_limit=limit)
        choice = ", ".join(f"{k}={res.levers[k]}" for k in ("model", "region", "plan"))
        print(
            f"{label:<17} objective {res.objective:.9f}  {choice}  evaluations "
            f"{res.evaluations}  {time.perf_counter() - t:.2f} s"
        )


if __name__ == "__main__":
    import warnings

    # DE's trust-constr polish warns on flat quasi-Newton updates; irrelevant to the counts
    warnings.filterwarnings("ignore", message="delta_grad == 0.0")
    main()
