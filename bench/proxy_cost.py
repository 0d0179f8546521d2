"""Steady per-request costs of one proxy worker, to judge optimisations on a busy machine.

    .venv/bin/python bench/proxy_cost.py [--sizes 1k,1m] [--tools cpu,strace,callgrind]

On a shared 2-core machine requests/s moves by tens of percent from run to run; these hardly
move, so compare them before and after a change (``--label`` names the run in the output):

* **instructions per request** (valgrind's callgrind, user space only: Python, uvloop,
  httptools, libc; not the kernel), counted while wrk sends load, with the counters zeroed
  after start-up so imports and the route load are not included;
* **system calls per request** by name (``strace -c``); ``epoll_wait`` counts the event
  loop's wake-ups;
* **CPU time per request** (user + system from /proc, no tool attached): includes the kernel,
  but is the noisiest of the three.

One worker (``python -m meshploy_proxy.worker``, as the supervisor starts it, with the same
malloc settings) serves a route to a Caddy ``file_server`` backend; a throwaway PostgreSQL
holds the route. Needs wrk, caddy, valgrind and strace (Debian packages).
"""

# A sequential script: blocking calls inside its coroutines are intended (nothing else runs).
# ruff: noqa: ASYNC220

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "proxy"), str(ROOT / "testbed")]

from meshploy_proxy.config import WORKER_CONFIG_ENV, ProxyConfig  # noqa: E402
from meshploy_proxy.supervisor import MALLOC_TUNABLES  # noqa: E402
from meshploy_testbed.postgres import LocalPostgres, free_port  # noqa: E402

from bench.proxy_bench import HOST, caddyfile, cpu_seconds, wait_port, wrk  # noqa: E402
from meshploy_core.db import migrate  # noqa: E402
from meshploy_core.db.engine import create_engine  # noqa: E402
from meshploy_core.settings import Settings  # noqa: E402


