import numpy as np
import pytest
from numpy.testing import assert_allclose

from models.config import DataConfig
from models.normaliser import Normaliser
from models.splits import train_val_split, walk_forward_folds


class TestWalkForwardFolds:
    def test_every_training_row_ends_its_label_before_the_test_block(self):
        cfg = DataConfig(horizons=(1, 5, 20), vol_target=True, vol_horizon=20, embargo=5)
        folds = walk_forward_folds(np.arange(100, 1100), 4, cfg.label_horizon, cfg.embargo, 400)
        assert len(folds) == 4
        for fold in folds:
            assert fold.train[0] == 100
            # label of the last training row (t + 20) still falls before test start - embargo
            assert fold.train[-1] + cfg.label_horizon < fold.test[0] - cfg.embargo
            assert fold.test[0] - fold.train[-1] - 1 == cfg.label_horizon + cfg.embargo
        tests = np.concatenate([f.test for f in folds])
        assert np.all(np.diff(tests) == 1)  # consecutive, disjoint, ordered blocks

    def test_too_short_a_range_is_an_error(self):
        with pytest.raises(ValueError):
            walk_forward_folds(np.arange(0, 50), 5, 20, 5, 40)


class TestTrainValSplit:
    def test_validation_is_the_tail_after_purge_and_embargo(self):
        split = train_val_split(np.arange(0, 1000), 0.2, 20, 5)
        assert split.test[0] == 800 and split.test[-1] == 999
        assert split.train[-1] == 800 - 25 - 1


class TestNormaliser:
    def test_statistics_come_from_training_rows_only(self):
        rng = np.random.default_rng(0)
        x = rng.normal(2.0, 3.0, size=(200, 4, 3)).astype(np.float32)
        y = rng.normal(0.0, 0.1, size=(200, 4, 2)).astype(np.float32)
        rows = np.arange(200) < 120
        base = Normaliser.fit(x, y, rows)
        x2, y2 = x.copy(), y.copy()
        x2[120:] += 1000.0  # the future is wildly different; the fit must not notice
        y2[120:] *= 50
        moved = Normaliser.fit(x2, y2, rows)
        assert_allclose(moved.feature_mean, base.feature_mean)
        assert_allclose(moved.target_std, base.target_std)
        assert_allclose(base.feature_mean, x[:120].mean(axis=(0, 1)), rtol=1e-5)

    def test_round_trips_through_a_plain_dict_and_inverts_targets(self):
        rng = np.random.default_rng(1)
        x, y = rng.normal(size=(50, 2, 3)), rng.normal(1.0, 2.0, size=(50, 2, 2))
        norm = Normaliser.fit(x, y, np.ones(50, bool))
        again = Normaliser.from_dict(norm.to_dict())
        q = norm.targets(y)[..., None].repeat(3, -1)
        assert_allclose(again.inverse_targets(q)[..., 0], y, rtol=1e-5)

    def test_a_constant_feature_gets_unit_scale_not_a_division_by_zero(self):
        x = np.ones((10, 2, 1))
        norm = Normaliser.fit(x, np.zeros((10, 2, 1)), np.ones(10, bool))
        assert np.isfinite(norm.features(x)).all()
