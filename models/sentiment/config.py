"""``[sentiment]``: the scorer, its batching and CPU options, entity linking and features.

Kept apart from ``models.config`` (and free of torch) so the daemon can read it cheaply.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from core.settings import Section

__all__ = ["DEFAULT_ALIASES", "ENGLISH_WORD_TICKERS", "SentimentConfig"]

# Company names for the bundled universe (skfolio's 20 S&P 500 stocks and arch's indices).
# Matched case-insensitively as whole words; a configured alias list replaces the default
# for its symbol.
DEFAULT_ALIASES: dict[str, tuple[str, ...]] = {
    "AAPL": ("Apple", "iPhone maker"),
    "AMD": ("Advanced Micro Devices",),
    "BAC": ("Bank of America", "BofA"),
    "BBY": ("Best Buy",),
    "CVX": ("Chevron",),
    "GE": ("General Electric", "GE Aerospace", "GE Vernova"),
    "HD": ("Home Depot",),
    "JNJ": ("Johnson & Johnson", "J&J"),
    "JPM": ("JPMorgan", "JP Morgan", "JPMorgan Chase"),
    "KO": ("Coca-Cola", "Coca Cola"),
    "LLY": ("Eli Lilly", "Lilly"),
    "MRK": ("Merck",),
    "MSFT": ("Microsoft",),
    "PEP": ("PepsiCo", "Pepsi"),
    "PFE": ("Pfizer",),
    "PG": ("Procter & Gamble", "Procter and Gamble", "P&G"),
    "RRC": ("Range Resources",),
    "UNH": ("UnitedHealth", "United Health"),
    "WMT": ("Walmart", "Wal-Mart"),
    "XOM": ("Exxon", "ExxonMobil", "Exxon Mobil"),
    "SP500": ("S&P 500", "S&P500"),
    "NASDAQ": ("Nasdaq Composite",),
}

# Tickers that are also everyday words: a bare "ON" or "IT" is no mention of ON Semi or
# Gartner. These link only through a cashtag ($ON) or an alias.
ENGLISH_WORD_TICKERS: tuple[str, ...] = (
    "A", "ALL", "AN", "ANY", "ARE", "BE", "BIG", "CAN", "CAR", "DO", "EAT", "FOR", "FUN", "GO",
    "GOOD", "HAS", "HE", "HD", "IT", "KEY", "LOW", "MAN", "NEW", "NOW", "ON", "ONE", "OUT",
    "PEP", "PG", "RUN", "SEE", "SO", "TWO", "UP", "WELL", "YOU",
)  # fmt: skip


class SentimentConfig(Section):
    """``[sentiment]``: see README, "Sentiment", for every key."""

    enabled: bool = True
    model: str = Field(default="ProsusAI/finbert", min_length=1, description="hub id or local folder")
    cache_dir: str | None = Field(default=None, description="Hugging Face cache; default: HF_HOME's")
    fallback: Literal["vader", "none"] = "vader"
    backend: Literal["torch", "int8", "onnx"] = "torch"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(default=None, ge=1, description="CPU threads for inference")
    batch_size: int = Field(default=32, ge=1)
    headline_max_length: int = Field(default=64, ge=8, le=512)
    body_max_length: int = Field(default=256, ge=8, le=512)
    include_body: bool = True
    half_life_days: float = Field(default=3.0, gt=0)
    dedup_days: int = Field(default=30, ge=0, description="days of stored hashes a restart remembers")
    aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    english_word_tickers: tuple[str, ...] = ENGLISH_WORD_TICKERS

    @field_validator("aliases", mode="before")
    @classmethod
    def _alias_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for symbol, names in value.items():
                if isinstance(names, str):
                    names = [names]
                if not isinstance(names, list | tuple) or not all(isinstance(n, str) and n.strip() for n in names):
                    raise ValueError(f"aliases.{symbol}: expected a list of non-empty names")
                out[symbol] = tuple(names)
            return out
        return value

    @field_validator("english_word_tickers", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return tuple(str(v).upper() for v in value) if isinstance(value, list | tuple) else value

    @model_validator(mode="after")
    def _lengths(self) -> SentimentConfig:
        if self.body_max_length < self.headline_max_length:
            raise ValueError("body_max_length: must be >= headline_max_length")
        return self

    def alias_table(self) -> dict[str, tuple[str, ...]]:
        """Defaults for the bundled universe, with configured symbols replacing theirs."""
        return {**DEFAULT_ALIASES, **self.aliases}
