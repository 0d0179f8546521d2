"""Benchmark the edge proxy against Caddy on loopback, all in one run.

    .venv/bin/python bench/proxy_bench.py [--duration 10] [--profile] [--out bench/results.md]

Starts a throwaway PostgreSQL, a static backend (Caddy ``file_server`` serving 1 KiB and 1 MiB
files), the proxy (``python -m meshploy_proxy``, one worker per core) twice, with and without
its access log, and Caddy as the TLS-less front (``reverse_proxy`` to the proxy) and as the
reference (``reverse_proxy`` straight to the backend) in two configurations: stock, and tuned
with an upstream pool sized like ours (Caddy keeps 32 idle connections per upstream by
default, so with more client connections than that it keeps opening new ones). Then, with
``wrk`` (HTTP/1.1 keep-alive):

1. requests/s, p50/p99 latency and CPU per request (CPU time of the processes between wrk
   and the backend, from /proc) for 1 KiB and 1 MiB responses: direct to the backend, through
   the proxy with and without its access log, through Caddy -> proxy, and through both Caddy
   reverse_proxy configurations; medians of runs interleaved across all paths, and the
   ratios against the targets;
2. latency at moderate load (a fixed request rate per connection), direct vs through the
   proxy: the latency the proxy adds;
3. proxy memory with 100,000 routes loaded (bulk INSERT followed live, then a cold start);
4. time from a route INSERT's commit to the first successful request through the proxy.

Only loopback addresses are used and every loop is bounded. Needs /usr/bin/wrk and
/usr/bin/caddy (Debian packages). ``--profile`` also runs one worker under cProfile for the
1 KiB case and prints the top functions.
"""

# A sequential script: blocking calls inside its coroutines are intended (nothing else runs).
# ruff: noqa: ASYNC240, ASYNC251

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "proxy"), str(ROOT / "testbed")]

from meshploy_proxy.launch import proxy_command, wait_ready  # noqa: E402
from meshploy_testbed.postgres import LocalPostgres, free_port  # noqa: E402

from meshploy_core.db import migrate  # noqa: E402
from meshploy_core.db.engine import create_engine  # noqa: E402
from meshploy_core.settings import Settings  # noqa: E402

HOST = "bench.local"
DIRECT = "direct to backend"
OURS = "meshploy proxy"
OURS_NOLOG = "meshploy proxy, no access log"
CADDY = "Caddy reverse_proxy (stock)"
CADDY_TUNED = "Caddy reverse_proxy (tuned pool)"
LUA_DELAY = "function delay()\n  return {ms}\nend\n"


