"""Bayesian knowledge tracing (BKT): the mastery filter and its EM fit, in numpy.

BKT (Corbett & Anderson, 1995) is a two-state hidden Markov model per skill. A learner either
knows the skill (``L``) or not; each practice attempt is observed as correct or wrong:

.. math::

    P(L_0) = p_0, \\quad P(L_{t+1} \\mid \\neg L_t) = \\ell, \\quad P(\\neg L_{t+1} \\mid L_t) = 0,
    \\\\
    P(\\text{correct} \\mid L) = 1 - s, \\quad P(\\text{correct} \\mid \\neg L) = g

with prior ``p0``, learn rate ``ℓ``, guess ``g`` and slip ``s`` (no forgetting). The field's
library, pyBKT 1.4.3, installs from a pure-Python wheel but does not run with this project's
stack: ``import pyBKT.models`` fails under scikit-learn 1.9 (its metric discovery calls a
private sklearn function with lists) and its E-step assigns a (1, 1) array into a scalar slot,
which numpy 2 rejects. So the forward filter and the Baum–Welch EM are implemented here, and
tested against a brute-force likelihood over all hidden paths and a hand-computed posterior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from bizmodel.errors import ConfigError, DataError

#: Guess and slip are bounded below 0.5 so "knows" keeps its meaning (no label switching).
MAX_GUESS_SLIP = 0.45
_EPS = 1e-6


@dataclass(frozen=True)
class BKTParams:
    """BKT parameters of one skill: ``prior`` p0, ``learn`` ℓ, ``guess`` g, ``slip`` s.

    Examples
    --------
    >>> BKTParams(prior=0.3, learn=0.2, guess=0.25, slip=0.1).p_correct(0.3)
    0.445
    """

    prior: float
    learn: float
    guess: float
    slip: float

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, int | float) and 0.0 <= float(value) <= 1.0):
                raise ConfigError(f"BKT parameter {name!r} must be in [0, 1], got {value!r}")

    def p_correct(self, p_known: float) -> float:
        """``P(correct) = P(L)(1 − s) + (1 − P(L)) g`` for mastery ``p_known``."""
        return round(p_known * (1 - self.slip) + (1 - p_known) * self.guess, 12)

    def to_dict(self) -> dict[str, float]:
        """``{"prior", "learn", "guess", "slip"}`` as floats."""
        return {k: float(v) for k, v in asdict(self).items()}


def posterior_update(p_known: float, correct: bool, params: BKTParams) -> tuple[float, float]:
    """One BKT step: the mastery after seeing an answer, and the mastery before the next one.

    .. math::

        P(L \\mid \\text{correct}) = \\frac{P(L)(1-s)}{P(L)(1-s) + (1-P(L))g}, \\quad
        P(L \\mid \\text{wrong}) = \\frac{P(L)s}{P(L)s + (1-P(L))(1-g)}, \\\\
        P(L_{next}) = P(L \\mid obs) + (1 - P(L \\mid obs))\\,\\ell

    Examples
    --------
    >>> p = BKTParams(prior=0.3, learn=0.2, guess=0.25, slip=0.1)
    >>> [round(x, 6) for x in posterior_update(0.3, True, p)]   # 0.27 / 0.445
    [0.606742, 0.685393]
    """
    post, nxt = step_arrays(
        np.float64(p_known), np.bool_(correct), params.learn, params.guess, params.slip
    )
    return float(post), float(nxt)


def step_arrays(
    p_known: np.ndarray | np.floating,
    correct: np.ndarray | np.bool_,
    learn: np.ndarray | float,
    guess: np.ndarray | float,
    slip: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`posterior_update` element-wise over arrays (one skill's parameters per element).

    Examples
    --------
    >>> post, nxt = step_arrays(np.array([0.3, 0.3]), np.array([True, False]), 0.2, 0.25, 0.1)
    >>> post.round(4).tolist(), nxt.round(4).tolist()
    ([0.6067, 0.0541], [0.6854, 0.2432])
    """
    num = np.where(correct, p_known * (1 - slip), p_known * slip)
    den = num + np.where(correct, (1 - p_known) * guess, (1 - p_known) * (1 - guess))
    post = np.where(den > 0, num / np.where(den > 0, den, 1.0), p_known)
    return post, post + (1 - post) * learn


