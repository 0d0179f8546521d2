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
# shellcheck source=versions.env
source "$here/versions.env"
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

# headscale (sqlite, plain-HTTP server_url, no MagicDNS) with a local DERP map naming our own
# derper (self-signed cert, manual cert mode); two userspace tailscaled nodes join it with a
# pre-auth key, get 100.64.x.y addresses and ping each other over the tailnet.
smoke_mesh() {
  need headscale tailscaled tailscale derper
  local hs grpc metrics derp stun d=$tmp
  hs=$(free_port) grpc=$(free_port) metrics=$(free_port) derp=$(free_port) stun=$(free_udp_port)
  mkdir -p "$d/derper-certs" "$d/hs"
  # derper in manual cert mode reads <certdir>/<hostname>.crt and .key; an IP hostname skips SNI.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$d/derper-certs/127.0.0.1.key" -out "$d/derper-certs/127.0.0.1.crt" 2>/dev/null
  start_bg "$d/derper.log" "${bin[derper]}" -hostname 127.0.0.1 -certmode manual \
    -certdir "$d/derper-certs" -a "127.0.0.1:$derp" -http-port -1 -stun-port "$stun" \
    -c "$d/derper.json"
  wait_for 20 "derper" curl -fsSk "https://127.0.0.1:$derp/" || fail "derper did not start" "$d/derper.log"
  curl -fsSk "https://127.0.0.1:$derp/derp/probe" >/dev/null || fail "derper /derp/probe failed" "$d/derper.log"
  # Region 999 only; insecurefortests: tailscaled accepts the self-signed certificate.
  cat >"$d/hs/derp.yaml" <<EOF
regions:
  999:
    regionid: 999
    regioncode: local
    regionname: Local test DERP
    nodes:
      - name: 999a
        regionid: 999
        hostname: 127.0.0.1
        ipv4: 127.0.0.1
        ipv6: none
        derpport: $derp
        stunport: $stun
        insecurefortests: true
EOF
  cat >"$d/hs/config.yaml" <<EOF
server_url: http://127.0.0.1:$hs
listen_addr: 127.0.0.1:$hs
metrics_listen_addr: 127.0.0.1:$metrics
grpc_listen_addr: 127.0.0.1:$grpc
grpc_allow_insecure: false
noise:
  private_key_path: $d/hs/noise_private.key
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
  allocation: sequential
derp:
  server:
    enabled: false
  urls: []
  paths:
    - $d/hs/derp.yaml
  auto_update_enabled: false
disable_check_updates: true
database:
  type: sqlite
  sqlite:
    path: $d/hs/db.sqlite
    write_ahead_log: true
log:
  level: info
  format: text
policy:
  mode: file
  path: ""
dns:
  magic_dns: false
  override_local_dns: false
  base_domain: ""
  nameservers:
    global: []
unix_socket: $d/hs/headscale.sock
unix_socket_permission: "0770"
logtail:
  enabled: false
taildrop:
  enabled: false
EOF
  local hsc=("${bin[headscale]}" -c "$d/hs/config.yaml")
  start_bg "$d/headscale.log" "${hsc[@]}" serve
  wait_for 30 "headscale /health" curl -fsS "http://127.0.0.1:$hs/health" ||
    fail "headscale did not start" "$d/headscale.log"
  "${hsc[@]}" users create smoke >/dev/null || fail "users create failed" "$d/headscale.log"
  local uid key apikey
  uid=$("${hsc[@]}" users list -o json | python3 -c 'import json,sys; print([u["id"] for u in json.load(sys.stdin) if u["name"]=="smoke"][0])')
  key=$("${hsc[@]}" preauthkeys create --user "$uid" --reusable --expiration 1h -o json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  apikey=$("${hsc[@]}" apikeys create --expiration 1h)
  apikey=${apikey##*$'\n'}
  curl -fsS -H "Authorization: Bearer $apikey" "http://127.0.0.1:$hs/api/v1/user" | grep -q '"smoke"' ||
    fail "GET /api/v1/user with the API key did not list the user" "$d/headscale.log"
  curl -fsS "http://127.0.0.1:$hs/health" | grep -q pass || fail "/health is not pass" "$d/headscale.log"
  local n ip ips=()
  for n in 1 2; do
    mkdir -p "$d/ts$n"
    TS_NO_LOGS_NO_SUPPORT=true start_bg "$d/tailscaled$n.log" "${bin[tailscaled]}" \
      --tun=userspace-networking --statedir="$d/ts$n" --socket="$d/ts$n/tailscaled.sock" --port=0
    wait_for 20 "tailscaled $n socket" test -S "$d/ts$n/tailscaled.sock" ||
      fail "tailscaled $n did not start" "$d/tailscaled$n.log"
    "${bin[tailscale]}" --socket="$d/ts$n/tailscaled.sock" up --login-server "http://127.0.0.1:$hs" \
      --authkey "$key" --hostname "smoke$n" --accept-dns=false --timeout 60s >"$d/up$n.log" 2>&1 ||
      fail "tailscale up $n failed" "$d/up$n.log" "$d/tailscaled$n.log" "$d/headscale.log"
    ip=$("${bin[tailscale]}" --socket="$d/ts$n/tailscaled.sock" ip -4)
    [[ "$ip" == 100.* ]] || fail "node $n got no 100.64/10 address: '$ip'" "$d/tailscaled$n.log"
    ips+=("$ip")
  done
  # Node 1 learns about node 2 from its next map update: retry until the peer answers.
  local ts1=("${bin[tailscale]}" --socket="$d/ts1/tailscaled.sock")
  wait_for 30 "a disco ping node 1 -> node 2" bash -c \
    "$(printf '%q ' "${ts1[@]}") ping --c 1 --timeout 2s ${ips[1]} >>$d/ping.log 2>&1" ||
    fail "tailscale ping node 1 -> node 2 failed" "$d/ping.log" "$d/tailscaled1.log"
  "${ts1[@]}" ping --c 3 --timeout 5s --tsmp "${ips[1]}" >>"$d/ping.log" 2>&1 ||
    fail "tailscale ping --tsmp node 1 -> node 2 failed" "$d/ping.log"
  say "headscale API ok; nodes ${ips[*]} joined; $(grep -m1 pong "$d/ping.log")"
  grep -q "derp-999 connected" "$d/tailscaled1.log" && grep -q "derp-999 connected" "$d/tailscaled2.log" ||
    fail "the nodes did not connect to the local DERP (region 999)" "$d/tailscaled1.log" "$d/derper.log"
  say "derper on https://127.0.0.1:$derp (self-signed, manual cert mode), STUN udp/$stun: both nodes' home DERP"
}

smoke_local_path() {
  need local-path-provisioner
  local out
  out=$("${bin[local-path-provisioner]}" --version 2>&1) || fail "--version failed: $out"
  [[ "$out" == *"version ${LOCAL_PATH_PROVISIONER_VERSION}" ]] || fail "--version printed '$out'"
  "${bin[local-path-provisioner]}" start --help 2>&1 | grep -q -- "--config" || fail "start --help lacks --config"
  say "$out; 'start --help' lists --config, --provisioner-name, --service-account-name"
}

# versitygw, posix backend on a plain directory: make a bucket, PUT, GET and list an object
# with SigV4-signed requests (curl --aws-sigv4). curl 7.88 does not send x-amz-content-sha256,
# which versitygw requires (400 InvalidRequest without it), so it is passed by hand.
smoke_s3() {
  need versitygw
  local port access=meshploy-smoke secret=meshploy-smoke-secret-key
  port=$(free_port)
  mkdir -p "$tmp/data"
  start_bg "$tmp/versitygw.log" "${bin[versitygw]}" --access "$access" --secret "$secret" \
    --region us-east-1 --port "127.0.0.1:$port" posix "$tmp/data"
  local s3=(curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret"
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
  wait_for 20 "versitygw" "${s3[@]}" "http://127.0.0.1:$port/" || fail "versitygw did not start" "$tmp/versitygw.log"
  "${s3[@]}" -X PUT "http://127.0.0.1:$port/smoke" || fail "create bucket failed" "$tmp/versitygw.log"
  head -c 100000 /dev/urandom >"$tmp/object"
  "${s3[@]}" -T "$tmp/object" "http://127.0.0.1:$port/smoke/dir/object.bin" ||
    fail "PUT object failed" "$tmp/versitygw.log"
  "${s3[@]}" -o "$tmp/object.back" "http://127.0.0.1:$port/smoke/dir/object.bin" ||
    fail "GET object failed" "$tmp/versitygw.log"
  cmp -s "$tmp/object" "$tmp/object.back" || fail "GET returned other bytes than PUT"
  "${s3[@]}" "http://127.0.0.1:$port/smoke?list-type=2" | grep -q "<Key>dir/object.bin</Key>" ||
    fail "ListObjectsV2 does not show the object"
  [[ -f "$tmp/data/smoke/dir/object.bin" ]] || fail "the object is not a plain file in the posix directory"
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:wrong" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    "http://127.0.0.1:$port/smoke/dir/object.bin")
  [[ "$code" == 403 ]] || fail "a wrong secret got HTTP $code, want 403"
  say "bucket, PUT/GET (100 kB, same bytes), ListObjectsV2, object is a plain file, wrong secret -> 403: OK"
}

# Versions, then (as root, with runc) a real build on the OCI worker: a Dockerfile FROM scratch
# with a static busybox, whose RUN step runs under runc, exported to a local directory.
smoke_buildkit() {
  need buildkitd buildctl
  local a b
  a=$("${bin[buildkitd]}" --version) || fail "buildkitd --version failed"
  b=$("${bin[buildctl]}" --version) || fail "buildctl --version failed"
  [[ "$a" == *"$BUILDKIT_VERSION"* && "$b" == *"$BUILDKIT_VERSION"* ]] || fail "versions: '$a' / '$b'"
  say "$a; $b"
  local runc busybox
  runc=$(command -v runc || true) busybox=$(command -v busybox || true)
  if [[ "$(id -u)" != 0 || -z "$runc" || -z "$busybox" ]]; then
    say "skipping the build: needs root, runc and busybox (scripts/bootstrap installs both)"
    return 0
  fi
  mkdir -p "$tmp/ctx"
  cp "$busybox" "$tmp/ctx/busybox"
  cat >"$tmp/ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox echo built-by-runc > /hello"]
EOF
  local sock="unix://$tmp/buildkitd.sock"
  start_bg "$tmp/buildkitd.log" "${bin[buildkitd]}" --addr "$sock" --root "$tmp/state" \
    --oci-worker=true --oci-worker-binary "$runc" --containerd-worker=false
  wait_for 30 "buildkitd" "${bin[buildctl]}" --addr "$sock" debug workers ||
    fail "buildkitd did not start" "$tmp/buildkitd.log"
  "${bin[buildctl]}" --addr "$sock" build --frontend dockerfile.v0 --local context="$tmp/ctx" \
    --local dockerfile="$tmp/ctx" --output "type=local,dest=$tmp/out" >"$tmp/build.log" 2>&1 ||
    fail "buildctl build failed" "$tmp/build.log" "$tmp/buildkitd.log"
  [[ "$(cat "$tmp/out/hello" 2>/dev/null)" == built-by-runc ]] || fail "the RUN step's file is missing" "$tmp/build.log"
  say "buildkitd (OCI worker, $("$runc" --version | head -n1)) built a Dockerfile with a RUN step: OK"
}

sample_apps() {  # sample_apps DIR: a tiny Node app and a tiny Python app
  mkdir -p "$1/node" "$1/python"
  cat >"$1/node/package.json" <<'EOF'
{"name": "smoke-node", "version": "1.0.0", "scripts": {"start": "node index.js"}, "engines": {"node": "22"}}
EOF
  echo 'require("http").createServer((q, s) => s.end("ok")).listen(process.env.PORT || 3000);' >"$1/node/index.js"
  printf 'flask==3.1.0\n' >"$1/python/requirements.txt"
  printf 'from flask import Flask\napp = Flask(__name__)\n' >"$1/python/app.py"
  printf '3.12\n' >"$1/python/.python-version"
}

# railpack plan needs mise: railpack runs mise <RAILPACK_MISE_VERSION> from the fixed path
# /tmp/railpack/mise/mise-<version> (downloading it from GitHub when missing, which fails
# offline) and asks it for the newest version of each package (node@22 ...), which mise looks
# up in upstream version lists (mise-versions.jdx.dev, nodejs.org): offline that fails too.
# Without a mise binary (MESHPLOY_MISE=/path/to/mise-<version>), only --version, schema and
# the expected plan failure are checked. With one, the smoke installs a wrapper at that fixed
# path that points mise's Node version list at a local index.json, and checks that plan prints
# a plan JSON for a Node app (and a start.sh app, which needs no version lookup).
smoke_railpack() {
  need railpack
  local out app
  out=$("${bin[railpack]}" --version) || fail "railpack --version failed"
  [[ "$out" == *"$RAILPACK_VERSION"* ]] || fail "--version printed '$out'"
  "${bin[railpack]}" schema | python3 -c 'import json,sys; json.load(sys.stdin)' || fail "schema is not JSON"
  sample_apps "$tmp"
  mkdir -p "$tmp/shell"
  printf '#!/bin/sh\necho hello\n' >"$tmp/shell/start.sh"
  local fixed="/tmp/railpack/mise/mise-$RAILPACK_MISE_VERSION" marker="# meshploy smoke wrapper"
  if grep -q "$marker" "$fixed" 2>/dev/null; then rm -f "$fixed"; fi  # left by a failed run
  if [[ -z "${MESHPLOY_MISE:-}" ]]; then
    if [[ -e "$fixed" ]]; then
      say "using the mise already at $fixed"
    else
      "${bin[railpack]}" plan "$tmp/shell" >"$tmp/plan.json" 2>"$tmp/plan.err" || true
      grep -q "failed to ensure mise is installed" "$tmp/plan.err" ||
        fail "railpack plan without mise: unexpected output" "$tmp/plan.err" "$tmp/plan.json"
      say "$out; schema OK; plan SKIPPED: no mise $RAILPACK_MISE_VERSION (set MESHPLOY_MISE=/path/to/it);" \
        "without it plan fails offline as expected: $(grep -o 'failed to ensure mise is installed' "$tmp/plan.err")"
      return 0
    fi
  fi
  [[ -z "${MESHPLOY_MISE:-}" ]] || "$MESHPLOY_MISE" --version | grep -q "^$RAILPACK_MISE_VERSION " ||
    fail "MESHPLOY_MISE=$MESHPLOY_MISE is not mise $RAILPACK_MISE_VERSION"
  # A local Node version index (the shape of nodejs.org/dist/index.json).
  mkdir -p "$tmp/mirror"
  cat >"$tmp/mirror/index.json" <<'EOF'
[{"version":"v22.11.0","date":"2024-10-29","files":["linux-x64"],"npm":"10.9.0","lts":"Jod","security":false},
 {"version":"v20.18.0","date":"2024-10-03","files":["linux-x64"],"npm":"10.8.2","lts":"Iron","security":false}]
EOF
  local port
  port=$(free_port)
  start_bg "$tmp/mirror.log" python3 -m http.server "$port" --bind 127.0.0.1 --directory "$tmp/mirror"
  wait_for 10 "the local Node index" curl -fsS "http://127.0.0.1:$port/index.json" || fail "index server"
  if [[ -n "${MESHPLOY_MISE:-}" ]]; then
    [[ ! -e "$fixed" ]] || fail "$fixed exists and is not our wrapper; move it away or unset MESHPLOY_MISE"
    mkdir -p "$(dirname "$fixed")"
    printf '#!/bin/sh\n%s\nMISE_NODE_MIRROR_URL=http://127.0.0.1:%s/ MISE_USE_VERSIONS_HOST=false exec %q "$@"\n' \
      "$marker" "$port" "$MESHPLOY_MISE" >"$fixed"
    chmod +x "$fixed"
    rm -rf /tmp/railpack/mise/cache  # version lists cached from an earlier port
  fi
  for app in shell node; do
    "${bin[railpack]}" plan "$tmp/$app" >"$tmp/$app.plan.json" 2>"$tmp/$app.plan.err" ||
      fail "railpack plan $app failed" "$tmp/$app.plan.err"
    python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); assert p.get("steps"), p' "$tmp/$app.plan.json" ||
      fail "railpack plan $app printed no steps" "$tmp/$app.plan.err" "$tmp/$app.plan.json"
  done
  [[ -z "${MESHPLOY_MISE:-}" ]] || rm -f "$fixed"
  say "$out; plan JSON for a start.sh app and a Node app (node from the local index): OK"
}

smoke_nixpacks() {
  need nixpacks
  sample_apps "$tmp"
  local app
  for app in node python; do
    "${bin[nixpacks]}" plan "$tmp/$app" >"$tmp/$app.plan.json" 2>"$tmp/$app.plan.err" ||
      fail "nixpacks plan $app failed" "$tmp/$app.plan.err"
    python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); assert p["phases"], p' "$tmp/$app.plan.json" ||
      fail "nixpacks plan $app printed no phases" "$tmp/$app.plan.json"
  done
  say "plan JSON for a Node and a Python app: OK ($("${bin[nixpacks]}" --version))"
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