def caddyfile(port: int, site: str) -> str:
    """A Caddy config with one site: admin API off, no automatic HTTPS, no trust store."""
    return f"""{{
\tadmin off
\tauto_https off
\tskip_install_trust
}}
:{port} {{
{site}
}}
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def caddy_reverse_proxy(upstream: int, *, idle_per_host: int = 0) -> str:
    """A ``reverse_proxy`` site body; ``idle_per_host`` > 0 sizes Caddy's idle upstream pool.

    Caddy 2.6's Caddyfile takes ``keepalive_idle_conns`` and ``keepalive_idle_conns_per_host``
    in ``transport http`` (``max_idle_conns``/``max_idle_conns_per_host`` in its JSON).
    """
    if idle_per_host <= 0:
        return f"\treverse_proxy 127.0.0.1:{upstream}"
    return (
        f"\treverse_proxy 127.0.0.1:{upstream} {{\n"
        "\t\ttransport http {\n"
        f"\t\t\tkeepalive_idle_conns {idle_per_host}\n"
        f"\t\t\tkeepalive_idle_conns_per_host {idle_per_host}\n"
        "\t\t}\n\t}"
    )


def caddy_version() -> str:
    """``v2.6.2`` or similar."""
    out = subprocess.run(["caddy", "version"], capture_output=True, text=True, check=False)
    return out.stdout.split()[0] if out.stdout else "unknown"


def wait_port(port: int, timeout: float = 20) -> None:
    """Block until something accepts on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def wrk(
    port: int, path: str, duration: int, conns: int, threads: int, script: Path | None = None
) -> dict[str, float]:
    """Run wrk; requests/s and latency percentiles in milliseconds."""
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency"]
    argv += ["-H", f"Host: {HOST}"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run(
        [*argv, f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    result["requests"] = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m is not None, out
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        result[f"p{pct}"] = float(m.group(1)) * scale
    if "Non-2xx" in out or "Socket errors" in out:
        result["errors"] = 1.0
    return result


def proc_kib(pid: int, field: str) -> int:
    """A VmRSS/VmHWM value from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def readyz(admin: int) -> dict[str, object]:
    """The proxy's /readyz."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=5) as r:
            data: dict[str, object] = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        data = json.loads(exc.read())
    return data


def metric(admin: int, name: str) -> list[float]:
    """Every sample of a metric from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as r:
        text = r.read().decode()
    return [float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)]


class Bench:
    """Owns every process of the run and stops them all at the end."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="meshploy-bench-"))
        self.tmp.chmod(0o755)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pg = LocalPostgres(self.tmp / "pg", fsync=False)
        roles = ("backend", "reference", "tuned", "front", "proxy", "admin", "nolog", "nolog-admin")
        self.ports = {k: free_port() for k in roles}
        self.lines: list[str] = []
        self.caddy: dict[str, int] = {}
        #: Supervisor pid of the proxy on each port role ("proxy", "nolog").
        self.proxy_pids: dict[str, int] = {}

    def say(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def dsn(self) -> str:
        return self.pg.dsn()

    async def setup_db(self) -> None:
        self.pg.start()
        engine = create_engine(Settings(database_url=self.pg.url()), require_key=False)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(
                "INSERT INTO routes (hostname, upstreams) VALUES ($1, $2::jsonb)",
                HOST,
                json.dumps([{"host": "127.0.0.1", "port": self.ports["backend"]}]),
            )
        finally:
            await conn.close()

    def start_caddy(self) -> None:
        """Three Caddy processes (backend, reference, front), so each one's CPU is its own."""
        www = self.tmp / "www"
        www.mkdir()
        (www / "1k").write_bytes(os.urandom(512).hex().encode())
        (www / "1m").write_bytes(os.urandom(512 * 1024).hex().encode())
        p = self.ports
        # The tuned reference may keep an idle connection for every client connection.
        pool = max(self.args.conns, 64)
        sites = {
            "backend": f"\troot * {www}\n\tfile_server",
            "reference": caddy_reverse_proxy(p["backend"]),
            "tuned": caddy_reverse_proxy(p["backend"], idle_per_host=pool),
            "front": caddy_reverse_proxy(p["proxy"]),
        }
        for role, site in sites.items():
            # Own storage per process: Caddy instances sharing it race to create the local CA.
            home = self.tmp / f"caddy-{role}"
            env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
            env["XDG_CONFIG_HOME"] = str(home / "config")
            conf = self.tmp / f"{role}.caddy"
            conf.write_text(caddyfile(p[role], site))
            log = (self.tmp / f"caddy-{role}.log").open("wb")
            argv = ["caddy", "run", "--config", str(conf), "--adapter", "caddyfile"]
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
            self.procs.append(proc)
            self.caddy[role] = proc.pid
        for role in sites:
            wait_port(p[role])

    def start_proxy(
        self, *, workers: int, extra: tuple[str, ...] = (), role: str = "proxy"
    ) -> subprocess.Popen[bytes]:
        """Start the proxy on the ``role`` port ("proxy", or "nolog": access log off)."""
        env = {**os.environ, "DATABASE_URL": self.pg.url(), "MESHPLOY_LOG_LEVEL": "WARNING"}
        admin = self.admin_port(role)
        argv = proxy_command(workers=workers, port=self.ports[role], admin_port=admin)
        out = (self.tmp / f"{role}-access.log").open("ab")
        err = (self.tmp / f"{role}.err").open("ab")
        extra = (*self.args.proxy_args.split(), *extra)
        if role == "nolog":
            extra = (*extra, "--no-access-log")
        proc = subprocess.Popen([*argv, *extra], env=env, stdout=out, stderr=err)
        self.procs.append(proc)
        wait_ready(proc, admin, timeout=120)
        self.proxy_pids[role] = proc.pid
        return proc

    def admin_port(self, role: str) -> int:
        """The admin port of the proxy on the ``role`` port."""
        return self.ports["admin" if role == "proxy" else f"{role}-admin"]

    def stop_proxy(self, proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        proc.wait(60)
        self.procs.remove(proc)

    def worker_pids(self, role: str = "proxy") -> list[int]:
        workers: list[dict[str, Any]] = readyz(self.admin_port(role))["workers"]  # type: ignore[assignment]
        return [int(w["pid"]) for w in workers]

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.terminate()
                proc.wait(30)
        with contextlib.suppress(Exception):
            self.pg.stop("immediate")
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the measurements -------------------------------------------------------------------

    def throughput(self) -> None:
        d, p = self.args.duration, self.ports
        nolog = self.start_proxy(workers=self.args.workers, role="nolog")
        proxy = [self.proxy_pids["proxy"], *self.worker_pids()]
        quiet = [self.proxy_pids["nolog"], *self.worker_pids("nolog")]
        # (name, port, the processes between wrk and the backend)
        targets = [
            (DIRECT, p["backend"], []),
            (OURS, p["proxy"], proxy),
            (OURS_NOLOG, p["nolog"], quiet),
            ("Caddy -> meshploy proxy", p["front"], [self.caddy["front"], *proxy]),
            (CADDY, p["reference"], [self.caddy["reference"]]),
            (CADDY_TUNED, p["tuned"], [self.caddy["tuned"]]),
        ]
        self.say(
            f"## Throughput (wrk -t{self.args.threads} -c{self.args.conns} -d{d}s, median of "
            f"{self.args.repeat} interleaved runs)\n"
        )
        self.say(
            "CPU/request is the CPU time (user + system, from /proc) of the processes between "
            "wrk and the backend divided by the requests served: unlike requests/s it hardly "
            "depends on what else the machine is doing. Tuned Caddy keeps up to "
            f"{max(self.args.conns, 64)} idle upstream connections (stock: 32).\n"
        )
        self.say("| path | size | requests/s | p50 ms | p99 ms | CPU/request us |")
        self.say("| --- | --- | ---: | ---: | ---: | ---: |")
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(self.args.repeat):  # interleaved, so a busy spell hits every path
            for size in self.args.sizes:
                for name, port, middle in targets:
                    before = sum(cpu_seconds(pid) for pid in middle)
                    r = wrk(port, f"/{size}", d, self.args.conns, self.args.threads)
                    used = sum(cpu_seconds(pid) for pid in middle) - before
                    r["cpu_us"] = used / max(r["requests"], 1) * 1e6
                    runs.setdefault((name, size), []).append(r)
        self.stop_proxy(nolog)
        results = {key: _median(rs) for key, rs in runs.items()}
        for size in self.args.sizes:
            for name, _, middle in targets:
                r = results[(name, size)]
                flag = " (errors)" if r.get("errors") else ""
                cpu = f"{r['cpu_us']:.0f}" if middle else "-"
                self.say(
                    f"| {name} | {_size_label(size)} | {r['rps']:,.0f}{flag} "
                    f"| {r['p50']:.2f} | {r['p99']:.2f} | {cpu} |"
                )
        self.say()
        for size in self.args.sizes:
            for ours in (OURS, OURS_NOLOG):
                for ref in (CADDY, CADDY_TUNED):
                    a, b = results[(ours, size)], results[(ref, size)]
                    self.say(
                        f"- {size}: {ours} / {ref}: requests/s **{a['rps'] / b['rps']:.2f}x**, "
                        f"CPU per request **{a['cpu_us'] / b['cpu_us']:.2f}x**"
                    )
        self.say()
        self.say_targets(results)

    def say_targets(self, results: dict[tuple[str, str], dict[str, float]]) -> None:
        """The issue's targets against the tuned Caddy (and the direct path at 1 MiB)."""
        rows = []
        for ours in (OURS, OURS_NOLOG):
            if "1k" in self.args.sizes:
                a, ref = results[(ours, "1k")], results[(CADDY_TUNED, "1k")]
                rps, cpu = a["rps"] / ref["rps"], a["cpu_us"] / ref["cpu_us"]
                rows.append((ours, "1 KiB", "requests/s >= 1.8x tuned Caddy", rps, rps >= 1.8))
                rows.append((ours, "1 KiB", "CPU/request <= 0.4x tuned Caddy", cpu, cpu <= 0.4))
            if "1m" in self.args.sizes:
                a, ref = results[(ours, "1m")], results[(CADDY_TUNED, "1m")]
                direct = results[(DIRECT, "1m")]
                rps, cpu = a["rps"] / direct["rps"], a["cpu_us"] / ref["cpu_us"]
                rows.append((ours, "1 MiB", "requests/s >= 0.95x direct", rps, rps >= 0.95))
                rows.append((ours, "1 MiB", "CPU/request <= 0.7x tuned Caddy", cpu, cpu <= 0.7))
        self.say("### Against the targets (medians above)\n")
        self.say("| path | size | target | measured | met |")
        self.say("| --- | --- | --- | ---: | --- |")
        for name, size, what, value, met in rows:
            self.say(f"| {name} | {size} | {what} | {value:.2f}x | {'yes' if met else 'no'} |")
        self.say()

    def added_latency(self, label: str) -> None:
        script = self.tmp / "delay.lua"
        script.write_text(LUA_DELAY.format(ms=self.args.delay_ms))
        conns = 10
        rate = conns * 1000 / self.args.delay_ms
        self.say(
            f"## Latency at moderate load ({conns} connections, one request every "
            f"{self.args.delay_ms} ms each: about {rate:,.0f} requests/s offered; median of "
            f"{self.args.repeat} interleaved runs; proxy with {label})\n"
        )
        self.say("| path | requests/s | p50 ms | p99 ms |")
        self.say("| --- | ---: | ---: | ---: |")
        runs: dict[str, list[dict[str, float]]] = {"backend": [], "proxy": []}
        for _ in range(self.args.repeat):
            for key in runs:
                runs[key].append(wrk(self.ports[key], "/1k", self.args.duration, conns, 1, script))
        got = {key: _median(rs) for key, rs in runs.items()}
        for name, key in (("direct to backend", "backend"), ("meshploy proxy", "proxy")):
            r = got[key]
            self.say(f"| {name} | {r['rps']:,.0f} | {r['p50']:.3f} | {r['p99']:.3f} |")
        self.say()
        for pct in ("p50", "p99"):
            added = got["proxy"][pct] - got["backend"][pct]
            self.say(f"- added by the proxy at {pct}: **{added:.3f} ms**")
        self.say()

    async def many_routes(self, proxy: subprocess.Popen[bytes]) -> None:
        n = self.args.routes
        self.say(f"## {n:,} routes\n")
        conn = await asyncpg.connect(self.dsn())
        try:
            started = time.monotonic()
            # 100k hostnames over 2,000 services (a cluster has at most 2,768 NodePorts), each
            # on two of 20 nodes: many hostnames (custom domains, aliases) per service.
            await conn.execute(
                """INSERT INTO routes (hostname, upstreams)
                   SELECT 'r' || i || '.many.local',
                          jsonb_build_array(
                            jsonb_build_object('host', '100.64.0.' || (1 + i % 2000 % 20),
                                               'port', 30000 + i % 2000),
                            jsonb_build_object('host', '100.64.0.' || (1 + (i % 2000 + 1) % 20),
                                               'port', 30000 + i % 2000))
                   FROM generate_series(1, $1) AS i""",
                n,
            )
            inserted = time.monotonic()
            admin = self.admin_port("proxy")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                sizes = metric(admin, "meshploy_proxy_routes")
                if sizes and min(sizes) >= n + 1:
                    break
                time.sleep(0.1)
            live = time.monotonic()
            self.say(
                f"- bulk INSERT of {n:,} rows: {inserted - started:.1f} s in PostgreSQL; all "
                f"workers serving them {live - inserted:.1f} s after the commit (one NOTIFY per "
                "row, coalesced into a full reload)"
            )
            for pid in self.worker_pids():
                self.say(
                    f"- worker {pid} after the live reload: RSS {proc_kib(pid, 'VmRSS') / 1024:.0f}"
                    f" MiB, peak {proc_kib(pid, 'VmHWM') / 1024:.0f} MiB"
                )
            self.stop_proxy(proxy)
            t0 = time.monotonic()
            cold = self.start_proxy(workers=self.args.workers)
            ready = time.monotonic() - t0
            total = 0
            for pid in self.worker_pids():
                rss = proc_kib(pid, "VmRSS")
                total += rss
                self.say(
                    f"- cold start with {n:,} routes: worker {pid} RSS {rss / 1024:.0f} MiB, "
                    f"peak {proc_kib(pid, 'VmHWM') / 1024:.0f} MiB"
                )
            sup = cold.pid
            total += proc_kib(sup, "VmRSS")
            self.say(f"- supervisor RSS {proc_kib(sup, 'VmRSS') / 1024:.0f} MiB")
            self.say(
                f"- whole proxy ({self.args.workers} workers + supervisor): "
                f"**{total / 1024:.0f} MiB**; ready {ready:.1f} s after start"
            )
            self.say()
            await self.route_change_latency(conn)
            self.stop_proxy(cold)
        finally:
            await conn.close()

    async def route_change_latency(self, conn: asyncpg.Connection) -> None:
        samples = []
        port = self.ports["proxy"]
        for i in range(self.args.changes):
            host = f"new{i}-{os.getpid()}.bench.local"
            request = f"GET /1k HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await conn.execute(
                "INSERT INTO routes (hostname, upstreams) VALUES ($1, $2::jsonb)",
                host,
                json.dumps([{"host": "127.0.0.1", "port": self.ports["backend"]}]),
            )
            committed = time.monotonic()
            for _ in range(100_000):  # bounded: gives up after ~100k polls
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 200"):
                    break
            samples.append((time.monotonic() - committed) * 1000)
            writer.close()
        samples.sort()
        self.say(f"## Route change to first successful request ({len(samples)} inserts)\n")
        self.say(
            f"- median **{statistics.median(samples):.1f} ms**, "
            f"p95 {samples[int(len(samples) * 0.95) - 1]:.1f} ms, max {samples[-1]:.1f} ms "
            f"(with {self.args.routes:,} routes loaded; commit -> NOTIFY -> one-host query -> "
            "table update -> request polled on a keep-alive connection)"
        )
        self.say()

    def profile(self) -> None:
        prof = self.tmp / "prof"
        proc = self.start_proxy(workers=1, extra=("--profile", str(prof)))
        wrk(self.ports["proxy"], "/1k", self.args.duration, self.args.conns, 1)
        self.stop_proxy(proc)
        stats = pstats.Stats(f"{prof}.0")
        self.say("## Profile (1 worker, 1 KiB, cProfile, top by own time)\n")
        self.say("```")
        for line in _stats_lines(stats, 22):
            self.say(line)
        self.say("```")


def _size_label(size: str) -> str:
    return {"1k": "1 KiB", "1m": "1 MiB"}.get(size, size)


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """Field-wise median of several wrk results."""
    return {key: statistics.median(r.get(key, 0.0) for r in runs) for key in runs[0]}


def _stats_lines(stats: pstats.Stats, limit: int) -> Iterator[str]:
    import io

    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    lines = buf.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    yield from (line for line in lines[start - 2 :] if line.strip())


async def run(args: argparse.Namespace) -> None:
    bench = Bench(args)
    try:
        await bench.setup_db()
        bench.start_caddy()
        proxy = bench.start_proxy(workers=args.workers)
        bench.say(
            f"# meshploy edge proxy benchmark ({time.strftime('%Y-%m-%d %H:%M')}, "
            f"{os.cpu_count()} cores, {args.workers} proxy workers, caddy "
            f"{caddy_version()})\n"
        )
        bench.throughput()
        if args.only == "throughput":
            return
        bench.added_latency(f"{args.workers} workers")
        if args.workers > 1:  # fewer processes than cores contend less: compare
            bench.stop_proxy(proxy)
            one = bench.start_proxy(workers=1)
            bench.added_latency("1 worker")
            bench.stop_proxy(one)
            proxy = bench.start_proxy(workers=args.workers)
        await bench.many_routes(proxy)
        if args.profile:
            bench.profile()
    finally:
        bench.close()
        if args.out:
            Path(args.out).write_text("\n".join(bench.lines) + "\n")


def main() -> None:
    """Parse options and run every measurement."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--conns", type=int, default=50, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--delay-ms", type=int, default=5, help="moderate load: ms per request")
    parser.add_argument("--routes", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=20, help="route changes to time")
    parser.add_argument("--profile", action="store_true", help="also profile one worker")
    parser.add_argument("--out", help="also write the results (markdown) here")
    parser.add_argument(
        "--sizes",
        type=lambda v: [x for x in v.split(",") if x],
        default=["1k", "1m"],
        help="response sizes for the throughput runs (1k,1m)",
    )
    parser.add_argument(
        "--only", choices=["throughput"], help="run only this measurement (a quick check)"
    )
    parser.add_argument(
        "--proxy-args", default="", help="extra proxy options, e.g. --no-splice (to compare)"
    )
    for tool in ("wrk", "caddy"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} not found; install it with: apt-get install {tool}")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
