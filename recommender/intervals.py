"""Uncertainty for offline figures: percentile bootstrap intervals of a mean, of the difference
of two systems' means (paired when both were measured on the same units), and Wilson's interval
for a proportion of a few trials.

Every interval is 95 % by default, from ``n_boot`` resamples drawn with a fixed seed, so the
same numbers give the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Interval", "bootstrap_mean", "difference", "wilson"]

N_BOOT = 2000


@dataclass(frozen=True)
class Interval:
    """A mean with its interval, over ``n`` units (questions, people, groups)."""

    mean: float
    low: float
    high: float
    n: int
    paired: bool | None = None  # for a difference: resampled by unit (True) or each side alone

    def to_dict(self) -> dict[str, float | int | bool | None]:
        return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in asdict(self).items()}

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


_NAN = float("nan")


def bootstrap_mean(values: Sequence[float] | np.ndarray, *, seed: int = 0, n_boot: int = N_BOOT,
                   level: float = 0.95) -> Interval:
    """The mean of ``values`` with a percentile bootstrap interval (resampling the values with
    replacement ``n_boot`` times). Empty: NaN. One value: the interval is that value."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return Interval(_NAN, _NAN, _NAN, 0)
    rng = np.random.default_rng(seed)
    boots = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    a = (1 - level) / 2 * 100
    return Interval(float(x.mean()), float(np.percentile(boots, a)), float(np.percentile(boots, 100 - a)), int(x.size))


def difference(a: Mapping[str, float], b: Mapping[str, float], *, seed: int = 0, n_boot: int = N_BOOT,
               level: float = 0.95) -> Interval:
    """``mean(b) - mean(a)`` with a bootstrap interval. When both were measured on the same
    units (the same keys: question ids, person ids, groups), units are resampled together
    (paired: the per-unit differences are bootstrapped); otherwise each side is resampled on
    its own and the difference of the resampled means is taken."""
    if not a or not b:
        return Interval(_NAN, _NAN, _NAN, 0)
    lo_q, hi_q = (1 - level) / 2 * 100, 100 - (1 - level) / 2 * 100
    if set(a) == set(b):
        keys = sorted(a)
        d = np.array([b[k] - a[k] for k in keys], dtype=np.float64)
        res = bootstrap_mean(d, seed=seed, n_boot=n_boot, level=level)
        return Interval(res.mean, res.low, res.high, res.n, paired=True)
    rng = np.random.default_rng(seed)
    xa = np.fromiter(a.values(), dtype=np.float64)
    xb = np.fromiter(b.values(), dtype=np.float64)
    ba = xa[rng.integers(0, xa.size, size=(n_boot, xa.size))].mean(axis=1)
    bb = xb[rng.integers(0, xb.size, size=(n_boot, xb.size))].mean(axis=1)
    diffs = bb - ba
    return Interval(float(xb.mean() - xa.mean()), float(np.percentile(diffs, lo_q)), float(np.percentile(diffs, hi_q)),
                    int(min(xa.size, xb.size)), paired=False)


def wilson(successes: int, trials: int, *, z: float = 1.959964) -> Interval:
    """Wilson's score interval for a proportion (good for a handful of trials, e.g. 6 judged
    items of a top 10, where a bootstrap of ten 0/1 values is too narrow)."""
    if trials <= 0:
        return Interval(_NAN, _NAN, _NAN, 0)
    p = successes / trials
    den = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / den
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / den
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), trials)
