import pandas as pd
import pytest

from models.data import load_bundled, load_macro, read_packaged_csv


@pytest.mark.slow
class TestReadPackagedCsv:
    def test_equals_the_packages_own_loaders(self):
        from arch.data import core_cpi, default, nasdaq, sp500, wti
        from skfolio.datasets import load_sp500_dataset

        pairs = [
            (
                read_packaged_csv("skfolio", "datasets/data/sp500_dataset.csv.gz"),
                load_sp500_dataset(),
            ),
            (read_packaged_csv("arch", "data/wti/wti.csv.gz"), wti.load()),
            (read_packaged_csv("arch", "data/core_cpi/core-cpi.csv.gz"), core_cpi.load()),
            (read_packaged_csv("arch", "data/default/default.csv.gz"), default.load()),
            (read_packaged_csv("arch", "data/sp500/sp500.csv.gz"), sp500.load()),
            (read_packaged_csv("arch", "data/nasdaq/nasdaq.csv.gz"), nasdaq.load()),
        ]
        for ours, theirs in pairs:
            pd.testing.assert_frame_equal(
                ours, theirs, check_index_type=False, check_names=False, check_dtype=False
            )
            assert (ours.index == theirs.index).all()


class TestLoadBundled:
    def test_sp500_universe_has_twenty_stocks_and_no_volume(self):
        market = load_bundled("sp500_20", macro=False)
        assert market.prices.shape == (8313, 20) and market.volume is None
        assert market.prices.index[0] == pd.Timestamp("1990-01-02")

    def test_indices_universe_carries_volume(self):
        market = load_bundled("indices", macro=False)
        assert list(market.prices.columns) == ["SP500", "NASDAQ"]
        assert market.volume.shape == market.prices.shape
        assert (market.volume > 0).mean().min() > 0.9  # a few zero-volume days in the raw file

    def test_macro_is_stamped_after_the_period_it_describes(self):
        macro = load_macro()
        for name, frame in macro.items():
            assert (frame["available_at"] > frame.index).all(), name
        cpi = macro["cpi"]
        assert cpi.loc["2010-01-01", "available_at"] == pd.Timestamp("2010-02-15")
        assert macro["rates"].loc["2010-01-01", "available_at"] == pd.Timestamp("2010-02-01")

    def test_unknown_symbols_are_named(self):
        with pytest.raises(ValueError, match="NOPE"):
            load_bundled("sp500_20", ("AAPL", "NOPE"), macro=False)
