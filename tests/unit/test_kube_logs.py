"""Merging pods' log lines: time order across pods, the cursor, unreadable pods, timestamps.

A stand-in for the Kubernetes adapter serves fixed texts: this is our own merging logic; the
real kubelet path is tested in tests/realnode/test_service_logs.py.
"""

from __future__ import annotations

from typing import Any

from meshploy_core.kube.adapter import KubeError
from meshploy_core.kube.logs import normalize_time, parse_line, service_logs


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

    after = got.lines[1].time  # b1
    later = await service_logs(kube, "ns", "api", tail=10, after=after)  # type: ignore[arg-type]
    assert [ln.message for ln in later.lines] == ["a2", "b2"]
    # With a cursor the kubelet is asked by time (whole seconds, rounded up), not by count.
    assert kube.calls[-1]["tail_lines"] is None and kube.calls[-1]["since_seconds"] >= 1


async def test_following_never_skips_lines_when_a_pod_answer_is_cut() -> None:
    from meshploy_core.kube import logs

    big = "".join(f"2026-11-25T10:00:{i:02d}.000000000Z {'x' * 40}\n" for i in range(50))
    kube = Pods({"a": big, "b": "2026-11-25T10:00:59.000000000Z late\n"})
    limit = logs.LIMIT_BYTES
    width = len(big.splitlines(keepends=True)[0])
    logs.LIMIT_BYTES = 20 * width + 10  # pod a's answer is cut inside its 21st line
    try:
        start = "2026-11-25T09:59:59.000000000Z"
        kube.texts["a"] = big[: logs.LIMIT_BYTES]
        got = await service_logs(kube, "ns", "svc", tail=1000, after=start)  # type: ignore[arg-type]
    finally:
        logs.LIMIT_BYTES = limit
    # Only what is surely complete: pod b's later line waits until pod a has caught up.
    assert [ln.pod for ln in got.lines] == ["a"] * 20
    assert "late" not in [ln.message for ln in got.lines]
    first = await service_logs(kube, "ns", "svc", tail=5, after=start)  # type: ignore[arg-type]
    assert [ln.time[17:19] for ln in first.lines] == ["00", "01", "02", "03", "04"]
