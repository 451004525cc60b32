"""Typed request and response bodies of the HTTP API, with size limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
VARIANT = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Text = Annotated[str, Field(min_length=1, max_length=10_000)]
UserId = Annotated[str, Field(min_length=1, max_length=128)]
Scalar = Annotated[str, Field(max_length=1_000)] | float | bool | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorBody(BaseModel):
    """Every 4xx answer: the error kind and a message saying what is wrong."""

    error: str
    detail: str


class _Texts(_Body):
    """One input (``text``, optional ``text_pair``) or a list (``texts``, ``text_pairs``)."""

    text: Text | None = None
    text_pair: Text | None = None
    texts: Annotated[list[Text], Field(min_length=1, max_length=256)] | None = None
    text_pairs: Annotated[list[Text], Field(min_length=1, max_length=256)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> _Texts:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        if self.text_pair is not None and self.text is None:
            raise ValueError("'text_pair' goes with 'text'")
        if self.text_pairs is not None and (
            self.texts is None or len(self.text_pairs) != len(self.texts)
        ):
            raise ValueError("'text_pairs' must have one entry per item of 'texts'")
        return self

    def items(self) -> list[tuple[str, str | None]]:
        if self.texts is not None:
            if self.text_pairs is None:
                return [(t, None) for t in self.texts]
            return list(zip(self.texts, self.text_pairs, strict=True))
        assert self.text is not None
        return [(self.text, self.text_pair)]


class PredictRequest(_Texts):
    """One input (``text``, optional ``text_pair``) or a list (``texts``, ``text_pairs``)."""

    user_id: UserId | None = None  # routes the user in running model-version experiments
    model: Annotated[str, Field(pattern=NAME)] | None = None  # default: the served model
    ts: datetime | None = None  # when the request was made (replays, backfills); default: now


ExplainText = Annotated[str, Field(min_length=1, max_length=2_000)]


class ExplainRequest(_Texts):
    """Token attributions for one input or up to 8 (explanations cost many model calls)."""

    text: ExplainText | None = None
    text_pair: ExplainText | None = None
    texts: Annotated[list[ExplainText], Field(min_length=1, max_length=8)] | None = None
    text_pairs: Annotated[list[ExplainText], Field(min_length=1, max_length=8)] | None = None
    method: Annotated[str, Field(pattern=r"^(ig|integrated-gradients|shap)$")] = (
        "integrated-gradients"
    )
    n_steps: Annotated[int, Field(ge=2, le=200)] = 50  # integrated gradients: quadrature steps
    n_samples: Annotated[int, Field(ge=2, le=2_000)] = 500  # SHAP: coalitions evaluated
    target: Annotated[str, Field(min_length=1, max_length=200)] | None = None  # class explained
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0  # SHAP's coalition sampling
    model: Annotated[str, Field(pattern=NAME)] | None = None  # default: the served model
    version: Annotated[int, Field(ge=1, le=1_000_000)] | None = None  # default: production


class TokenAttributions(BaseModel):
    text: str
    text_pair: str | None
    tokens: list[str]  # word pieces, with [CLS]/[SEP]
    attributions: list[float]  # one per token, in the explained output's units
    prediction: float  # explained output: the value (regression) or P(target) (classification)
    baseline_prediction: float  # ... with every token replaced by [PAD]
    target: str | None  # explained class (classification)
    delta: float  # sum(attributions) - (prediction - baseline_prediction)


class ExplainResponse(BaseModel):
    explanations: list[TokenAttributions]
    method: str  # integrated-gradients | shap
    n_steps: int | None
    n_samples: int | None
    model_name: str
    model_version: int
    latency_ms: float


class Prediction(BaseModel):
    id: str  # use it to send feedback
    value: float | None = None  # regression: the predicted value in target units
    label: str | None = None  # classification: the most probable class
    probabilities: dict[str, float] | None = None  # classification: all classes


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    model_name: str
    model_version: int
    latency_ms: float
    experiment: str | None = None
    variant: str | None = None


class FeedbackRequest(_Body):
    prediction_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    rating: Annotated[float, Field(ge=-1e6, le=1e6)] | None = None
    correction: (
        Annotated[float, Field(ge=-1e12, le=1e12)] | Annotated[str, Field(max_length=1_000)] | None
    ) = None
    comment: Annotated[str, Field(max_length=2_000)] | None = None
    user_id: UserId | None = None
    ts: datetime | None = None  # when the feedback was given; default: when received

    @model_validator(mode="after")
    def _something(self) -> FeedbackRequest:
        if self.rating is None and self.correction is None and self.comment is None:
            raise ValueError("give at least one of 'rating', 'correction' or 'comment'")
        return self


class FeedbackResponse(BaseModel):
    id: int
    prediction_id: str


class EventIn(_Body):
    user_id: UserId
    type: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]  # signup, purchase, ...
    value: Annotated[float, Field(ge=-1e15, le=1e15)] | None = None  # e.g. revenue in USD
    ts: datetime | None = None  # when it happened; default: when received
    properties: (
        Annotated[dict[Annotated[str, Field(max_length=64)], Scalar], Field(max_length=50)] | None
    ) = None
    client_event_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    # seen under this experiment and arm: an exposure (recorded if the user has none yet)
    experiment: Annotated[str, Field(pattern=NAME)] | None = None
    variant: Annotated[str, Field(pattern=VARIANT)] | None = None

    @model_validator(mode="after")
    def _exposure(self) -> EventIn:
        if (self.experiment is None) != (self.variant is None):
            raise ValueError("'experiment' and 'variant' go together: give both or neither")
        return self


class EventsRequest(_Body):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=1_000)]


class EventsResponse(BaseModel):
    received: int
    inserted: int
    duplicates: int  # already stored under the same client_event_id


class Variant(_Body):
    name: Annotated[str, Field(pattern=VARIANT)]
    weight: Annotated[float, Field(gt=0, le=1e6)] = 1.0
    model_version: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class ExperimentCreate(_Body):
    name: Annotated[str, Field(pattern=NAME)]
    variants: Annotated[list[Variant], Field(min_length=1, max_length=20)]
    salt: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    model_name: Annotated[str, Field(pattern=NAME)] | None = None  # model-version experiment
    description: Annotated[str, Field(max_length=2_000)] | None = None


class ExperimentUpdate(_Body):
    status: Annotated[str, Field(pattern=r"^(running|stopped)$")]


class Experiment(BaseModel):
    name: str
    salt: str
    variants: list[dict[str, Any]]
    model_name: str | None
    status: str
    description: str | None
    created_ts: datetime


class Assignment(BaseModel):
    experiment: str
    user_id: str
    variant: str
    model_version: int | None = None


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    database: str
    model: str | None
    runtime: str | None
    # Why `auto` chose the runtime: parity and int8 checks, measured seq/s per candidate.
    runtime_choice: dict[str, Any] | None = None


Role = Literal["predict", "ingest", "read", "admin"]


class KeyCreate(_Body):
    roles: Annotated[list[Role], Field(min_length=1, max_length=4)]
    name: Annotated[str, Field(min_length=1, max_length=128)] | None = None  # who holds it
    rate_per_minute: Annotated[int, Field(ge=1, le=10_000_000)] | None = None  # None: default
    calls_per_day: Annotated[int, Field(ge=1, le=10**12)] | None = None  # None: the default


class KeyInfo(BaseModel):
    id: str
    roles: list[str]
    name: str | None
    rate_per_minute: int | None
    calls_per_day: int | None = None
    created_ts: datetime
    revoked_ts: datetime | None


class NewKeyInfo(KeyInfo):
    key: str  # shown this once: the store keeps only its hash


class PromoteRequest(_Body):
    version: Annotated[int, Field(ge=1, le=1_000_000)]
    stage: Literal["production", "staging"] = "production"


class ModelStages(BaseModel):
    name: str
    version: int
    stages: list[str]


class AuditEntry(BaseModel):
    id: int
    ts: datetime
    actor: str  # "key:<id>", "env:<n>" (BIZMODEL_API_KEYS) or "cli"
    action: str
    target: str | None
    detail: dict[str, Any] | None
