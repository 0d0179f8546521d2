"""Start and stop control-plane processes so that none outlives its owner.

Three layers make sure nothing is left behind:

* each child runs in its own process group (session), so stopping it also stops anything
  it spawned, and a Ctrl-C in the terminal reaches only the launcher, which stops the
  children in order;
* an attached child gets ``PR_SET_PDEATHSIG`` = SIGKILL (Linux ``prctl`` via ctypes), so the
  kernel kills it if the launcher dies without cleaning up (kill -9, crashed test run).
  The signal follows the *thread* that spawned the child, so start clusters from the main
  thread or one that lives as long as the cluster;
* an explicit :func:`stop_process` (SIGTERM, then SIGKILL after a grace period).

A detached cluster (``meshploy dev cluster up``) skips the death signal and records
``pid`` plus the kernel's start time in its state file, so ``down`` can stop exactly those
processes and never a recycled pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from meshploy_testbed.cluster.binaries import DevClusterError

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Run in the child between fork and exec: die when the launcher dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        os._exit(127)
    # The launcher may have died between fork and prctl; then nobody would signal us.
    if os.getppid() != parent_pid:
        os._exit(127)


def process_start_time(pid: int) -> int | None:
    """Return the kernel's start time (field 22 of /proc/PID/stat) or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after its closing ')' are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


@dataclass
class ManagedProcess:
    """A running component: its name, pid, identity and log file."""

    name: str
    pid: int
    start_time: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        """True while this exact process (pid and start time) still runs."""
        if self.popen is not None:
            return self.popen.poll() is None
        return process_start_time(self.pid) == self.start_time and not _is_zombie(self.pid)

    def log_tail(self, lines: int = 15) -> str:
        """Return the last ``lines`` lines of the component's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_running(self) -> None:
        """Raise with the log's tail if the process has exited."""
        if not self.alive():
            code = self.popen.poll() if self.popen is not None else None
            raise DevClusterError(
                f"{self.name} exited (code {code}); last log lines from {self.log_path}:\n"
                f"{self.log_tail()}"
            )


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].startswith("Z")


def spawn(
    name: str,
    argv: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    detached: bool = False,
    setup: Callable[[], None] | None = None,
) -> ManagedProcess:
    """Start ``argv`` in a new session with output to ``log_path``.

    Unless ``detached``, the child is killed by the kernel when this process exits.
    ``setup`` runs in the child just before exec (after the death signal is armed), e.g. to
    join a cgroup or a network namespace.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    parent = os.getpid()

    def child_setup() -> None:
        if not detached:
            _die_with_parent(parent)
        if setup is not None:
            setup()

    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
            preexec_fn=None if detached and setup is None else child_setup,
        )
    start = process_start_time(popen.pid) or 0
    return ManagedProcess(name, popen.pid, start, log_path, popen)


def stop_process(proc: ManagedProcess, grace: float = 10.0) -> None:
    """Stop ``proc`` and its process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if not proc.alive():
        _reap(proc)
        return
    _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not proc.alive():
            break
        time.sleep(0.05)
    else:
        _signal_group(proc, signal.SIGKILL)
    _reap(proc)


def _signal_group(proc: ManagedProcess, sig: signal.Signals) -> None:
    # The child called setsid(), so its pid is its process-group id. Signal the group only
    # while its leader is still the process we started: a reaped pid may be reused.
    if not proc.alive():
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _reap(proc: ManagedProcess) -> None:
    if proc.popen is not None:
        try:
            proc.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait()
