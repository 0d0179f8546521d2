"""A service's output: the log lines of all its pods, merged in time order.

Lines come from the kubelet through the API server with their timestamps (RFC 3339 with
nanoseconds), which are the cursor: a caller that wants only newer lines passes the last
timestamp it saw, and gets strictly later ones. A pod whose log cannot be read (not started,
its node unreachable) is reported with the reason instead of failing the whole answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from meshploy_core.kube.adapter import KubeAdapter, KubeError
from meshploy_core.kube.spec import LABEL_SERVICE

#: Bytes read per pod and request (a runaway log cannot make one answer huge).
LIMIT_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class LogLine:
    """One line a container wrote."""

    pod: str
    time: str  # UTC, RFC 3339 with 9 fraction digits: sorts as text, and is the cursor
    message: str


@dataclass(frozen=True)
class ServiceLogs:
    """Lines of every pod of a service, oldest first, and pods that could not be read."""

    lines: list[LogLine]
    unavailable: list[tuple[str, str]]


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def normalize_time(stamp: str) -> str | None:
    """An RFC 3339 timestamp as UTC with 9 fraction digits (sortable as text), or None."""
    m = _STAMP.match(stamp)
    if m is None:
        return None
    base, frac, zone = m.groups()
    when = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + "." + (frac or "").ljust(9, "0") + "Z"


def parse_line(pod: str, raw: str, previous: str = "") -> LogLine | None:
    """``<RFC 3339 time> <message>`` -> LogLine (None for a blank line).

    A line without a readable timestamp keeps the previous line's time.
    """
    if not raw:
        return None
    stamp, _, message = raw.partition(" ")
    when = normalize_time(stamp)
    if when is None:
        return LogLine(pod, previous, raw)
    return LogLine(pod, when, message)


def _seconds_since(after: str) -> int:
    """Whole seconds from ``after`` to now, rounded up (the kubelet's sinceSeconds is coarse)."""
    then = datetime.fromisoformat(after[:19] + "+00:00")
    return max(1, math.ceil((datetime.now(UTC) - then).total_seconds()) + 1)


async def service_logs(
    kube: KubeAdapter,
    namespace: str,
    service: str,
    *,
    tail: int,
    after: str | None = None,
) -> ServiceLogs:
    """The newest ``tail`` lines of ``service``; with ``after``, the first ``tail`` lines
    stamped later than it (so a caller following with the last time it saw misses nothing).

    ``after`` must be a time this module produced (:func:`normalize_time`'s form).
    """
    pods = await kube.list("v1", "Pod", namespace, label_selector=f"{LABEL_SERVICE}={service}")
    lines: list[LogLine] = []
    unavailable: list[tuple[str, str]] = []
    since = _seconds_since(after) if after else None
    #: Lines later than this may be missing (a pod's answer hit LIMIT_BYTES): held back, so
    #: a caller following with the cursor never skips any.
    horizon: str | None = None
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        name = pod["metadata"]["name"]
        try:
            text = await kube.pod_log(
                namespace,
                name,
                tail_lines=None if since else tail,
                since_seconds=since,
                limit_bytes=LIMIT_BYTES,
            )
        except KubeError as exc:
            unavailable.append((name, str(exc)))
            continue
        raw_lines = text.splitlines()
        truncated = len(text.encode()) >= LIMIT_BYTES - 1
        if truncated:
            raw_lines = raw_lines[:-1]  # the cut may fall inside the last line
        previous = ""
        for raw in raw_lines:
            line = parse_line(name, raw, previous)
            if line is None:
                continue
            previous = line.time
            if after is None or line.time > after:
                lines.append(line)
        if truncated and previous and (horizon is None or previous < horizon):
            horizon = previous
    if horizon is not None:
        lines = [ln for ln in lines if ln.time <= horizon]
    lines.sort(key=lambda ln: ln.time)  # stable: one pod's lines keep their order
    # Newest lines for a first look; with a cursor, the next ones in order (no gaps).
    picked = lines[:tail] if after is not None else lines[-tail:]
    return ServiceLogs(picked, unavailable)
