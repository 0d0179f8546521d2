"""Prometheus metrics: cheap counters in each worker, summed by the supervisor on scrape.

The hot path only does integer and float arithmetic on plain attributes (no locks, no label
lookups through prometheus-client objects, no shared memory); the supervisor asks every worker
for a :meth:`WorkerMetrics.snapshot` when ``/metrics`` is scraped and renders the sum with
prometheus-client's exposition code. Counters and the histogram are summed over workers;
gauges carry a ``worker`` label.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

#: Request duration buckets, seconds (proxy-added latency is well under a millisecond).
BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

UPSTREAM_ERROR_KINDS = (
    "connect_refused",
    "connect_timeout",
    "reset",
    "read_timeout",
    "bad_response",
)


class WorkerMetrics:
    """Counters one worker updates on every request."""

    __slots__ = (
        "buckets",
        "bytes_in",
        "bytes_out",
        "connections",
        "duration_sum",
        "requests",
        "retries",
        "spliced_bytes",
        "upstream_errors",
    )

    def __init__(self) -> None:
        self.requests: dict[int, int] = {}
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.duration_sum = 0.0
        self.upstream_errors: dict[str, int] = dict.fromkeys(UPSTREAM_ERROR_KINDS, 0)
        self.retries = 0
        self.connections = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.spliced_bytes = 0

    def observe(self, status: int, seconds: float, bytes_in: int, bytes_out: int) -> None:
        """Count one finished request."""
        requests = self.requests
        requests[status] = requests.get(status, 0) + 1
        self.buckets[bisect_left(BUCKETS, seconds)] += 1
        self.duration_sum += seconds
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out

    def upstream_error(self, kind: str) -> None:
        """Count one connection-level upstream failure of ``kind``."""
        self.upstream_errors[kind] = self.upstream_errors.get(kind, 0) + 1

    def snapshot(self, **gauges: float) -> dict[str, Any]:
        """A JSON-ready copy of the counters plus the worker's current gauges."""
        return {
            "requests": {str(k): v for k, v in self.requests.items()},
            "buckets": list(self.buckets),
            "duration_sum": self.duration_sum,
            "upstream_errors": dict(self.upstream_errors),
            "retries": self.retries,
            "connections_total": self.connections,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "spliced_bytes": self.spliced_bytes,
            "gauges": gauges,
        }


GAUGE_HELP = {
    "routes": "Routes in the worker's table.",
    "route_table_age_seconds": "Seconds since the route table was last confirmed in sync with "
    "the database (grows while the database is unreachable).",
    "database_connected": "1 while the worker's LISTEN connection to PostgreSQL is up.",
    "connections_open": "Client connections open in the worker.",
    "upstreams": "Distinct upstream addresses known to the worker.",
    "upstreams_down": "Upstream addresses currently out of rotation (passive health).",
    "ready": "1 once the worker loaded its route table.",
}


class AggregateCollector(Collector):
    """Renders the sum of worker snapshots as Prometheus metric families."""

    def __init__(self, snapshots: Mapping[int, Mapping[str, Any]], extra: Mapping[str, float]):
        self._snapshots = snapshots
        self._extra = extra

    def collect(self) -> Iterator[Metric]:
        snaps = list(self._snapshots.items())
        requests = CounterMetricFamily(
            "meshploy_proxy_requests", "Requests answered, by status code.", labels=["code"]
        )
        totals: dict[str, int] = {}
        for _, snap in snaps:
            for code, n in snap["requests"].items():
                totals[code] = totals.get(code, 0) + n
        for code in sorted(totals):
            requests.add_metric([code], totals[code])
        yield requests

        buckets = [0] * (len(BUCKETS) + 1)
        total_sum = 0.0
        for _, snap in snaps:
            for i, n in enumerate(snap["buckets"]):
                buckets[i] += n
            total_sum += snap["duration_sum"]
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*BUCKETS, float("inf")), buckets, strict=True):
            running += n
            cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
        yield HistogramMetricFamily(
            "meshploy_proxy_request_duration_seconds",
            "Time from a complete request head to the end of the response.",
            buckets=cumulative,
            sum_value=total_sum,
        )

        errors = CounterMetricFamily(
            "meshploy_proxy_upstream_errors",
            "Connection-level upstream failures, by kind.",
            labels=["kind"],
        )
        kinds: dict[str, int] = dict.fromkeys(UPSTREAM_ERROR_KINDS, 0)
        for _, snap in snaps:
            for kind, n in snap["upstream_errors"].items():
                kinds[kind] = kinds.get(kind, 0) + n
        for kind, n in kinds.items():
            errors.add_metric([kind], n)
        yield errors

        for name, key, help_text in (
            ("meshploy_proxy_retries", "retries", "Requests retried on another upstream."),
            ("meshploy_proxy_connections", "connections_total", "Client connections accepted."),
            ("meshploy_proxy_received_bytes", "bytes_in", "Request body bytes received."),
            ("meshploy_proxy_sent_bytes", "bytes_out", "Response body bytes sent."),
            (
                "meshploy_proxy_spliced_bytes",
                "spliced_bytes",
                "Response body bytes moved socket to socket with splice(2), never copied.",
            ),
        ):
            yield CounterMetricFamily(name, help_text, value=sum(s.get(key, 0) for _, s in snaps))

        for gauge, help_text in GAUGE_HELP.items():
            family = GaugeMetricFamily(f"meshploy_proxy_{gauge}", help_text, labels=["worker"])
            for index, snap in snaps:
                value = snap["gauges"].get(gauge)
                if value is not None:
                    family.add_metric([str(index)], value)
            yield family

        for name, value in self._extra.items():
            yield GaugeMetricFamily(f"meshploy_proxy_{name}", name.replace("_", " "), value=value)


def render(snapshots: Mapping[int, Mapping[str, Any]], extra: Mapping[str, float]) -> bytes:
    """The Prometheus text exposition of ``snapshots`` (worker index -> snapshot)."""
    from prometheus_client import generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(AggregateCollector(snapshots, extra))
    return generate_latest(registry)


def route_table_age(synced_at: float) -> float:
    """Seconds since ``synced_at`` (wall clock), or -1 before the first load."""
    return time.time() - synced_at if synced_at else -1.0
