"""Why did the model predict that? Token attributions by integrated gradients or SHAP.

Both methods explain the same output against the same baseline, so their numbers are
comparable. **Integrated gradients** (Sundararajan et al., 2017) on the word embeddings,
via Captum's ``LayerIntegratedGradients``: with :math:`e` the input's token embeddings,
:math:`e'` the
baseline's (every token replaced by ``[PAD]``, ``[CLS]``/``[SEP]`` kept) and :math:`F` the
explained output,

.. math:: a_{t} = \\sum_{d} (e_{td} - e'_{td}) \\int_0^1
          \\frac{\\partial F(e' + \\alpha (e - e'))}{\\partial e_{td}}\\, d\\alpha

summed over the embedding dimensions :math:`d` of token :math:`t`. Completeness:
:math:`\\sum_t a_t = F(e) - F(e')`; the quadrature error is reported as ``delta``
(shrinks with ``n_steps``).

:math:`F` is the prediction in target units (regression) or the probability of the
predicted class (classification, or of ``target`` when given).

**SHAP** (Lundberg & Lee, 2017): Shapley values of the :math:`M` non-special tokens, a token
being "absent" when replaced by ``[PAD]`` (the integrated-gradients baseline). With
:math:`v(S) = F(x_S)` the output when only the tokens in :math:`S` are kept,

.. math:: \\phi_t = \\sum_{S \\subseteq N \\setminus \\{t\\}}
          \\frac{|S|!\\,(M - |S| - 1)!}{M!} \\bigl(v(S \\cup \\{t\\}) - v(S)\\bigr),

estimated by SHAP's ``KernelExplainer`` (weighted least squares over sampled coalitions;
exact when :math:`2^M - 2` coalitions fit into ``n_samples``). Its efficiency constraint
makes :math:`\\sum_t \\phi_t = F(x) - F(\\text{baseline})` exactly (``delta`` is float
rounding), however few coalitions are sampled; fewer samples only make each
:math:`\\phi_t` noisier.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bizmodel.errors import ConfigError

METHODS = ("integrated-gradients", "shap")
_ALIASES = {"ig": "integrated-gradients", "integrated-gradients": "integrated-gradients",
            "shap": "shap"}  # fmt: skip
MAX_SHAP_SAMPLES = 100_000  # coalitions (model calls) one SHAP explanation may use


@dataclass(frozen=True)
class Explanation:
    """Token attributions of one prediction."""

    model_dir: str
    text: str
    text_pair: str | None
    method: str
    tokens: tuple[str, ...]  # word pieces, with [CLS]/[SEP]
    attributions: tuple[float, ...]  # one per token, in the explained output's units
    prediction: float  # explained output for the input
    baseline_prediction: float  # ... for the all-[PAD] baseline
    target: str | None  # explained class (classification) or None (regression)
    delta: float  # sum(attributions) - (prediction - baseline_prediction)
    n_steps: int | None  # integrated gradients: quadrature steps (None for SHAP)
    n_samples: int | None = None  # SHAP: coalitions evaluated (None for integrated gradients)

    def summary(self) -> str:
        what = f"P({self.target})" if self.target is not None else "prediction"
        lines = [
            f"{self.method} for {self.model_dir}: {what} {self.prediction:.4f} "
            f"(baseline {self.baseline_prediction:.4f}, delta {self.delta:+.2e})",
        ]
        order = sorted(range(len(self.tokens)), key=lambda i: -abs(self.attributions[i]))
        for i in order[:10]:
            lines.append(f"  {self.tokens[i]:<20} {self.attributions[i]:+.4f}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_dir": self.model_dir,
            "text": self.text,
            "text_pair": self.text_pair,
            "method": self.method,
            "tokens": list(self.tokens),
            "attributions": list(self.attributions),
            "prediction": self.prediction,
            "baseline_prediction": self.baseline_prediction,
            "target": self.target,
            "delta": self.delta,
            "n_steps": self.n_steps,
            "n_samples": self.n_samples,
        }

    def _cost(self) -> str:
        if self.n_samples is not None:
            return f"{self.n_samples} coalitions"
        return f"{self.n_steps} steps"

    def top_token(self) -> str:
        """The token with the largest attribution in absolute value.

        Examples
        --------
        >>> Explanation("m", "up", None, "shap", ("[CLS]", "up", "[SEP]"), (0.0, -0.5, 0.0),
        ...             0.1, 0.6, None, 0.0, None, 8).top_token()
        'up'
        """
        return self.tokens[max(range(len(self.tokens)), key=lambda i: abs(self.attributions[i]))]

    def to_html(self) -> str:
        """A standalone HTML page: tokens highlighted green (pushes the output up) or red.

        Examples
        --------
        >>> e = Explanation("m", "up", None, "integrated-gradients", ("[CLS]", "up", "[SEP]"),
        ...                 (0.0, 0.5, 0.0), 0.6, 0.1, None, 0.0, 50)
        >>> 'rgba(0, 160, 0, 1.00)' in e.to_html()
        True
        """
        scale = max((abs(a) for a in self.attributions), default=0.0) or 1.0
        spans = []
        for tok, a in zip(self.tokens, self.attributions, strict=True):
            colour = "0, 160, 0" if a >= 0 else "200, 0, 0"
            alpha = abs(a) / scale
            piece = tok[2:] if tok.startswith("##") else f" {tok}"
            spans.append(
                f'<span title="{a:+.4f}" style="background: rgba({colour}, {alpha:.2f})">'
                f"{html.escape(piece)}</span>"
            )
        what = f"P({html.escape(self.target)})" if self.target is not None else "prediction"
        return (
            "<!doctype html>\n<html><head><meta charset='utf-8'><title>bizmodel explain</title>"
            "</head><body style='font-family: sans-serif'>\n"
            f"<p>{what} = {self.prediction:.4f} (baseline {self.baseline_prediction:.4f}); "
            f"{html.escape(self.method)}, {self._cost()}, delta {self.delta:+.2e}. "
            "Green raises the output, red lowers it.</p>\n"
            f"<p style='font-size: 1.3em; line-height: 1.8'>{''.join(spans)}</p>\n"
            "</body></html>\n"
        )


def method_name(method: str) -> str:
    """The canonical name of attribution method ``method`` (``ig`` is integrated gradients).

    Examples
    --------
    >>> method_name("ig"), method_name("shap")
    ('integrated-gradients', 'shap')
    >>> method_name("lime")
    Traceback (most recent call last):
    ...
    bizmodel.errors.ConfigError: unknown explanation method 'lime'; valid: ig, shap
    """
    if method not in _ALIASES:
        raise ConfigError(f"unknown explanation method {method!r}; valid: ig, shap")
    return _ALIASES[method]


def explain(
    model_dir: str | Path,
    text: str,
    text_pair: str | None = None,
    *,
    method: str = "integrated-gradients",
    n_steps: int = 200,
    n_samples: int = 1000,
    target: str | None = None,
    seed: int = 0,
) -> Explanation:
    """Attribute one prediction of model dir ``model_dir`` to the input's tokens.

    Parameters
    ----------
    model_dir : str or Path
        A model dir written by ``bizmodel train``.
    text, text_pair : str
        The input (``text_pair`` for models trained on pairs).
    method : {"integrated-gradients", "ig", "shap"}
        Attribution method (see the module docstring).
    n_steps : int
        Integrated gradients: quadrature steps of the path integral; more steps, smaller
        ``delta`` (on the tiny test model |delta| was 2.6e-2 at 50 steps, 3.6e-5 at 200,
        5e-7 at 500).
    n_samples : int
        SHAP: coalitions evaluated (one model call each), at least 2 per token; exact
        Shapley values when ``2**M - 2 <= n_samples`` for ``M`` tokens.
    target : str, optional
        Classification: the class whose probability is explained (default: the predicted).
    seed : int
        SHAP: seed of the coalition sampling (the result is reproducible).

    Returns
    -------
    Explanation

    Examples
    --------
    >>> e = explain("advisor-model", "Acme", "Acme beats forecasts")  # doctest: +SKIP
    >>> abs(sum(e.attributions) - (e.prediction - e.baseline_prediction)) < 0.01  # doctest: +SKIP
    True
    """
    _check(method, n_steps, n_samples)
    from bizmodel.finetune import load_model

    return explain_model(
        load_model(model_dir), text, text_pair, method=method, n_steps=n_steps,
        n_samples=n_samples, target=target, seed=seed, name=str(model_dir),
    )  # fmt: skip


def _check(method: str, n_steps: int, n_samples: int) -> str:
    name = method_name(method)
    if not isinstance(n_steps, int) or n_steps < 2:
        raise ConfigError(f"n_steps must be an integer >= 2, got {n_steps!r}")
    if not isinstance(n_samples, int) or not 2 <= n_samples <= MAX_SHAP_SAMPLES:
        raise ConfigError(
            f"n_samples must be an integer from 2 to {MAX_SHAP_SAMPLES}, got {n_samples!r}"
        )
    return name


def explain_model(
    model: Any,
    text: str,
    text_pair: str | None = None,
    *,
    method: str = "integrated-gradients",
    n_steps: int = 200,
    n_samples: int = 1000,
    target: str | None = None,
    seed: int = 0,
    name: str = "model",
) -> Explanation:
    """Like :func:`explain`, for an already loaded model (the server keeps one per version).

    ``model`` is a :class:`~bizmodel.finetune.predict.FineTunedModel`; ``name`` is what the
    explanation records as ``model_dir``. Integrated gradients hooks the model's embedding
    layer while it runs: do not predict with the same model object from another thread then.

    Examples
    --------
    >>> explain_model(None, "x", method="lime")
    Traceback (most recent call last):
    ...
    bizmodel.errors.ConfigError: unknown explanation method 'lime'; valid: ig, shap
    """
    method = _check(method, n_steps, n_samples)
    if (text_pair is None) != (model.text_pair_column is None):
        if model.text_pair_column:
            raise ConfigError(
                f"this model reads text pairs ({model.text_column!r}, "
                f"{model.text_pair_column!r}); give --text-pair too"
            )
        raise ConfigError(
            f"this model reads single texts ({model.text_column!r}); drop --text-pair"
        )
    if target is not None and model.task != "classification":
        raise ConfigError(
            f"target {target!r} is only for classification models; this one is {model.task}"
        )
    if method == "shap":
        return _shap(model, name, text, text_pair, n_samples, target, seed)
    return _integrated_gradients(model, name, text, text_pair, n_steps, target)


class _Explained:
    """Tokenized input, its ``[PAD]`` baseline and the explained output ``F`` of one model."""

    def __init__(self, model: Any, text: str, text_pair: str | None, target: str | None) -> None:
        import torch

        tok = model.tokenizer
        enc = tok(
            text,
            text_pair,
            truncation=True,
            max_length=model.max_length,
            return_tensors="pt",
            return_token_type_ids=text_pair is not None,
        )
        self.ids = enc["input_ids"]  # (1, T)
        self.mask = enc["attention_mask"]
        self.types = enc.get("token_type_ids")
        self.special = torch.tensor(
            tok.get_special_tokens_mask(self.ids[0].tolist(), already_has_special_tokens=True),
            dtype=torch.bool,
        )
        self.pad = int(tok.pad_token_id or 0)
        self.baseline = torch.where(self.special, self.ids[0], torch.tensor(self.pad))[None]
        self.tokens = tuple(tok.convert_ids_to_tokens(self.ids[0].tolist()))
        self.module = model.module.eval()
        self.task = model.task
        classes = [str(c) for c in (model.labels or [])]
        self.target_index: int | None = None
        if self.task == "classification":
            if target is None:
                with torch.no_grad():
                    raw = self.module(self.ids, self.mask, self.types)
                self.target_index = int(raw[0].argmax())
            elif target in classes:
                self.target_index = classes.index(target)
            else:
                raise ConfigError(f"unknown class {target!r}; valid: {', '.join(classes)}")
        self.target = classes[self.target_index] if self.target_index is not None else None

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
        import torch

        out = self.module(input_ids, attention_mask, token_type_ids)
        if self.task == "classification":
            return torch.softmax(out.float(), dim=-1)[:, self.target_index]
        return out.float()

    def output(self, input_ids: Any) -> float:
        """``F`` of one (1, T) id tensor, without gradients."""
        import torch

        with torch.no_grad():
            return float(self.forward(input_ids, self.mask, self.types)[0])


def _shap(
    model: Any,
    name: str,
    text: str,
    text_pair: str | None,
    n_samples: int,
    target: str | None,
    seed: int,
) -> Explanation:
    import warnings

    import numpy as np
    import torch

    with warnings.catch_warnings():
        # shap 0.51 builds its colour maps with matplotlib calls that matplotlib 3.11 marks
        # as pending deprecation; nothing of that reaches the numbers.
        warnings.filterwarnings(
            "ignore",
            message="The set_(bad|over|under) function",
            category=PendingDeprecationWarning,
        )
        import shap

    x = _Explained(model, text, text_pair, target)
    positions = torch.nonzero(~x.special).flatten()  # the M tokens that can be masked
    m = int(positions.numel())
    if m > 1 and n_samples < 2 * m:  # fewer: KernelExplainer's regression is singular
        raise ConfigError(
            f"n_samples {n_samples} is too few for the {m} tokens of this input: SHAP needs "
            f"at least {2 * m} (2 per token)"
        )

    def f(coalitions: np.ndarray) -> np.ndarray:
        """``F`` with the tokens whose coalition entry is 0 replaced by [PAD]."""
        out = []
        keep = torch.as_tensor(np.asarray(coalitions) > 0.5)
        for start in range(0, len(keep), 64):
            chunk = keep[start : start + 64]
            ids = x.ids.repeat(len(chunk), 1)
            ids[:, positions] = torch.where(chunk, ids[:, positions], torch.tensor(x.pad))
            n = len(chunk)
            types = x.types.repeat(n, 1) if x.types is not None else None
            with torch.no_grad():
                out.append(x.forward(ids, x.mask.repeat(n, 1), types).double().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    f_x = x.output(x.ids)
    f_b = x.output(x.baseline)
    phi = np.zeros(len(x.tokens))
    used = 2
    if m == 1:
        phi[positions.numpy()] = f_x - f_b
    elif m > 1:
        explainer = shap.KernelExplainer(f, np.zeros((1, m)))
        state = np.random.get_state()  # KernelExplainer samples with numpy's global generator
        np.random.seed(seed)
        try:
            values = explainer.shap_values(
                np.ones((1, m)), nsamples=n_samples, l1_reg=False, silent=True
            )
        finally:
            np.random.set_state(state)
        phi[positions.numpy()] = np.asarray(values, dtype=float).reshape(-1)
        used = int(explainer.nsamplesRun) + 2
    return Explanation(
        model_dir=name,
        text=text,
        text_pair=text_pair,
        method="shap",
        tokens=x.tokens,
        attributions=tuple(float(a) for a in phi),
        prediction=f_x,
        baseline_prediction=f_b,
        target=x.target,
        delta=float(phi.sum() - (f_x - f_b)),
        n_steps=None,
        n_samples=used,
    )


def _integrated_gradients(
    model: Any, name: str, text: str, text_pair: str | None, n_steps: int, target: str | None
) -> Explanation:
    import torch
    from captum.attr import LayerIntegratedGradients

    x = _Explained(model, text, text_pair, target)
    lig = LayerIntegratedGradients(x.forward, x.module.encoder.get_input_embeddings())
    with torch.enable_grad():
        attr, delta = lig.attribute(
            x.ids,
            baselines=x.baseline,
            additional_forward_args=(x.mask, x.types),
            n_steps=n_steps,
            internal_batch_size=50,  # bounds memory for long texts and many steps
            return_convergence_delta=True,
        )
    per_token = attr.sum(dim=-1)[0].detach().double()  # (T,)
    return Explanation(
        model_dir=name,
        text=text,
        text_pair=text_pair,
        method="integrated-gradients",
        tokens=x.tokens,
        attributions=tuple(float(a) for a in per_token),
        prediction=x.output(x.ids),  # the explained output at both ends of the path
        baseline_prediction=x.output(x.baseline),
        target=x.target,
        delta=float(delta.reshape(-1)[0]),
        n_steps=n_steps,
    )
