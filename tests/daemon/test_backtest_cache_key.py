"""The backtest checkpoint cache key: `models_hash` covers what decides a checkpoint, no more."""

from __future__ import annotations

from pathlib import Path

from testkit import make_config

from daemon.backtest_retrain import models_hash


def _key(**tables) -> str:
    return models_hash(make_config(**tables).models)


class TestCacheKey:
    def test_runs_that_differ_only_in_risk_share_their_checkpoints(self):
        base = make_config()
        for risk in ({"vol_source": "model"}, {"vol_source": "blend", "vol_blend": 0.3}, {"target_vol": 0.1}):
            other = make_config(risk=risk)
            assert other.config_hash() != base.config_hash()  # a different run ...
            assert models_hash(other.models) == models_hash(base.models)  # ... the same checkpoints

    def test_knobs_that_leave_the_weights_alone_keep_the_key(self):
        base = _key()
        assert _key(models={"swap": {"tolerance": 0.5, "min_holdout_days": 30}}) == base
        assert _key(models={"retrain": {"timeout_s": 60.0, "heartbeat_s": 1.0}}) == base
        assert _key(models={"backtest_retrain": "torchrun", "serve": {"threads": 4}}) == base
        assert _key(models={"registry_dir": "/elsewhere", "run_dir": "/tmp/x"}) == base
        # The window end is the other half of the key (the manifest's training window).
        assert _key(models={"data": {"start": "2001-01-01", "end": "2010-12-31"}}) == base

    def test_what_decides_the_checkpoint_changes_the_key(self):
        base = _key()
        changed = [
            {"train": {"seed": 1}},
            {"train": {"epochs": 3}},
            {"model": {"family": "tft", "hidden_size": 16}},
            {"data": {"encoder_length": 30}},
            {"swap": {"holdout_days": 40}},  # moves every training window's end
            {"retrain": {"window_days": 2000}},  # moves every training window's start
        ]
        keys = {_key(models=c) for c in changed}
        assert base not in keys and len(keys) == len(changed)

    def test_a_sentiment_rows_file_counts_by_its_content_not_its_path(self, tmp_path: Path):
        first, copy, other = (tmp_path / name for name in ("a.parquet", "b.parquet", "c.parquet"))
        first.write_bytes(b"rows of one scoring run")
        copy.write_bytes(first.read_bytes())
        other.write_bytes(b"rows of another scoring run")

        def key(path: Path) -> str:
            return _key(models={"data": {"sentiment": "finbert", "sentiment_rows": str(path)}})

        assert key(first) == key(copy)
        assert key(other) != key(first)
        first.write_bytes(b"rescored rows")  # the same path, new content: new checkpoints
        assert key(first) != key(copy)
