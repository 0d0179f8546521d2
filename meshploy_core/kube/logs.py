"""A service's output: the log lines of all its pods, merged in time order.

Lines come from the kubelet through the API server with their timestamps (RFC 3339 with
nanoseconds). The cursor is the position reached in each pod's log: a caller that wants only
newer lines passes the cursor of its last answer and gets every later line exactly once. A
pod whose log cannot be read (not started, its node unreachable) is reported with the reason
instead of failing the whole answer.
"""

from __future__ import annotations

import base64
import json
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
    """Lines of every pod of a service, oldest first, pods that could not be read, and the
    position reached in each pod's log (:func:`encode_cursor` makes it a cursor)."""

    lines: list[LogLine]
    unavailable: list[tuple[str, str]]
    positions: dict[str, str]


def encode_cursor(positions: dict[str, str]) -> str:
    """An opaque cursor for ``positions`` (pod -> time of the last line returned, or "")."""
    raw = json.dumps(sorted(positions.items()), separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, str]:
    """The positions in a cursor from :func:`encode_cursor`; ValueError if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        pairs = json.loads(raw)
        positions = {str(pod): str(when) for pod, when in pairs}
    except (ValueError, TypeError) as exc:
        raise ValueError("not a cursor from a previous answer") from exc
    if any(when and normalize_time(when) != when for when in positions.values()):
        raise ValueError("not a cursor from a previous answer")
    return positions


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
    positions: dict[str, str] | None = None,
) -> ServiceLogs:
    """The newest ``tail`` lines of ``service``; with ``positions`` (from a previous answer),
    the next ``tail`` lines after them, oldest first.

    Positions are kept per pod because pods are read one after another: a line one pod
    writes while another is being read can be stamped earlier than lines already returned,
    and a single time cursor would skip it. A pod not in ``positions`` (new since) is read
    from its start.
    """
    pods = await kube.list("v1", "Pod", namespace, label_selector=f"{LABEL_SERVICE}={service}")
    following = positions is not None
    lines: list[LogLine] = []
    newest: dict[str, str] = {}
    start: dict[str, str] = {}
    unavailable: list[tuple[str, str]] = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        name = pod["metadata"]["name"]
        after = (positions or {}).get(name, "") if following else None
        try:
            text = await kube.pod_log(
                namespace,
                name,
                tail_lines=None if following else tail,
                since_seconds=_seconds_since(after) if after else None,
                limit_bytes=LIMIT_BYTES,
            )
        except KubeError as exc:
            unavailable.append((name, str(exc)))
            continue
        raw_lines = text.splitlines()
        if len(text.encode()) >= LIMIT_BYTES - 1:
            raw_lines = raw_lines[:-1]  # the cut may fall inside the last line
        start[name] = after or ""
        previous = ""
        for raw in raw_lines:
            line = parse_line(name, raw, previous)
            if line is None:
                continue
            previous = line.time
            if not after or line.time > after:
                lines.append(line)
        newest[name] = previous or start[name]
    lines.sort(key=lambda ln: ln.time)  # stable: one pod's lines keep their order
    if following:
        picked = lines[:tail]
        reached = dict(start)
        for line in picked:
            reached[line.pod] = line.time
    else:
        picked = lines[-tail:]
        reached = newest  # older lines were before the window asked for
    # Pods that could not be read keep their place for the next call.
    for name, when in (positions or {}).items():
        reached.setdefault(name, when)
    return ServiceLogs(picked, unavailable, reached)
