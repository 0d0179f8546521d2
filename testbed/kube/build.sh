#!/usr/bin/env bash
# Kept for callers of the old path: everything is built by testbed/build.sh now.
exec "$(dirname "${BASH_SOURCE[0]}")/../build.sh" "$@"
