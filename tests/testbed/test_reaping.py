"""A test bed whose owner is killed (kill -9) leaves containers, mounts and a network
namespace behind; the next test bed reaps them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from meshploy_testbed.cluster.api import poll_until
from meshploy_testbed.realnode import hostnet
from meshploy_testbed.realnode.realnet import STATE_DIR, reap_stale

from tests.fixtures.realnode import RealBed

#: Real containers on the real-node cluster (``kube_cluster`` is that cluster here).
pytestmark = pytest.mark.realnode

_OWNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from meshploy_testbed.cluster import DevCluster
    from meshploy_testbed.realnode import images
    cluster = DevCluster(workdir=Path(sys.argv[1])).start()
    node = cluster.add_real_node("doomed")
    ref = cluster.real_nodes.push(images.pause_image(), "meshploy/sleeper", "1")
    cluster.api.post("/api/v1/namespaces/default/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
        "spec": {"containers": [{"name": "c", "image": ref}]}})
    while cluster.api.get("/api/v1/namespaces/default/pods/sleeper")["status"].get(
            "phase") != "Running":
        time.sleep(0.2)
    print(cluster.real_nodes.network.slot, node.netns, node.layout.cgroup, flush=True)
    time.sleep(600)
    """
)


def test_a_killed_owners_leftovers_are_reaped(real_bed: RealBed, tmp_path: Path) -> None:
    # A short work directory: the kubelet's unix sockets live deep inside it.
    workdir, log = Path(tempfile.mkdtemp(prefix="mp-")), tmp_path / "owner.log"
    with log.open("w") as err:
        owner = subprocess.Popen(
            [sys.executable, "-c", _OWNER, str(workdir)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        assert line, f"the owner exited early ({owner.wait()}): {log.read_text()[-2000:]}"
        slot, netns, cgroup = line.split()
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait()
        # The kernel killed the components; the container (its shim was re-parented) lives.
        assert hostnet.cgroup_pids(cgroup), "the pod's processes outlive their owner"
        assert (hostnet.NETNS_DIR / netns).exists() and hostnet.mounts_under(workdir)

        reaped = poll_until(lambda: reap_stale() or None, 10, "the stale test bed reaped")
        assert int(slot) in reaped
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()
        reap_stale()  # also when the test failed half-way
        shutil.rmtree(workdir, ignore_errors=True)
    assert not hostnet.cgroup_pids(cgroup)
    assert not (hostnet.NETNS_DIR / netns).exists()
    assert hostnet.mounts_under(workdir) == []
    assert not hostnet.link_exists(f"mpbr{slot}")
    assert not (STATE_DIR / f"realnet-{slot}.json").exists()
