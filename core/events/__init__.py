"""Events: everything that happens in tradingd, as frozen, typed, past-tense facts.

Every event carries ``ts``, the (clock) time it describes. Array fields are read-only
numpy arrays aligned with the event's ``symbols``; ``freeze`` makes them so.

Market data is cross-sectional: one ``BarsClosed`` per timestamp carries the universe.

The classes live in ``base`` (``Event``, ``freeze``, the field vocabularies), ``market``,
``trading`` and ``jobs``; import them from ``core.events``.
"""

from core.events.base import ActionKind, Bound, Event, RunMode, Side, freeze
from core.events.jobs import CheckpointPublished, JobFailed, JobFinished, ModelRejected, ModelSwapped
from core.events.market import (
    BarsClosed,
    CorporateActionOccurred,
    FeedExhausted,
    FundamentalsUpdated,
    MacroUpdated,
    SentimentScored,
    TextsReceived,
)
from core.events.market import (
    DataReceived as DataReceived,  # the base of the pulls; importable, not in __all__
)
from core.events.trading import (
    ForecastReady,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    PortfolioMarked,
    PositionAdjusted,
    RiskAssessed,
    RiskAssessment,
    TargetWeightsSet,
)

__all__ = [
    "ActionKind",
    "BarsClosed",
    "Bound",
    "CheckpointPublished",
    "CorporateActionOccurred",
    "Event",
    "FeedExhausted",
    "ForecastReady",
    "FundamentalsUpdated",
    "JobFailed",
    "JobFinished",
    "MacroUpdated",
    "ModelRejected",
    "ModelSwapped",
    "OrderCancelled",
    "OrderFilled",
    "OrderRejected",
    "OrderSubmitted",
    "PortfolioMarked",
    "PositionAdjusted",
    "RiskAssessed",
    "RiskAssessment",
    "RunMode",
    "SentimentScored",
    "Side",
    "TargetWeightsSet",
    "TextsReceived",
    "freeze",
]
