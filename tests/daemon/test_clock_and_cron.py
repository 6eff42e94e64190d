"""Clocks, the replay expansion of cron specs, and the APScheduler clock trigger."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clock import ClockError, LiveClock, PacedClock, ReplayClock
from daemon.cron import fire_times, fire_times_reference, parse_cron
from daemon.scheduler import ClockTrigger

SESSIONS = [datetime(2020, 1, d, 5, tzinfo=UTC) for d in (2, 3, 6, 7, 8)]  # Thu Fri Mon Tue Wed


class TestReplayClock:
    def test_moves_forward_and_refuses_to_go_back(self) -> None:
        clock = ReplayClock(datetime(2020, 1, 2, tzinfo=UTC))
        clock.advance_to(datetime(2020, 1, 3, tzinfo=UTC))
        assert clock.now() == datetime(2020, 1, 3, tzinfo=UTC)
        with pytest.raises(ClockError):
            clock.advance_to(datetime(2020, 1, 2, tzinfo=UTC))


class TestPacedClock:
    def test_each_trading_day_takes_the_same_wall_time(self) -> None:
        wall = [1000.0]
        clock = PacedClock(SESSIONS, pace=2.0, start=SESSIONS[0], wall=lambda: wall[0], wall_start=1000.0)
        assert clock.now() == SESSIONS[0]
        clock.release()  # a paced clock stands at its start until its driver lets it go
        wall[0] = 1000.5  # one trading day at 2 days per second
        assert clock.now() == SESSIONS[1]
        wall[0] = 1001.0  # Friday -> Monday: the weekend passes in the same half second
        assert clock.now() == SESSIONS[2]
        wall[0] = 1000.25  # half of Thursday's gap to Friday
        assert clock.now() == SESSIONS[0] + timedelta(hours=12)

    def test_to_wall_inverts_from_wall(self) -> None:
        clock = PacedClock(SESSIONS, pace=3.0, start=SESSIONS[1], wall=lambda: 50.0, wall_start=50.0)
        for sim in (SESSIONS[1], SESSIONS[2] + timedelta(hours=16, minutes=30), SESSIONS[-1] + timedelta(days=3)):
            back = clock.from_wall(clock.to_wall(sim))
            assert abs((back - sim).total_seconds()) < 1e-3

    def test_holds_at_due_work_never_runs_past_the_next_fire_and_counts_lateness(self) -> None:
        wall = [0.0]
        clock = PacedClock(SESSIONS, pace=2.0, start=SESSIONS[0], wall=lambda: wall[0], wall_start=0.0)
        clock.release()
        assert clock.wait_s(SESSIONS[1]) == pytest.approx(0.5)
        wall[0] = 0.5
        clock.hold(SESSIONS[1])
        wall[0] = 3.0  # the work due at SESSIONS[1] took 2.5 wall seconds
        assert clock.now() == SESSIONS[1]
        clock.release(until=SESSIONS[2])
        assert clock.behind_s == 0.0  # it started on time
        assert clock.now() == SESSIONS[1]  # time flows again from the held instant
        wall[0] = 3.25
        assert clock.now() == SESSIONS[1] + (SESSIONS[2] - SESSIONS[1]) / 2
        wall[0] = 10.0
        assert clock.now() == SESSIONS[2]  # never past the next due fire
        clock.hold(SESSIONS[2])  # due at wall 3.5, started at 10
        assert clock.behind_s == pytest.approx(6.5)

    def test_max_pace_jumps_from_one_hold_to_the_next_without_waiting(self) -> None:
        clock = PacedClock(SESSIONS, pace=math.inf, start=SESSIONS[0])
        clock.release()
        assert clock.now() == SESSIONS[0]
        assert clock.wait_s(SESSIONS[-1]) == 0.0
        clock.hold(SESSIONS[3])
        clock.release(until=SESSIONS[4])
        assert clock.now() == SESSIONS[3]
        assert clock.behind_s == 0.0

    def test_rejects_bad_pace_and_unsorted_sessions(self) -> None:
        with pytest.raises(ValueError):
            PacedClock(SESSIONS, pace=0, start=SESSIONS[0])
        with pytest.raises(ValueError):
            PacedClock(SESSIONS[::-1], pace=1, start=SESSIONS[0])


class TestLiveClock:
    def test_reads_the_injected_wall_time(self) -> None:
        clock = LiveClock(wall=lambda: 1_600_000_000.0)
        assert clock.now() == datetime.fromtimestamp(1_600_000_000, UTC)
        assert clock.to_wall(clock.now()) == 1_600_000_000.0


SPECS = [
    "30 16 * * mon-fri",
    "45 16 1-7 * mon-fri",
    "0 0 * * *",
    "30 2 * * *",
    "0 3 * * sun",
    "*/20 1-3 * * sun",
    "0 0 last * *",
    "59 23 * 2 *",
    "15 9,12 * * 1,3,5",
    "0 */6 * * *",
]
ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "UTC", "Asia/Tokyo"]


class TestCronExpansion:
    @pytest.mark.parametrize("zone", ZONES)
    @pytest.mark.parametrize("spec", SPECS)
    def test_matches_apscheduler_fire_by_fire_across_dst_changes(self, spec: str, zone: str) -> None:
        trigger = parse_cron(spec, zone)
        start, end = datetime(1999, 12, 30, 7, 13, tzinfo=UTC), datetime(2002, 2, 1, tzinfo=UTC)
        assert fire_times(trigger, start, end) == fire_times_reference(trigger, start, end)

    @settings(max_examples=25, deadline=None)
    @given(
        minute=st.integers(0, 59),
        hour=st.sampled_from(["*", "0", "1", "2", "3", "16", "23", "1-4", "*/5"]),
        dow=st.sampled_from(["*", "mon-fri", "sun", "sat,sun", "0"]),
        zone=st.sampled_from(ZONES),
        start_day=st.integers(0, 3000),
    )
    def test_matches_apscheduler_on_random_specs(self, minute: int, hour: str, dow: str, zone: str, start_day: int) -> None:
        trigger = parse_cron(f"{minute} {hour} * * {dow}", zone)
        start = datetime(1995, 1, 1, tzinfo=UTC) + timedelta(days=start_day, hours=start_day % 24)
        end = start + timedelta(days=120)
        assert fire_times(trigger, start, end) == fire_times_reference(trigger, start, end)

    @pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Australia/Sydney", "America/Santiago"])
    def test_matches_apscheduler_around_every_dst_change_for_three_decades(self, zone: str) -> None:
        """Every transition 1995-2026, a week around it, for specs at every hour that
        matters (midnight, the 1-3 am change window, daytime, late evening)."""
        import pandas as pd

        days = pd.date_range("1995-01-01", "2026-12-31", freq="D")
        offsets = days.tz_localize(zone, ambiguous=True, nonexistent="shift_forward").map(lambda t: t.utcoffset())
        changes = [days[i] for i in range(len(days) - 1) if offsets[i] != offsets[i + 1]]
        assert len(changes) > 40
        specs = ["0 0 * * *", "30 1 * * *", "30 2 * * *", "0 3 * * *", "45 16 * * mon-fri", "30 23 * * *",
                 "15 */7 * * *", "0 0 * * sun,mon"]
        for spec in specs:
            trigger = parse_cron(spec, zone)
            for day in changes:
                start = datetime(day.year, day.month, day.day, 7, 13, tzinfo=UTC) - timedelta(days=3)
                end = start + timedelta(days=7)
                assert fire_times(trigger, start, end) == fire_times_reference(trigger, start, end), (spec, day)

    def test_bad_specs_are_refused(self) -> None:
        with pytest.raises(ValueError):
            parse_cron("61 16 * * *", "UTC")


class TestClockTrigger:
    def test_fires_each_market_time_once_even_at_a_high_pace(self) -> None:
        sessions = [datetime(2020, 1, 1, 5, tzinfo=UTC) + timedelta(days=i) for i in range(60)]
        clock = PacedClock(sessions, pace=500.0, start=sessions[0], wall=lambda: 1.7e9, wall_start=1.7e9)
        trigger = ClockTrigger(CronTrigger.from_crontab("30 16 * * *", timezone="America/New_York"), clock)
        now = datetime.fromtimestamp(1.7e9, UTC)
        fires: list[datetime] = []
        previous = None
        for _ in range(30):
            wall = trigger.get_next_fire_time(previous, now)
            assert wall is not None
            fires.append(clock.from_wall(wall.timestamp()))
            previous, now = wall, wall
        days = [f.astimezone(trigger.inner.timezone).date() for f in fires]
        assert len(set(days)) == 30  # one fire per day, never the same slot twice
        assert all(abs(f.astimezone(trigger.inner.timezone).hour - 16) == 0 for f in fires)


class TestMissedFires:
    def test_a_fire_missed_while_the_scheduler_could_not_run_is_caught_up_once_logged_and_noted(self) -> None:
        import asyncio

        import structlog

        from core.clock import LiveClock
        from daemon.scheduler import MissedFires, build_scheduler

        async def scenario() -> list[tuple[str, str | None]]:
            ran: list[tuple[str, str | None]] = []
            fire = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
            trigger = CronTrigger(hour=fire.hour, minute=fire.minute, second=fire.second, timezone=UTC)  # once a day
            missed = MissedFires(structlog.get_logger(), late_after=timedelta(seconds=0.5))

            async def run_job(name: str) -> None:
                ran.append((name, missed.take(name)))

            scheduler = build_scheduler({"rebalance": trigger}, LiveClock(), run_job, missed)
            scheduler.start(paused=True)  # the host "sleeps" through the fire time
            await asyncio.sleep((fire - datetime.now(UTC)).total_seconds() + 1.5)
            scheduler.resume()
            for _ in range(100):
                if ran:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            scheduler.shutdown(wait=False)
            return ran

        with structlog.testing.capture_logs() as logs:
            ran = asyncio.run(scenario())
        assert len(ran) == 1
        name, note = ran[0]
        assert name == "rebalance" and note is not None and note.startswith("caught up: fire at")
        (warning,) = [e for e in logs if e["event"] == "job_fire_missed"]
        assert warning["job"] == "rebalance" and warning["late_s"] >= 1.0
