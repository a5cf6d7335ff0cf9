"""QueryExpander: a text read in the law's words as well as its own.

Everyday words are expanded with the legal words of the colloquial lexicon (老板不给工钱 ->
拖欠劳动报酬), so a person's question is read in the law's vocabulary: by the topic classifier
(:mod:`recommender.classify`) and by the answer path's lexicon stage (:mod:`recommender.answer`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corpus.taxonomy import Taxonomy

__all__ = ["QueryExpander"]


class QueryExpander:
    """Adds the legal words of every colloquial phrase found in a text.

    Matching is by substring (people write without spaces and with typos, so a phrase such
    as 不给工钱 must match inside 老板一直不给工钱怎么办). All phrases go into one
    Aho-Corasick automaton, so a text is scanned once whatever the size of the lexicon.
    """

    def __init__(self, taxonomy: Taxonomy | None = None,
                 entries: Sequence[tuple[Sequence[str], Sequence[str], Sequence[str]]] | None = None) -> None:
        if entries is None:
            entries = [(e.colloquial, e.legal, e.topics) for e in (taxonomy.colloquial if taxonomy else [])]
        self.entries = [(tuple(c), tuple(lg), tuple(t)) for c, lg, t in entries]
        self._automaton: Any = None

    def _auto(self) -> Any:
        if self._automaton is None:
            import ahocorasick

            by_phrase: dict[str, list[int]] = {}
            for k, (coll, _, _) in enumerate(self.entries):
                for phrase in coll:
                    by_phrase.setdefault(phrase, []).append(k)
            auto = ahocorasick.Automaton()
            for phrase, ks in by_phrase.items():
                auto.add_word(phrase, (phrase, tuple(ks)))
            if by_phrase:
                auto.make_automaton()
            self._automaton = auto
        return self._automaton

    def __getstate__(self) -> dict[str, Any]:
        return {"entries": self.entries, "_automaton": None}

    def matches(self, text: str) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
        """(phrase, legal words, topics) for each lexicon entry whose phrase occurs in text."""
        auto = self._auto()
        if not self.entries or auto.kind != 2:  # 2 == ahocorasick.AHOCORASICK (built)
            return []
        found: dict[int, str] = {}
        for _, (phrase, ks) in auto.iter(text):
            for k in ks:
                found.setdefault(k, phrase)
        return [(found[k], self.entries[k][1], self.entries[k][2]) for k in sorted(found)]

    def extra(self, text: str) -> str:
        """The legal words to add to ``text`` ("" when no phrase matches)."""
        return " ".join(dict.fromkeys(w for _, legal, _ in self.matches(text) for w in legal))

    def expand(self, text: str) -> str:
        extra = self.extra(text)
        return f"{text}\n{extra}" if extra else text

    def save(self, path: Path) -> None:
        rows = [{"colloquial": list(c), "legal": list(lg), "topics": list(t)} for c, lg, t in self.entries]
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> QueryExpander:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return cls(entries=[(r["colloquial"], r["legal"], r["topics"]) for r in rows])
