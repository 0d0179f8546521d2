"""The local-run and test harness: embedded PostgreSQL, the Kubernetes test bed (control plane
built from upstream, kwok-simulated and real worker nodes), the dev owner and ``meshploy dev``.

It is a plugin like any other (``meshploy`` entry point ``testbed``): the production core never
imports it.
"""
