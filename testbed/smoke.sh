#!/usr/bin/env bash
# Smoke-test the test bed's parts built by testbed/build.sh (docs/testbed-parts.md).
#
#   testbed/smoke.sh PART...     PART: coredns mesh local-path s3 buildkit railpack nixpacks
#   testbed/smoke.sh --all       every part
#
# Each test runs the cached binaries on loopback only, in a temporary directory, and stops
# every process it started before it returns (also on failure). Binaries that are missing
# are built first with testbed/build.sh. KEEP=1 keeps the temporary directories.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "smoke.sh: error: $*" >&2; exit 1; }
say() { echo "[$part] $*"; }

declare -A bin=()
while read -r name _ path; do bin[$name]=$path; done < <("$here/build.sh" --list)
need() {  # need NAME...: make sure the binaries exist
  local n missing=()
  for n in "$@"; do [[ -x "${bin[$n]}" ]] || missing+=("$n"); done
  ((${#missing[@]} == 0)) || "$here/build.sh" "${missing[@]}"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# free_udp_port: a port free for both UDP and TCP (DNS and STUN listen on UDP).
free_udp_port() {
  python3 - <<'EOF'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(port)
    break
EOF
}
wait_for() {  # wait_for SECONDS DESCRIPTION CMD...: retry CMD every 0.2 s
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { say "timed out waiting for $what"; return 1; }
    sleep 0.2
  done
}

pids=()
tmp=""
start_bg() {  # start_bg LOG CMD...: start CMD in the background, remember its pid
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  pids+=($!)
}
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  if [[ -n "$tmp" && -d "$tmp" ]]; then
    if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  fi
  tmp=""
}
trap cleanup EXIT
fail() {  # fail MESSAGE [LOG...]: show the logs and stop
  local msg=$1 f
  shift
  for f in "$@"; do [[ -f "$f" ]] && { echo "--- $f"; tail -n 30 "$f"; }; done
  die "$part: $msg"
}

smoke_coredns() {
  need coredns
  local dns health ready zone
  dns=$(free_udp_port) health=$(free_port) ready=$(free_port)
  zone="$tmp/db.apps.internal"
  mkdir -p "$tmp/zones"
  cat >"$zone" <<'EOF'
$ORIGIN apps.internal.
$TTL 60
@        IN SOA ns1 hostmaster ( 2026112501 7200 3600 1209600 60 )
         IN NS  ns1
ns1      IN A   100.64.0.1
web      IN A   100.64.0.10
*.web    IN CNAME web
_acme-challenge.web IN TXT "tokenA"
_acme-challenge.web IN TXT "tokenB"
EOF
  cat >"$tmp/zones/db.other.internal" <<'EOF'
$ORIGIN other.internal.
@   60 IN SOA ns1 hostmaster 1 7200 3600 1209600 60
    60 IN NS  ns1
ns1 60 IN A   100.64.0.2
EOF
  cat >"$tmp/Corefile" <<EOF
apps.internal.:$dns {
    bind 127.0.0.1
    errors
    log
    acl {
        allow net 127.0.0.0/8 100.64.0.0/10
        block
    }
    file $zone {
        reload 1s
    }
}
other.internal.:$dns {
    bind 127.0.0.1
    view loopback {
        expr incidr(client_ip(), '127.0.0.0/8')
    }
    auto {
        directory $tmp/zones db\.(.*) {1}
        reload 1s
    }
}
whoami.:$dns {
    bind 127.0.0.1
    whoami
}
.:$dns {
    bind 127.0.0.1
    health 127.0.0.1:$health
    ready 127.0.0.1:$ready
    cache 30
    reload 10s
    errors
}
EOF
  start_bg "$tmp/coredns.log" "${bin[coredns]}" -conf "$tmp/Corefile"
  wait_for 20 "coredns /ready" curl -fsS "http://127.0.0.1:$ready/ready" ||
    fail "coredns did not become ready" "$tmp/coredns.log"
  curl -fsS "http://127.0.0.1:$health/health" | grep -q OK || fail "/health is not OK"
  local q=(dig +time=2 +tries=1 -p "$dns" @127.0.0.1)
  local got
  got=$("${q[@]}" +short web.apps.internal A)
  [[ "$got" == 100.64.0.10 ]] || fail "UDP A web.apps.internal: '$got'" "$tmp/coredns.log"
  got=$("${q[@]}" +tcp +short web.apps.internal A)
  [[ "$got" == 100.64.0.10 ]] || fail "TCP A web.apps.internal: '$got'" "$tmp/coredns.log"
  got=$("${q[@]}" +tcp +short apps.internal SOA)
  [[ "$got" == "ns1.apps.internal. hostmaster.apps.internal. 2026112501 7200 3600 1209600 60" ]] ||
    fail "TCP SOA apps.internal: '$got'"
  got=$("${q[@]}" +short _acme-challenge.web.apps.internal TXT | sort | tr '\n' ' ')
  [[ "$got" == '"tokenA" "tokenB" ' ]] || fail "TXT: '$got'"
  got=$("${q[@]}" +short x.web.apps.internal A | tr '\n' ' ')
  [[ "$got" == "web.apps.internal. 100.64.0.10 " ]] || fail "wildcard CNAME: '$got'"
  got=$("${q[@]}" +short ns1.other.internal A)
  [[ "$got" == 100.64.0.2 ]] || fail "auto zone A: '$got'" "$tmp/coredns.log"
  "${q[@]}" whoami. A | grep -q '_udp.whoami.' || fail "whoami did not answer" "$tmp/coredns.log"
  # reload: a new serial (written atomically) is picked up within a couple of seconds.
  sed -e 's/2026112501/2026112502/' -e 's/100.64.0.10/100.64.0.11/' "$zone" >"$zone.tmp"
  mv "$zone.tmp" "$zone"
  wait_for 10 "the reloaded zone" bash -c "[[ \$(${q[*]} +short web.apps.internal A) == 100.64.0.11 ]]" ||
    fail "zone reload not seen" "$tmp/coredns.log"
  say "UDP+TCP A/SOA/TXT/CNAME answers, auto zone, view, whoami, acl, health, ready, reload: OK"
}

smoke_one() {
  part=$1
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/meshploy-smoke-$part.XXXXXX")"
  local start=$SECONDS
  "smoke_${part//-/_}"
  cleanup
  say "passed in $((SECONDS - start))s"
}

all_parts=(coredns mesh local-path s3 buildkit railpack nixpacks)
parts=()
for a in "$@"; do
  case "$a" in
    --all) parts+=("${all_parts[@]}") ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) declare -F "smoke_${a//-/_}" >/dev/null || die "unknown part '$a'; known: ${all_parts[*]}"
       parts+=("$a") ;;
  esac
done
((${#parts[@]})) || die "name a part (${all_parts[*]}) or --all"
part=smoke
for p in "${parts[@]}"; do smoke_one "$p"; done