def trace(answers: Sequence[int | bool], params: BKTParams) -> tuple[np.ndarray, np.ndarray]:
    """Online BKT over one learner's answers on one skill (in order).

    Returns
    -------
    p_correct : ndarray (T,)
        ``P(correct at t | answers before t)`` — the prediction made before each answer.
    mastery : ndarray (T + 1,)
        ``P(L)`` before each answer and after the last one.

    Examples
    --------
    >>> p = BKTParams(prior=0.3, learn=0.2, guess=0.25, slip=0.1)
    >>> pc, m = trace([1, 0], p)
    >>> pc.round(4).tolist(), m.round(4).tolist()
    ([0.445, 0.6955], [0.3, 0.6854, 0.3801])
    """
    p = params.prior
    pcs, ms = [], [p]
    for a in answers:
        pcs.append(params.p_correct(p))
        _, p = posterior_update(p, bool(a), params)
        ms.append(p)
    return np.asarray(pcs, dtype=float), np.asarray(ms, dtype=float)


def _pad(sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(N, T) 0/1 answers and a (N, T) mask of real attempts."""
    if not sequences:
        raise DataError("no answer sequences to fit; give at least one learner's history")
    T = max(len(s) for s in sequences)
    obs = np.zeros((len(sequences), T), dtype=np.int8)
    mask = np.zeros((len(sequences), T), dtype=bool)
    for i, s in enumerate(sequences):
        arr = np.asarray(s, dtype=np.int8)
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise DataError(f"sequence {i}: answers must be 0 or 1, got {sorted(set(s))}")
        obs[i, : len(s)], mask[i, : len(s)] = arr, True
    return obs, mask


def _forward_backward(
    obs: np.ndarray, mask: np.ndarray, p: BKTParams
) -> tuple[float, np.ndarray, np.ndarray]:
    """Scaled forward–backward; return log-likelihood, gamma (N, T, 2) and xi01 (N, T−1).

    State 0 = not known, 1 = known. Padded steps have emission 1 and identity transition, so
    they change nothing; ``xi01[n, t]`` is the posterior of the 0→1 transition between t, t+1.
    """
    N, T = obs.shape
    emit = np.empty((N, T, 2))  # (N, T, state)
    emit[..., 0] = np.where(obs == 1, p.guess, 1 - p.guess)
    emit[..., 1] = np.where(obs == 1, 1 - p.slip, p.slip)
    emit[~mask] = 1.0
    alpha = np.empty((N, T, 2))
    scale = np.empty((N, T))
    a = np.stack([np.full(N, 1 - p.prior), np.full(N, p.prior)], axis=-1) * emit[:, 0]
    scale[:, 0] = a.sum(-1)
    alpha[:, 0] = a / scale[:, 0, None]
    for t in range(1, T):
        prev = alpha[:, t - 1]
        pred = np.stack([prev[:, 0] * (1 - p.learn), prev[:, 0] * p.learn + prev[:, 1]], -1)
        pred = np.where(mask[:, t, None], pred, prev)
        a = pred * emit[:, t]
        scale[:, t] = a.sum(-1)
        alpha[:, t] = a / scale[:, t, None]
    loglik = float(np.log(scale[mask]).sum())
    beta = np.ones((N, T, 2))
    xi01 = np.zeros((N, max(T - 1, 0)))
    for t in range(T - 2, -1, -1):
        nxt = emit[:, t + 1] * beta[:, t + 1] / scale[:, t + 1, None]  # (N, 2)
        live = mask[:, t + 1]
        b0 = np.where(live, (1 - p.learn) * nxt[:, 0] + p.learn * nxt[:, 1], nxt[:, 0])
        beta[:, t] = np.stack([b0, nxt[:, 1]], -1)
        xi01[:, t] = np.where(live, alpha[:, t, 0] * p.learn * nxt[:, 1], 0.0)
    gamma = alpha * beta
    return loglik, gamma, xi01


def log_likelihood(sequences: Sequence[Sequence[int]], params: BKTParams) -> float:
    """Log-likelihood ``Σ_n log P(answers_n)`` of answer sequences under ``params``.

    Examples
    --------
    >>> p = BKTParams(prior=0.5, learn=0.0, guess=0.2, slip=0.2)
    >>> import math
    >>> round(log_likelihood([[1]], p), 6) == round(math.log(0.5 * 0.8 + 0.5 * 0.2), 6)
    True
    """
    obs, mask = _pad(sequences)
    return _forward_backward(obs, mask, params)[0]


@dataclass(frozen=True)
class EMResult:
    """What :func:`fit_em` found: the parameters, their log-likelihood, the EM trace."""

    params: BKTParams
    log_likelihood: float
    iterations: int
    trace: tuple[float, ...]  # log-likelihood after each E-step of the best restart


def fit_em(
    sequences: Sequence[Sequence[int]],
    *,
    restarts: int = 3,
    max_iter: int = 200,
    tol: float = 1e-6,
    seed: int = 0,
) -> EMResult:
    """Fit one skill's BKT parameters by Baum–Welch EM, best of ``restarts`` random starts.

    M-step (expected counts from the forward–backward posteriors ``γ`` and ``ξ``):
    ``p0 = mean γ₀(L)``, ``ℓ = Σ ξ(¬L→L) / Σ_{t<T} γ_t(¬L)``,
    ``g = Σ γ_t(¬L)[correct] / Σ γ_t(¬L)``, ``s = Σ γ_t(L)[wrong] / Σ γ_t(L)``; guess and slip
    are then capped at :data:`MAX_GUESS_SLIP`.

    Examples
    --------
    >>> r = fit_em([[0, 1, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]] * 20, seed=1)
    >>> r.params.learn > 0.2, r.trace[-1] >= r.trace[0]
    (True, True)
    """
    if restarts < 1 or max_iter < 1:
        raise ConfigError(f"restarts and max_iter must be >= 1, got {restarts}, {max_iter}")
    obs, mask = _pad(sequences)
    rng = np.random.default_rng(seed)
    correct = (obs == 1) & mask
    wrong = (obs == 0) & mask
    not_last = mask.copy()
    lengths = mask.sum(1)
    not_last[np.arange(len(lengths)), np.maximum(lengths - 1, 0)] = False
    best: EMResult | None = None
    for _ in range(restarts):
        p = BKTParams(
            prior=float(rng.uniform(0.1, 0.6)),
            learn=float(rng.uniform(0.05, 0.4)),
            guess=float(rng.uniform(0.05, 0.35)),
            slip=float(rng.uniform(0.05, 0.25)),
        )
        history: list[float] = []
        it = 0
        for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
            ll, gamma, xi01 = _forward_backward(obs, mask, p)
            history.append(ll)
            g0, g1 = gamma[..., 0], gamma[..., 1]
            first = mask[:, 0]
            denom_learn = (g0[:, :-1] * not_last[:, :-1]).sum() if obs.shape[1] > 1 else 0.0
            p = BKTParams(
                prior=float(np.clip(g1[first, 0].mean(), _EPS, 1 - _EPS)),
                learn=float(np.clip(xi01.sum() / max(denom_learn, _EPS), _EPS, 1 - _EPS)),
                guess=float(
                    np.clip(
                        (g0 * correct).sum() / max((g0 * mask).sum(), _EPS), _EPS, MAX_GUESS_SLIP
                    )
                ),
                slip=float(
                    np.clip((g1 * wrong).sum() / max((g1 * mask).sum(), _EPS), _EPS, MAX_GUESS_SLIP)
                ),
            )
            if len(history) > 1 and abs(history[-1] - history[-2]) < tol * max(1.0, abs(ll)):
                break
        final = _forward_backward(obs, mask, p)[0]
        result = EMResult(p, final, it, (*history, final))
        if best is None or result.log_likelihood > best.log_likelihood:
            best = result
    assert best is not None
    return best


def auc_logloss(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> dict[str, float]:
    """ROC AUC and mean log-loss of next-answer probabilities (scikit-learn's metrics).

    Examples
    --------
    >>> m = auc_logloss([0, 1, 1, 0], [0.2, 0.9, 0.6, 0.6])
    >>> m["auc"], round(m["log_loss"], 4), m["n"]
    (0.875, 0.4389, 4)
    """
    from sklearn.metrics import log_loss, roc_auc_score

    yv = np.asarray(y, dtype=int)
    pv = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    if len(set(yv.tolist())) < 2:
        raise DataError(f"AUC needs both correct and wrong answers; got {len(yv)} of one kind")
    return {
        "auc": float(roc_auc_score(yv, pv)),
        "log_loss": float(log_loss(yv, pv, labels=[0, 1])),
        "n": len(yv),
    }


__all__ = [
    "MAX_GUESS_SLIP",
    "BKTParams",
    "EMResult",
    "auc_logloss",
    "fit_em",
    "log_likelihood",
    "posterior_update",
    "step_arrays",
    "trace",
]
