"""``meshploy dev cluster up|down|status``: a local Kubernetes control plane for development.

``up`` starts the cluster detached (it keeps running after the command returns), records
the component pids in its state directory and prints ``KUBECONFIG=<path>`` on a line of
its own once nodes are Ready; ``down`` stops exactly those processes. State lives in
``<meshploy data dir>/devcluster`` (``MESHPLOY_DATA_DIR`` moves it).
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import click

from meshploy_testbed.cluster.binaries import DevClusterError
from meshploy_testbed.cluster.cluster import DevCluster
from meshploy_testbed.cluster.nodes import node_condition, standard_nodes


def state_dir() -> Path:
    """Where a detached dev cluster keeps its files and ``state.json``."""
    from meshploy_testbed.env import data_dir

    return data_dir() / "devcluster"


def _state_file() -> Path:
    return state_dir() / "state.json"


def _load() -> DevCluster | None:
    path = _state_file()
    if not path.exists():
        return None
    try:
        return DevCluster.from_state(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise DevClusterError(f"{path} is unreadable ({exc}); remove {state_dir()}") from exc


def _fail(exc: DevClusterError) -> click.ClickException:
    # First line only: a build failure's log tail was already streamed above.
    return click.ClickException(str(exc))


@click.group("cluster")
def cluster() -> None:
    """A local Kubernetes control plane with simulated nodes (no containers run)."""


@cluster.command("up")
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(0, 26),
    help="Simulated worker nodes (node-a, node-b, ...).",
)
@click.option(
    "--builders",
    default=1,
    show_default=True,
    type=click.IntRange(0, 20),
    help="Simulated nodes labelled meshploy.com/role=builder.",
)
@click.option("--foreground", is_flag=True, help="Stay attached; Ctrl-C stops the cluster.")
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for readiness.")
def up(workers: int, builders: int, foreground: bool, timeout: float) -> None:
    """Start the cluster and print KUBECONFIG=<path> once it is ready."""
    try:
        existing = _load()
        if existing is not None:
            if all(p.alive() for p in existing.processes):
                click.echo("dev cluster already running", err=True)
                click.echo(f"KUBECONFIG={existing.kubeconfig_path}")
                return
            click.echo("cleaning up a dev cluster that is no longer complete", err=True)
            existing.stop()
        shutil.rmtree(state_dir(), ignore_errors=True)
        workdir = state_dir() / "cluster"
        dev = DevCluster(
            standard_nodes(workers, builders),
            workdir=workdir,
            detached=not foreground,
            start_timeout=timeout,
        )
        click.echo(f"starting a dev Kubernetes control plane in {workdir} ...", err=True)
        dev.start()
        if not foreground:
            _state_file().write_text(json.dumps(dev.to_state(), indent=2))
    except DevClusterError as exc:
        raise _fail(exc) from exc
    click.echo(f"KUBECONFIG={dev.kubeconfig_path}")
    if foreground:
        _wait_for_signal()
        click.echo("stopping ...", err=True)
        dev.stop()
        shutil.rmtree(state_dir(), ignore_errors=True)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


@cluster.command("down")
def down() -> None:
    """Stop the dev cluster started by 'up' and delete its files."""
    try:
        dev = _load()
    except DevClusterError as exc:
        raise _fail(exc) from exc
    if dev is None:
        click.echo("no dev cluster is running", err=True)
        return
    dev.stop()
    shutil.rmtree(state_dir(), ignore_errors=True)
    click.echo("dev cluster stopped", err=True)


@cluster.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(as_json: bool) -> None:
    """Show the components, the API server's health and the nodes. Exit 1 if not running."""
    try:
        dev = _load()
    except DevClusterError as exc:
        raise _fail(exc) from exc
    report: dict[str, Any] = {"running": False}
    if dev is not None:
        procs = {p.name: {"pid": p.pid, "alive": p.alive()} for p in dev.processes}
        report = {
            "running": all(p["alive"] for p in procs.values()),
            "kubeconfig": str(dev.kubeconfig_path),
            "server": dev.server,
            "processes": procs,
            "nodes": [],
        }
        try:
            report["apiserver"] = dev.api.get("/readyz")
            report["nodes"] = [
                {
                    "name": n["metadata"]["name"],
                    "ready": node_condition(n, "Ready"),
                    "labels": n["metadata"].get("labels", {}),
                    "addresses": n["status"].get("addresses", []),
                }
                for n in dev.nodes()
            ]
        except (OSError, DevClusterError) as exc:
            report["apiserver"] = f"unreachable: {exc}"
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print_status(report)
    if not report["running"]:
        raise SystemExit(1)


def _print_status(report: dict[str, Any]) -> None:
    if "processes" not in report:
        click.echo("no dev cluster is running")
        return
    click.echo(f"KUBECONFIG={report['kubeconfig']}")
    click.echo(f"server: {report['server']}  apiserver: {report.get('apiserver')}")
    for name, proc in report["processes"].items():
        click.echo(f"  {name:<24} pid {proc['pid']:<8} {'running' if proc['alive'] else 'DEAD'}")
    for node in report["nodes"]:
        ips = ",".join(a["address"] for a in node["addresses"] if a["type"] == "InternalIP")
        role = node["labels"].get("meshploy.com/role", "-")
        click.echo(f"  node {node['name']:<16} Ready={node['ready']:<7} ip={ips:<14} role={role}")
