"""Prometheus metrics (prometheus_client), correct with several uvicorn workers.

Counted as requests are served (:class:`Metrics`, one per process):

- ``pufa_http_requests_total{method,route,status}`` and
  ``pufa_http_request_duration_seconds{method,route}`` (histogram): ``route`` is the route's
  template (``/v1/items/{item_id}``), ``unmatched`` for a path no route has, never the raw path;
- ``pufa_recommendations_total{variant,personalized}``;
- ``pufa_events_ingested_total{type}``: events stored (not duplicates, not refused).

Read from the database at each scrape (:class:`StateCollector`: the same answer whichever
worker is asked, so no per-process gauge is needed):

- ``pufa_model_info{version}`` (1 for the active version);
- ``pufa_build_progress`` (0..1) and ``pufa_build_state{state}`` of the newest build job.

Several workers: prometheus_client's multiprocess mode, where each process writes its values
to files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape sums them. That mode is chosen when
prometheus_client is imported, so :func:`get_metrics` decides before importing it. When the
variable is set (an operator running gunicorn, say), it is used as it is (the operator empties
it between runs, as prometheus_client's documentation says). When it is not set and this
process is a worker spawned by a supervisor (``pufa serve --workers N`` / uvicorn ``--workers``
use multiprocessing's spawn), the directory is ``<tmp>/pufa-metrics-<supervisor pid>-<its start
time>``: the same for every worker of one server run (and for a worker uvicorn restarts), new
for the next run, so each run starts from zero with nothing to set up beforehand. Directories
of supervisors that are gone are removed when a worker starts. A single process (``--workers
1``, tests) keeps its values in memory.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from recommender.service import PufaService

__all__ = ["Metrics", "StateCollector", "get_metrics", "multiprocess_dir"]

log = logging.getLogger("pufa.api")

ENV = "PROMETHEUS_MULTIPROC_DIR"
_PREFIX = "pufa-metrics-"
# Request latencies: 5 ms (a cached answer) to 10 s (a cold model load). Few buckets: each is a
# value to write per request and a series per route.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUILD_STATES = ("queued", "running", "done", "failed")


def _start_time(pid: int) -> str | None:
    """A process's start time (clock ticks since boot, /proc/PID/stat field 22): with the pid,
    it names one process for good, pids being reused. None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = _start_time(pid)
    return now is None or start in ("0", now)


def _remove_stale(parent: Path, keep: Path) -> None:
    """Remove the metric directories of supervisors that are gone (this user's only)."""
    try:
        entries = list(parent.glob(f"{_PREFIX}*"))
    except OSError:
        return
    for path in entries:
        if path == keep:
            continue
        pid, _, start = path.name[len(_PREFIX):].partition("-")
        try:
            if not pid.isdigit() or path.stat().st_uid != os.getuid() or _alive(int(pid), start):
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode for this process, or None for in-memory values.
    Sets ``PROMETHEUS_MULTIPROC_DIR`` when it chooses one itself (see the module's docstring)."""
    given = os.environ.get(ENV) or os.environ.get(ENV.lower())
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        return given
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return None
    path = Path(tempfile.gettempdir()) / f"{_PREFIX}{parent.pid}-{_start_time(parent.pid) or '0'}"
    _remove_stale(path.parent, keep=path)
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        if path.stat().st_uid != os.getuid():
            raise PermissionError(f"{path} belongs to another user")
    except OSError as exc:
        log.warning("metrics: no shared directory (%s); each worker counts its own requests", exc)
        return None
    os.environ[ENV] = str(path)
    return str(path)


class Metrics:
    """The counters of one process (see the module's docstring). Label children are kept in
    dicts: the request path does one dict lookup per metric, not prometheus_client's own."""

    def __init__(self) -> None:
        self.directory = multiprocess_dir()
        if self.directory is not None and "prometheus_client.values" in sys.modules:
            import prometheus_client.values as values

            if not isinstance(values.ValueClass, type) or values.ValueClass.__name__ != "MmapedValue":
                log.warning("metrics: prometheus_client was imported before its multiprocess directory was "
                            "set; each worker counts its own requests")
                self.directory = None
        from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

        disable_created_metrics()  # no *_created series: Prometheus does not need them
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("pufa_http_requests", "HTTP requests answered, by method, route template "
                                "and status", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("pufa_http_request_duration_seconds", "Time to answer an HTTP request, "
                                 "by method and route template", ["method", "route"], buckets=BUCKETS,
                                 registry=self.registry)
        self.recommendations = Counter("pufa_recommendations", "Recommendation lists served, by variant "
                                       "and whether personal data was used", ["variant", "personalized"],
                                       registry=self.registry)
        self.events = Counter("pufa_events_ingested", "Events stored through the API (duplicates and "
                              "refused events not counted), by type", ["type"], registry=self.registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    @property
    def multiprocess(self) -> bool:
        return self.directory is not None

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = "other"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def recommendation(self, variant: str, personalized: bool) -> None:
        self.recommendations.labels(variant, "true" if personalized else "false").inc()

    def events_ingested(self, by_type: dict[str, int]) -> None:
        for kind, n in by_type.items():
            if n:
                self.events.labels(kind).inc(n)

    def collectors(self) -> list[Any]:
        """What a scrape reads: this process's registry, or every worker's files."""
        if self.directory is None:
            return [self.registry]
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, self.directory)
        return [registry]


class StateCollector:
    """Read at each scrape from the database: the active model version and the newest build."""

    def __init__(self, service: PufaService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            version = self.service.models.loaded_version()
        except Exception as exc:  # a scrape answers whatever the database does
            log.warning("metrics: model version unknown: %s", exc)
            version = None
        info = GaugeMetricFamily("pufa_model_info", "The model version serving (value 1)", labels=["version"])
        if version is not None:
            info.add_metric([version], 1.0)
        yield info
        try:
            job = self.service.store.models.latest_job()
        except Exception as exc:
            log.warning("metrics: build jobs unreadable: %s", exc)
            return
        if job is None:
            return
        yield GaugeMetricFamily("pufa_build_progress", "Progress of the newest model build job (0 to 1)",
                                value=float(job.progress or 0.0))
        state = GaugeMetricFamily("pufa_build_state", "State of the newest model build job (1 for its state)",
                                  labels=["state"])
        for name in BUILD_STATES:
            state.add_metric([name], 1.0 if job.status == name else 0.0)
        yield state


class _Union:
    def __init__(self, sources: Iterable[Any]) -> None:
        self.sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def exposition(metrics: Metrics, service: PufaService, accept: str | None) -> tuple[bytes, str]:
    """The scrape's body and content type (OpenMetrics when the scraper asks for it)."""
    from prometheus_client.exposition import choose_encoder

    encoder: Callable[[Any], bytes]
    encoder, content_type = choose_encoder(accept or "")
    return encoder(_Union([*metrics.collectors(), StateCollector(service)])), content_type


_METRICS: Metrics | None = None
_METRICS_LOCK = threading.Lock()


def get_metrics() -> Metrics:
    """This process's metrics (made on first use: the multiprocess directory is chosen then)."""
    global _METRICS
    with _METRICS_LOCK:
        if _METRICS is None:
            _METRICS = Metrics()
        return _METRICS
