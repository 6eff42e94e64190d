"""Entity linking: which universe symbols a text is about.

Three kinds of mention, all whole-word:

- cashtags (``$AAPL``, any case), always;
- bare tickers, upper case as written (``AAPL``, not ``aapl``), except tickers that are
  English words (``ALL``, ``IT``, ``KEY``, ``ON``), which need a cashtag or an alias;
- company names and aliases (``Apple``, ``Bank of America``), any case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["EntityLinker"]

_WORD = r"(?<![\w$&.-]){}(?![\w&-]|\.\w)"


class EntityLinker:
    """Links texts to the symbols of ``universe``.

    ``aliases``: symbol -> names (symbols outside the universe are ignored);
    ``english_words``: tickers that never link as bare words.
    """

    def __init__(
        self,
        universe: Iterable[str],
        aliases: Mapping[str, Iterable[str]] | None = None,
        english_words: Iterable[str] = (),
    ) -> None:
        self.universe = tuple(dict.fromkeys(universe))
        known = set(self.universe)
        words = {w.upper() for w in english_words}
        self._cashtag = re.compile(r"\$([A-Za-z][A-Za-z0-9.]{0,9})(?![\w])")
        bare = sorted((s for s in self.universe if s.upper() not in words), key=len, reverse=True)
        self._bare = (
            re.compile("|".join(_WORD.format(f"(?P<t{i}>{re.escape(s)})") for i, s in enumerate(bare)))
            if bare
            else None
        )
        self._bare_names = bare
        self._aliases: list[tuple[re.Pattern[str], str]] = []
        for symbol, names in (aliases or {}).items():
            if symbol not in known:
                continue
            for name in names:
                pattern = re.compile(_WORD.format(re.escape(name.strip())), re.IGNORECASE)
                self._aliases.append((pattern, symbol))
        self._upper = {s.upper(): s for s in self.universe}

    def link(self, text: str) -> tuple[str, ...]:
        """Symbols mentioned in ``text``, in universe order (empty when none)."""
        found: set[str] = set()
        for tag in self._cashtag.findall(text):
            symbol = self._upper.get(tag.upper().rstrip("."))
            if symbol is not None:
                found.add(symbol)
        if self._bare is not None:
            for match in self._bare.finditer(text):
                found.add(self._bare_names[int(match.lastgroup[1:])])  # type: ignore[index]
        for pattern, symbol in self._aliases:
            if symbol not in found and pattern.search(text):
                found.add(symbol)
        return tuple(s for s in self.universe if s in found)
