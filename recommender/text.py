"""LegalTokenizer: Chinese legal text -> tokens, with jieba's algorithm and a legal dictionary.

Two backends cut the same way: ``rjieba`` (jieba-rs, a Rust port of jieba's algorithm; the
fast default) and ``jieba`` (the Python reference). Both get the legal dictionary through
``add_word(word, freq, tag)`` with explicit frequencies, so they agree (see
``bench/tokenizer.py`` for the measured agreement). Each tokenizer owns its own segmenter —
never jieba's global one — and drops it when pickled (jieba's holds a lock), rebuilding it
lazily.

``cut`` returns jieba's raw segmentation of the normalised text; ``tokenize`` is what the
index and the classifier read: no whitespace or punctuation, no stop words, Latin lower-cased,
Mongolian-script words kept whole.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, Literal

from corpus.taxonomy import DictWord, Taxonomy, load_taxonomy

__all__ = ["LegalTokenizer", "normalize"]

Backend = Literal["rjieba", "jieba"]

# Full-width ASCII (U+FF01..U+FF5E) -> ASCII, ideographic space -> space.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20


def normalize(text: str) -> str:
    """Full-width letters, digits and punctuation to their ASCII forms; nothing else changes."""
    return text.translate(_FULLWIDTH)


_MONGOLIAN = re.compile(r"^[\u1800-\u18AF\u202F\u180B-\u180F]+$")
_KEEP = re.compile(r"[\w\u1800-\u18AF]")  # tokens with no word character are punctuation
# Bare numbers and article/paragraph labels (三十, 第三十条, 12%) carry no topic.
_NUMBERISH = re.compile(r"^第?[\d.,%零〇一二三四五六七八九十百千万两]+[条款项章节编号]?$")


class LegalTokenizer:
    """jieba segmentation with the legal user dictionary; deterministic and picklable."""

    def __init__(
        self,
        *,
        backend: Backend = "rjieba",
        hmm: bool = True,
        search_mode: bool = True,
        words: Sequence[DictWord] | None = None,
        stopwords: Iterable[str] | None = None,
        taxonomy: Taxonomy | None = None,
        cache_size: int = 4096,
    ) -> None:
        if backend not in ("rjieba", "jieba"):
            raise ValueError(f"backend must be 'rjieba' or 'jieba', not {backend!r}")
        tax = taxonomy if (words is None or stopwords is None) else None
        if tax is None and (words is None or stopwords is None):
            tax = load_taxonomy()
        self.backend = backend
        self.hmm = hmm
        self.search_mode = search_mode
        self.words: tuple[DictWord, ...] = tuple(words if words is not None else tax.dictionary)  # type: ignore[union-attr]
        self.stopwords: frozenset[str] = frozenset(
            stopwords if stopwords is not None else tax.stopwords  # type: ignore[union-attr]
        )
        self.cache_size = cache_size
        self._seg: Any = None
        self._parts: dict[str, tuple[str, ...]] | None = None
        self._lock = threading.Lock()
        self._cached = lru_cache(maxsize=cache_size)(self._tokenize_uncached) if cache_size else None

    # -- the segmenter, built lazily and dropped on pickling -------------------------------
    def _segmenter(self) -> Any:
        if self._seg is None:
            with self._lock:
                if self._seg is None:
                    self._seg = self._build()
        return self._seg

    def _build(self) -> Any:
        if self.backend == "rjieba":
            import rjieba

            seg = rjieba.Jieba()
        else:
            import logging

            import jieba

            jieba.setLogLevel(logging.WARNING)
            seg = jieba.Tokenizer()
            seg.initialize()
        for w in self.words:
            seg.add_word(w.word, w.freq, w.tag)
        return seg

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_seg"] = None
        state["_parts"] = None
        state["_lock"] = None
        state["_cached"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._cached = (
            lru_cache(maxsize=self.cache_size)(self._tokenize_uncached) if self.cache_size else None
        )

    # -- public API -------------------------------------------------------------------------
    def cut(self, text: str) -> list[str]:
        """jieba's segmentation of the normalised text, every piece kept (spaces too)."""
        seg = self._segmenter()
        text = normalize(text)
        if self.backend == "rjieba":
            return list(seg.cut(text, self.hmm))
        return list(seg.cut(text, HMM=self.hmm))

    def _compound_parts(self) -> dict[str, tuple[str, ...]]:
        """Each legal-dictionary compound (4+ characters) cut by jieba's own dictionary:
        人身安全保护令 -> 人身 安全 保护令, so a query for 安全保护 still meets it."""
        if self._parts is None:
            import rjieba

            plain = rjieba.Jieba()
            parts: dict[str, tuple[str, ...]] = {}
            for w in self.words:
                if len(w.word) >= 4:
                    sub = tuple(p for p in plain.cut(w.word, False) if len(p) >= 2 and p != w.word)
                    if sub:
                        parts[w.word] = sub
            self._parts = parts
        return self._parts

    def tokenize(self, text: str) -> list[str]:
        """Tokens for indexing: no spaces, punctuation, numbers or stop words.

        In search mode (the default) a legal compound is followed by its parts."""
        if not text:
            return []
        if self._cached is not None and len(text) <= 256:
            return list(self._cached(text))
        return self._tokenize_uncached(text)

    def __call__(self, text: str) -> list[str]:
        return self.tokenize(text)

    def _tokenize_uncached(self, text: str) -> list[str]:
        out: list[str] = []
        mongol: list[str] = []
        parts = self._compound_parts() if self.search_mode else {}
        for piece in self.cut(text):
            if _MONGOLIAN.match(piece):
                mongol.append(piece)  # jieba splits Mongolian script into letters: rejoin
                continue
            if mongol:
                out.append("".join(mongol))
                mongol = []
            if not _KEEP.search(piece):
                continue
            tok = piece.strip().lower()
            if not tok or tok in self.stopwords or _NUMBERISH.match(tok):
                continue
            out.append(tok)
            sub = parts.get(tok)
            if sub:
                out.extend(p for p in sub if p not in self.stopwords)
        if mongol:
            out.append("".join(mongol))
        return out

    def config(self) -> dict[str, Any]:
        """What an artifact records to rebuild an identical tokenizer."""
        return {"backend": self.backend, "hmm": self.hmm, "search_mode": self.search_mode,
                "n_words": len(self.words),
                "n_stopwords": len(self.stopwords)}

    def __repr__(self) -> str:
        return f"LegalTokenizer(backend={self.backend!r}, hmm={self.hmm}, words={len(self.words)})"
