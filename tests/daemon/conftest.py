"""Fixtures for the daemon tests that need a trained model."""

from __future__ import annotations

from pathlib import Path

import pytest
from learning_testkit import learning_config


@pytest.fixture(scope="session")
def champion(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tmp folder, the champion's registry folder): a tiny TFT trained on 2016-01 .. 2019-03."""
    from models.train import run_training

    tmp = tmp_path_factory.mktemp("learning")
    return tmp, run_training(learning_config(tmp).models).checkpoint
