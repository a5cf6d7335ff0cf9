"""Cache: a small thread-safe LRU map with an optional time-to-live.

The engine keeps three caches — people's words read into its spaces (LRU by size), the
editors' campaigns (re-read every two seconds) and lists that use nothing about the person
(LRU, kept 30 seconds). They all use this class, so locking is written once, here: every
read, write, LRU move and eviction happens under the cache's own lock, and nothing is ever
computed while holding it (callers compute a missing value outside, then ``put`` it; two
threads missing at once may both compute, which is cheaper than making one wait).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Cache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Cache(Generic[K, V]):
    """At most ``maxsize`` entries, least recently used dropped first; an entry older than
    ``ttl`` seconds (when set) is a miss. ``ttl`` may be changed at any time (0 turns the
    cache off for reading)."""

    def __init__(self, maxsize: int, ttl: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value stored under ``key`` and still fresh, else None."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if self.ttl is not None and self._clock() - hit[0] >= self.ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return hit[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
