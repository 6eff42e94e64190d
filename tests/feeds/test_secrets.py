"""Credentials from the environment or a secrets file, and their redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from daemon.feeds.secrets import Secrets, SecretsError, load_secrets, redact_processor


class TestLoadSecrets:
    def test_the_environment_wins_over_the_secrets_file(self, tmp_path: Path) -> None:
        file = tmp_path / "secrets.env"
        file.write_text('# tradingd\nTRADINGD_FMP_API_KEY="from-file-123"\nexport TRADINGD_NEWSAPI_KEY=news-456\n')
        file.chmod(0o600)

        secrets = load_secrets({"TRADINGD_SECRETS_FILE": str(file), "TRADINGD_FMP_API_KEY": "from-env-789"})

        assert secrets.get("TRADINGD_FMP_API_KEY") == "from-env-789"
        assert secrets.get("TRADINGD_NEWSAPI_KEY") == "news-456"
        assert secrets.get("TRADINGD_FRED_API_KEY") is None
        assert secrets.present() == ["TRADINGD_FMP_API_KEY", "TRADINGD_NEWSAPI_KEY"]

    def test_an_unknown_name_in_the_file_is_named_without_its_value(self, tmp_path: Path) -> None:
        file = tmp_path / "secrets.env"
        file.write_text("TRADINGD_NEWSAPI_KY=sekrit-value\n")

        with pytest.raises(SecretsError, match="line 1: unknown name 'TRADINGD_NEWSAPI_KY'") as error:
            load_secrets({}, path=file)
        assert "sekrit-value" not in str(error.value)

    def test_a_secrets_file_readable_by_others_is_warned_about(self, tmp_path: Path) -> None:
        file = tmp_path / "secrets.env"
        file.write_text("TRADINGD_FRED_API_KEY=abcd1234\n")
        file.chmod(0o644)

        with capture_logs() as logs:
            load_secrets({}, path=file)

        assert logs[0]["event"] == "secrets_file_permissive" and "abcd1234" not in str(logs)

    def test_a_missing_file_is_a_clear_error(self, tmp_path: Path) -> None:
        with pytest.raises(SecretsError, match="cannot read"):
            load_secrets({"TRADINGD_SECRETS_FILE": str(tmp_path / "absent.env")})


class TestSecretsRedaction:
    def test_values_are_masked_raw_and_url_encoded_and_never_in_the_repr(self) -> None:
        secrets = Secrets({"TRADINGD_FMP_API_KEY": "k3y/with+chars", "TRADINGD_REDDIT_USER_AGENT": "tradingd"})

        text = secrets.redact("GET /ratios?apikey=k3y%2Fwith%2Bchars failed; key k3y/with+chars")

        assert text == "GET /ratios?apikey=*** failed; key ***"
        assert "k3y" not in repr(secrets)
        assert secrets.redact("tradingd user agent") == "tradingd user agent"

    def test_the_structlog_processor_masks_every_string_field(self) -> None:
        secrets = Secrets({"TRADINGD_NEWSAPI_KEY": "abcdef123456"})

        event = redact_processor(secrets)(
            None, "error", {"event": "pull_failed", "error": "bad key abcdef123456", "n": 3}
        )

        assert event == {"event": "pull_failed", "error": "bad key ***", "n": 3}
