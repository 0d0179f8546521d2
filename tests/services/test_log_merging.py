"""Merging pods' log lines: time order across pods, the cursor, unreadable pods, timestamps.

A stand-in for the Kubernetes adapter serves fixed texts: this is our own merging logic; the
real kubelet path is tested in tests/realnode/test_service_logs.py.
"""

from __future__ import annotations

from typing import Any

from meshploy_core.kube.adapter import KubeError
from meshploy_core.kube.logs import (
    decode_cursor,
    encode_cursor,
    normalize_time,
    parse_line,
    service_logs,
)


class Pods:
    """Answers ``list`` and ``pod_log`` like the adapter, from canned texts."""

    def __init__(self, texts: dict[str, str | Exception]) -> None:
        self.texts = texts
        self.calls: list[dict[str, Any]] = []

    async def list(self, *_a: Any, **_k: Any) -> list[dict[str, Any]]:
        return [{"metadata": {"name": name}} for name in self.texts]

    async def pod_log(self, namespace: str, pod: str, **options: Any) -> str:
        self.calls.append({"pod": pod, **options})
        text = self.texts[pod]
        if isinstance(text, Exception):
            raise text
        return text


def test_timestamps_are_normalised_to_utc_nanoseconds() -> None:
    assert normalize_time("2026-11-25T13:55:00.123456789Z") == "2026-11-25T13:55:00.123456789Z"
    assert normalize_time("2026-11-25T14:55:00.5+01:00") == "2026-11-25T13:55:00.500000000Z"
    assert normalize_time("2026-11-25T13:55:00Z") == "2026-11-25T13:55:00.000000000Z"
    assert normalize_time("yesterday") is None
    line = parse_line("p", "not-a-time but a line", previous="2026-01-01T00:00:00.000000000Z")
    assert line is not None and line.time.startswith("2026-01-01")
    assert line.message == "not-a-time but a line"
    assert parse_line("p", "") is None


async def test_lines_of_all_pods_merge_in_time_order_and_the_cursor_excludes_seen_ones() -> None:
    kube = Pods(
        {
            "api-b": "2026-11-25T10:00:00.300000000Z b1\n2026-11-25T10:00:02.000000000Z b2\n",
            "api-a": "2026-11-25T10:00:00.100000000Z a1\n2026-11-25T10:00:01.000000000Z a2\n",
            "api-c": KubeError("logs of pod api-c: HTTP 400: container is waiting to start"),
        }
    )
    got = await service_logs(kube, "ns", "api", tail=10)  # type: ignore[arg-type]
    assert [(ln.pod, ln.message) for ln in got.lines] == [
        ("api-a", "a1"),
        ("api-b", "b1"),
        ("api-a", "a2"),
        ("api-b", "b2"),
    ]
    assert got.unavailable == [
        ("api-c", "logs of pod api-c: HTTP 400: container is waiting to start")
    ]
    assert {c["tail_lines"] for c in kube.calls} == {10}

    newest = await service_logs(kube, "ns", "api", tail=3)  # type: ignore[arg-type]
    assert [ln.message for ln in newest.lines] == ["b1", "a2", "b2"]

    # Positions per pod: as if we had shown a1 and b1 only.
    seen = {"api-a": got.lines[0].time, "api-b": got.lines[1].time}
    later = await service_logs(kube, "ns", "api", tail=10, positions=seen)  # type: ignore[arg-type]
    assert [ln.message for ln in later.lines] == ["a2", "b2"]
    assert later.positions == {"api-a": got.lines[2].time, "api-b": got.lines[3].time}
    assert decode_cursor(encode_cursor(later.positions)) == later.positions
    # With a cursor the kubelet is asked by time (whole seconds, rounded up), not by count.
    b_call = [c for c in kube.calls if c["pod"] == "api-b"][-1]
    assert b_call["tail_lines"] is None and b_call["since_seconds"] >= 1


async def test_a_line_written_while_another_pod_is_read_is_not_skipped() -> None:
    # Pod a is read first; while pod b is read, a writes a line stamped before b's newest.
    a_log = "2026-11-25T10:00:01.000000000Z a1\n"
    kube = Pods(
        {
            "a": a_log,
            "b": "2026-11-25T10:00:01.000000000Z b1\n2026-11-25T10:00:03.000000000Z b2\n",
        }
    )
    first = await service_logs(kube, "ns", "svc", tail=10, positions={})  # type: ignore[arg-type]
    assert [ln.message for ln in first.lines] == ["a1", "b1", "b2"]
    kube.texts["a"] = a_log + "2026-11-25T10:00:02.000000000Z a2 (late)\n"
    again = await service_logs(kube, "ns", "svc", tail=10, positions=first.positions)  # type: ignore[arg-type]
    # A single "last time" cursor (10:00:03) would have lost it for good.
    assert [ln.message for ln in again.lines] == ["a2 (late)"]


async def test_a_cut_answer_continues_where_it_stopped() -> None:
    from meshploy_core.kube import logs

    width = len("2026-11-25T10:00:00.000000000Z " + "x" * 40 + "\n")
    big = "".join(f"2026-11-25T10:00:{i:02d}.000000000Z {'x' * 40}\n" for i in range(50))
    limit = logs.LIMIT_BYTES
    logs.LIMIT_BYTES = 20 * width + 10  # cut inside the 21st line
    try:
        kube = Pods({"a": big[: logs.LIMIT_BYTES]})
        got = await service_logs(kube, "ns", "svc", tail=1000, positions={})  # type: ignore[arg-type]
    finally:
        logs.LIMIT_BYTES = limit
    assert len(got.lines) == 20  # the partial 21st line is left for the next call
    assert got.positions == {"a": got.lines[-1].time}


def test_cursors_that_are_not_ours_are_refused() -> None:
    import pytest

    for bad in ("%%%", "bm90IGpzb24", encode_cursor({"a": "yesterday"})):
        with pytest.raises(ValueError, match="not a cursor"):
            decode_cursor(bad)
