"""Events are plain frozen, slotted, keyword-only dataclasses."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest

import core.events as events
from core.events import JobFinished, OrderFilled, PortfolioMarked

T = datetime(2020, 1, 2, 21, tzinfo=UTC)


def every_event() -> list[type]:
    return [c for c in (getattr(events, n) for n in events.__all__) if isinstance(c, type) and issubclass(c, events.Event)]


@pytest.mark.parametrize("cls", every_event(), ids=lambda c: c.__name__)
def test_every_event_builds_from_its_fields_and_stays_frozen(cls: type) -> None:
    fields = dataclasses.fields(cls)
    values = {f.name: (T if f.name == "ts" else object()) for f in fields}
    event = cls(**values)
    assert all(getattr(event, name) is value for name, value in values.items())
    assert dataclasses.asdict(event).keys() == values.keys()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, fields[0].name, T)
    with pytest.raises(TypeError):
        cls(*values.values())  # keyword-only
    required = [f.name for f in fields if f.default is dataclasses.MISSING]
    with pytest.raises(TypeError, match=required[-1]):
        cls(**{k: v for k, v in values.items() if k != required[-1]})
    assert event == dataclasses.replace(event)
    assert not hasattr(event, "__dict__")  # slotted


def test_defaults_and_equality_are_the_dataclass_ones() -> None:
    done = JobFinished(ts=T, job="rebalance", fired_at=T, detail="target set")
    assert (done.routine, done.skipped) == (False, False)
    assert dataclasses.replace(done, skipped=True).skipped is True
    fill = dict(ts=T, order_id="o", fill_id="o:1", symbol="A", qty=1.0, price=2.0, fee=0.0, cost=0.0,
                bar_price=2.0, remaining=0.0, position=1.0, avg_price=2.0)
    assert OrderFilled(**fill) == OrderFilled(**fill)
    assert OrderFilled(**fill) != OrderFilled(**{**fill, "qty": 2.0})
    mark = PortfolioMarked(ts=T, cash=1.0, equity=3.0, gross=2.0, symbols=("A",), qty=np.ones(1), prices=np.full(1, 2.0))
    assert "PortfolioMarked(ts=" in repr(mark)