class Rig:
    """PostgreSQL, the backend and (one at a time) a worker; stops everything at the end."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="meshploy-cost-"))
        self.tmp.chmod(0o755)
        self.pg = LocalPostgres(self.tmp / "pg", fsync=False)
        self.backend_port = free_port()
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    async def start(self) -> None:
        self.pg.start()
        engine = create_engine(Settings(database_url=self.pg.url()), require_key=False)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
        conn = await asyncpg.connect(self.pg.dsn())
        try:
            await conn.execute(
                "INSERT INTO routes (hostname, upstreams) VALUES ($1, $2::jsonb)",
                HOST,
                json.dumps([{"host": "127.0.0.1", "port": self.backend_port}]),
            )
        finally:
            await conn.close()
        www = self.tmp / "www"
        www.mkdir()
        (www / "1k").write_bytes(os.urandom(512).hex().encode())
        (www / "1m").write_bytes(os.urandom(512 * 1024).hex().encode())
        home = self.tmp / "caddy"
        env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
        env["XDG_CONFIG_HOME"] = str(home / "config")
        conf = self.tmp / "backend.caddy"
        conf.write_text(caddyfile(self.backend_port, f"\troot * {www}\n\tfile_server"))
        log = (self.tmp / "caddy.log").open("wb")
        argv = ["caddy", "run", "--config", str(conf), "--adapter", "caddyfile"]
        self.procs.append(subprocess.Popen(argv, env=env, stdout=log, stderr=log))
        wait_port(self.backend_port)

    def start_worker(
        self, wrapper: list[str], profile: str | None = None
    ) -> subprocess.Popen[bytes]:
        """One worker under ``wrapper`` (e.g. valgrind), serving once it answers 200."""
        config = ProxyConfig(
            dsn=self.pg.dsn(),
            port=self.port,
            workers=1,
            access_log=not self.args.no_access_log,
            splice=not self.args.no_splice,
            log_level="WARNING",
            profile=profile,
        )
        env = {**os.environ, WORKER_CONFIG_ENV: config.to_json()}
        env.setdefault("GLIBC_TUNABLES", MALLOC_TUNABLES)
        argv = [*wrapper, sys.executable, "-m", "meshploy_proxy.worker", "--index", "0"]
        out = (self.tmp / "worker.out").open("ab")
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        deadline = time.monotonic() + 300  # valgrind makes start-up slow
        url = f"http://127.0.0.1:{self.port}/1k"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {proc.returncode}")
            request = urllib.request.Request(url, headers={"Host": HOST})
            with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=5) as r:  # noqa: S310 (http://127.0.0.1)
                if r.status == 200:
                    return proc
            time.sleep(0.2)
        raise RuntimeError("the worker did not serve within 300 s")

    def stop_worker(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        self.procs.remove(proc)

    def load(self, size: str, duration: int) -> float:
        """wrk against the worker; the number of requests served."""
        return float(wrk(self.port, f"/{size}", duration, self.args.conns, 1)["requests"])

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.terminate()
                proc.wait(30)
        with contextlib.suppress(Exception):
            self.pg.stop("immediate")
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the measurements -------------------------------------------------------------------

    def cpu(self, size: str) -> str:
        """Median CPU time per request over three runs, no tool attached."""
        proc = self.start_worker([])
        try:
            self.load(size, 2)  # warm up: pools, pipes, the malloc heap
            samples = []
            for _ in range(3):
                before = cpu_seconds(proc.pid)
                served = self.load(size, self.args.duration)
                samples.append((cpu_seconds(proc.pid) - before) / served * 1e6)
        finally:
            self.stop_worker(proc)
        samples.sort()
        return f"CPU {samples[1]:.1f} us/request (runs: {', '.join(f'{x:.1f}' for x in samples)})"

    def strace(self, size: str) -> str:
        """System calls per request, by name."""
        proc = self.start_worker([])
        out = self.tmp / "strace.txt"
        try:
            self.load(size, 2)
            tracer = subprocess.Popen(["strace", "-c", "-p", str(proc.pid), "-o", str(out)])
            time.sleep(0.5)  # attached
            served = self.load(size, self.args.duration)
            tracer.send_signal(signal.SIGINT)
            tracer.wait(30)
        finally:
            self.stop_worker(proc)
        counts: dict[str, int] = {}
        for line in out.read_text().splitlines():
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
            if m and m.group(2) != "total":
                counts[m.group(2)] = int(m.group(1))
        total = sum(counts.values())
        top = sorted(counts.items(), key=lambda kv: -kv[1])[: self.args.syscalls]
        per = ", ".join(f"{name} {n / served:.2f}" for name, n in top)
        return f"syscalls {total / served:.2f}/request ({per})"

    def callgrind(self, size: str) -> str:
        """User-space instructions per request."""
        out = self.tmp / "callgrind.out"
        wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", "-q"]
        proc = self.start_worker(wrapper)
        try:
            self.load(size, 5)  # warm up (slowly: valgrind runs it on a simulated CPU)
            quiet = subprocess.DEVNULL
            subprocess.run(
                ["callgrind_control", "-z", str(proc.pid)], check=True, timeout=120, stdout=quiet
            )
            served = self.load(size, self.args.callgrind_duration)
            subprocess.run(
                ["callgrind_control", "-d", str(proc.pid)], check=True, timeout=120, stdout=quiet
            )
        finally:
            self.stop_worker(proc)
        dumps = sorted(self.tmp.glob(f"callgrind.out.{proc.pid}.*"))
        if not dumps:
            raise RuntimeError("callgrind wrote no dump")
        text = dumps[-1].read_text(errors="replace")
        m = re.search(r"^(?:totals|summary):\s+(\d+)", text, re.M)
        if m is None:
            raise RuntimeError("no totals in the callgrind dump")
        report = f"instructions {int(m.group(1)) / served:,.0f}/request ({served:,.0f} requests)"
        if self.args.annotate:
            top = subprocess.run(
                ["callgrind_annotate", "--inclusive=no", "--threshold=100", str(dumps[-1])],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.splitlines()
            rows = [line for line in top if re.match(r"\s*[\d,]+ \(", line)][
                1 : self.args.annotate + 1
            ]
            report += "\n" + "\n".join(f"    {row.strip()}" for row in rows)
        if self.args.keep_dump:
            shutil.copy(dumps[-1], f"{self.args.keep_dump}.{size}")
        for stale in self.tmp.glob("callgrind.out.*"):
            stale.unlink()
        return report

    def perf(self, size: str) -> str:
        """Where the worker's CPU time goes (``perf record -e cpu-clock``): by object, by symbol."""
        proc = self.start_worker([])
        data = self.tmp / "perf.data"
        try:
            self.load(size, 2)
            recorder = subprocess.Popen(
                ["perf", "record", "-e", "cpu-clock", "-q", "-o", str(data), "-p", str(proc.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            self.load(size, self.args.duration)
            recorder.send_signal(signal.SIGINT)
            recorder.wait(60)
        finally:
            self.stop_worker(proc)
        out = []
        for sort, limit in (("dso", 8), ("dso,sym", self.args.annotate or 25)):
            report = subprocess.run(
                ["perf", "report", "-i", str(data), "--stdio", "--sort", sort, "-q"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.splitlines()
            rows = [line.strip() for line in report if line.strip()][:limit]
            out.append("\n".join(f"    {row}" for row in rows))
        return "perf (cpu-clock samples)\n" + "\n    --\n".join(out)

    def profile(self, size: str) -> str:
        """cProfile of the worker under load: functions by own time (shares, not speeds)."""
        path = self.tmp / "profile"
        proc = self.start_worker([], profile=str(path))
        try:
            served = self.load(size, self.args.duration)
        finally:
            self.stop_worker(proc)
        buf = io.StringIO()
        stats = pstats.Stats(f"{path}.0", stream=buf)
        stats.strip_dirs().sort_stats("tottime").print_stats(self.args.annotate or 25)
        lines = [line for line in buf.getvalue().splitlines() if line.strip()]
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        return f"profile ({served:,.0f} requests)\n" + "\n".join(
            f"    {line}" for line in lines[start:]
        )


async def run(args: argparse.Namespace) -> None:
    rig = Rig(args)
    try:
        await rig.start()
        log = "no access log" if args.no_access_log else "access log on"
        print(f"# {args.label} ({time.strftime('%Y-%m-%d %H:%M')}, {log}, wrk -c{args.conns})")
        print(f"load average {os.getloadavg()[0]:.1f}")
        for size in args.sizes:
            for tool in args.tools:
                print(f"- {size}: {getattr(rig, tool)(size)}", flush=True)
    finally:
        rig.close()


def main() -> None:
    """Parse options and measure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="this tree", help="names the run in the output")
    parser.add_argument("--sizes", type=lambda v: v.split(","), default=["1k", "1m"])
    parser.add_argument(
        "--tools",
        type=lambda v: v.split(","),
        default=["callgrind", "strace", "cpu"],
        help="callgrind,strace,cpu,profile,perf",
    )
    parser.add_argument("--conns", type=int, default=50, help="wrk connections")
    parser.add_argument("--duration", type=int, default=5, help="seconds per strace/cpu run")
    parser.add_argument("--callgrind-duration", type=int, default=20, help="seconds under load")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--no-splice", action="store_true")
    parser.add_argument("--keep-dump", help="copy the callgrind dump to PATH.<size>")
    parser.add_argument("--syscalls", type=int, default=10, help="system calls to list by name")
    parser.add_argument(
        "--annotate", type=int, default=0, help="also list the N functions with most instructions"
    )
    args = parser.parse_args()
    for tool in ("wrk", "caddy", "valgrind", "strace"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} not found; install it with apt-get")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
