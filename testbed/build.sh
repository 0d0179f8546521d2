#!/usr/bin/env bash
# Build the test bed's upstream parts from their pinned modules (docs/testbed-parts.md).
#
#   testbed/build.sh                 kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok
#   testbed/build.sh --with-node     ... plus kubelet and kube-proxy (same Kubernetes version)
#   testbed/build.sh --all           every part the test suite needs (the above, coredns,
#                                    headscale, tailscaled, tailscale, derper,
#                                    local-path-provisioner, versitygw, buildkitd, buildctl,
#                                    railpack, nixpacks)
#   testbed/build.sh NAME...         only the named binaries (options and names combine)
#   testbed/build.sh --list          print "<name> <version> <path>" for every known binary
#
# Versions are pinned in testbed/versions.env; each part's Go module directory (kube/kubernetes,
# dns/coredns, mesh/tailscale, ...) has a go.mod and go.sum pinning its whole dependency graph,
# and builds with -mod=readonly. nixpacks is a Rust crate built with cargo install --locked.
# Binaries are cached outside the repository as
# ${MESHPLOY_CACHE_DIR:-$HOME/.cache/meshploy}/bin/<name>-<version>, so a warm run builds
# nothing. To move to another version, change versions.env and run `go get -tool
# <package>@<version>` (plus the staging replace lines for Kubernetes) and `go mod tidy` in the
# module directory; this script refuses to build when the two disagree.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_dir="${MESHPLOY_CACHE_DIR:-$HOME/.cache/meshploy}"
bin_dir="$cache_dir/bin"

die() { echo "build.sh: error: $*" >&2; exit 1; }

# name|module dir (under testbed/, or "cargo")|package (or crate)|version|ldflags -X (space separated)
k8s_x="k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION k8s.io/component-base/version.gitTreeState=clean k8s.io/client-go/pkg/version.gitTreeState=clean"
k8s_major_minor="${KUBERNETES_VERSION#v}"
k8s_major="${k8s_major_minor%%.*}"
k8s_minor="${k8s_major_minor#*.}"; k8s_minor="${k8s_minor%%.*}"
k8s_x="$k8s_x k8s.io/component-base/version.gitMajor=$k8s_major k8s.io/component-base/version.gitMinor=$k8s_minor"
k8s_x="$k8s_x k8s.io/client-go/pkg/version.gitMajor=$k8s_major k8s.io/client-go/pkg/version.gitMinor=$k8s_minor"
ts_x="tailscale.com/version.longStamp=${TAILSCALE_VERSION#v} tailscale.com/version.shortStamp=${TAILSCALE_VERSION#v}"
components=(
  "kube-apiserver|kube/kubernetes|k8s.io/kubernetes/cmd/kube-apiserver|$KUBERNETES_VERSION|$k8s_x"
  "kube-controller-manager|kube/kubernetes|k8s.io/kubernetes/cmd/kube-controller-manager|$KUBERNETES_VERSION|$k8s_x"
  "kube-scheduler|kube/kubernetes|k8s.io/kubernetes/cmd/kube-scheduler|$KUBERNETES_VERSION|$k8s_x"
  "etcd|kube/etcd|go.etcd.io/etcd/server/v3|$ETCD_VERSION|"
  "kwok|kube/kwok|sigs.k8s.io/kwok/cmd/kwok|$KWOK_VERSION|"
  "kubelet|kube/kubernetes|k8s.io/kubernetes/cmd/kubelet|$KUBERNETES_VERSION|$k8s_x"
  "kube-proxy|kube/kubernetes|k8s.io/kubernetes/cmd/kube-proxy|$KUBERNETES_VERSION|$k8s_x"
  "coredns|dns/coredns|meshploy.invalid/testbed/dns/coredns|$COREDNS_VERSION|"
  "headscale|mesh/headscale|github.com/juanfont/headscale/cmd/headscale|$HEADSCALE_VERSION|"
  "tailscaled|mesh/tailscale|tailscale.com/cmd/tailscaled|$TAILSCALE_VERSION|$ts_x"
  "tailscale|mesh/tailscale|tailscale.com/cmd/tailscale|$TAILSCALE_VERSION|$ts_x"
  "derper|mesh/tailscale|tailscale.com/cmd/derper|$TAILSCALE_VERSION|$ts_x"
  "local-path-provisioner|storage/local-path|github.com/rancher/local-path-provisioner|$LOCAL_PATH_PROVISIONER_VERSION|main.VERSION=$LOCAL_PATH_PROVISIONER_VERSION"
  "versitygw|storage/s3|github.com/versity/versitygw/cmd/versitygw|$VERSITYGW_VERSION|main.Version=$VERSITYGW_VERSION main.Build=$VERSITYGW_VERSION"
  "buildkitd|images/buildkit|github.com/moby/buildkit/cmd/buildkitd|$BUILDKIT_VERSION|github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION"
  "buildctl|images/buildkit|github.com/moby/buildkit/cmd/buildctl|$BUILDKIT_VERSION|github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION"
  "railpack|images/railpack|github.com/railwayapp/railpack/cmd/cli|$RAILPACK_VERSION|main.version=$RAILPACK_VERSION"
  "nixpacks|cargo|nixpacks|$NIXPACKS_VERSION|"
)
# module dir|upstream module whose version go.mod must require|version
pins=(
  "kube/kubernetes|k8s.io/kubernetes|$KUBERNETES_VERSION"
  "kube/etcd|go.etcd.io/etcd/server/v3|$ETCD_VERSION"
  "kube/kwok|sigs.k8s.io/kwok|$KWOK_VERSION"
  "dns/coredns|github.com/coredns/coredns|$COREDNS_VERSION"
  "mesh/headscale|github.com/juanfont/headscale|$HEADSCALE_VERSION"
  "mesh/tailscale|tailscale.com|$TAILSCALE_VERSION"
  "storage/local-path|github.com/rancher/local-path-provisioner|$LOCAL_PATH_PROVISIONER_VERSION"
  "storage/s3|github.com/versity/versitygw|$VERSITYGW_VERSION"
  "images/buildkit|github.com/moby/buildkit|$BUILDKIT_VERSION"
  "images/railpack|github.com/railwayapp/railpack|$RAILPACK_VERSION"
)
default_names=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok)
node_names=(kubelet kube-proxy)
all_names=()
for c in "${components[@]}"; do all_names+=("${c%%|*}"); done

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

lookup() {  # lookup NAME -> prints the component line or fails
  local c
  for c in "${components[@]}"; do
    if [[ "${c%%|*}" == "$1" ]]; then echo "$c"; return 0; fi
  done
  return 1
}

wanted=()
list_only=0
while (($#)); do
  case "$1" in
    --with-node) wanted+=("${default_names[@]}" "${node_names[@]}") ;;
    --all) wanted+=("${all_names[@]}") ;;
    --list) list_only=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) lookup "$1" >/dev/null || die "unknown binary '$1'; known: ${all_names[*]}"
       wanted+=("$1") ;;
  esac
  shift
done
((${#wanted[@]})) || wanted=("${default_names[@]}")

if ((list_only)); then
  for c in "${components[@]}"; do
    IFS='|' read -r name _ _ version _ <<<"$c"
    echo "$name $version $bin_dir/$name-$version"
  done
  exit 0
fi

is_cached() {  # is_cached NAME VERSION
  [[ -x "$bin_dir/$1-$2" && ( "$1" != kwok || -d "$bin_dir/$1-$2-stages" ) ]]
}

# Which requested binaries are missing? A warm run stops here without touching Go.
missing=()
declare -A seen=()
for name in "${wanted[@]}"; do
  [[ -n "${seen[$name]:-}" ]] && continue
  seen[$name]=1
  IFS='|' read -r _ _ _ version _ <<<"$(lookup "$name")"
  if is_cached "$name" "$version"; then
    echo "$name $version cached"
  else
    missing+=("$name")
  fi
done
((${#missing[@]})) || exit 0

# Toolchains: Go for every Go part (each module's go.mod says how new), cargo for nixpacks.
need_go=0 need_cargo=0
for name in "${missing[@]}"; do
  IFS='|' read -r _ moddir _ _ _ <<<"$(lookup "$name")"
  if [[ "$moddir" == cargo ]]; then need_cargo=1; else need_go=1; fi
done
version_ge() {  # version_ge A B: A >= B (dotted numbers)
  [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}
go_line() { sed -n 's/^go \([0-9.]*\)$/\1/p' "$here/$1/go.mod"; }
go_version=""
if ((need_go)); then
  go_needed=1.0
  for name in "${missing[@]}"; do
    IFS='|' read -r _ moddir _ _ _ <<<"$(lookup "$name")"
    [[ "$moddir" == cargo ]] && continue
    want="$(go_line "$moddir")"
    [[ -n "$want" ]] || die "$here/$moddir/go.mod has no go directive"
    version_ge "$go_needed" "$want" || go_needed=$want
  done
  command -v go >/dev/null 2>&1 ||
    die "Go is not installed; install it with 'apt-get install golang' or any Go >= $go_needed toolchain, then re-run"
  go_version="$(go env GOVERSION)"
  [[ "$go_version" == go1.* ]] || die "cannot tell the version of the installed Go ('$go_version')"
fi
check_go_for() {  # check_go_for MODDIR: the installed Go must be at least go.mod's go line
  local want
  want="$(go_line "$1")"
  version_ge "${go_version#go}" "$want" ||
    die "Go ${go_version#go} is too old for testbed/$1 (its go.mod needs Go >= $want); install a newer Go and re-run"
}
cargo_bin=""
if ((need_cargo)); then
  cargo_bin="$(command -v cargo || true)"
  [[ -n "$cargo_bin" || ! -x "$HOME/.cargo/bin/cargo" ]] || cargo_bin="$HOME/.cargo/bin/cargo"
  [[ -n "$cargo_bin" ]] ||
    die "cargo is not installed (needed for nixpacks); install Rust with rustup or 'apt-get install cargo', then re-run"
fi

mkdir -p "$bin_dir"
lock="$bin_dir/.build.lock"
owner_file="$lock.owner"
exec 9>"$lock"
lock_holder() {  # who holds the lock: "pid N (command line)[: what it is doing]"
  local inode pid cmd what=""
  inode="$(stat -c %i "$lock")"
  pid="$(awk -v ino="$inode" '$2 == "FLOCK" { split($6, f, ":"); if (f[3] == ino) { print $5; exit } }' /proc/locks 2>/dev/null || true)"
  [[ -n "$pid" ]] || { echo "another build"; return; }
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  if [[ -r "$owner_file" ]] && [[ "$(cut -d' ' -f1 "$owner_file")" == "$pid" ]]; then
    what=": $(cut -d' ' -f2- "$owner_file")"
  fi
  echo "pid $pid (${cmd% })$what"
}
if ! flock -n 9; then
  wait_start=$SECONDS
  echo "waiting for the build lock $lock, held by $(lock_holder)"
  until flock -w 30 9; do
    echo "  ... still waiting ($((SECONDS - wait_start))s) for $(lock_holder)"
  done
  echo "got the build lock after $((SECONDS - wait_start))s"
fi
trap 'rm -f "$owner_file"' EXIT

export CGO_ENABLED=0 GOTOOLCHAIN=local
# -mod=readonly: build exactly what go.mod/go.sum pin; never resolve anything new.
export GOFLAGS="-mod=readonly -buildvcs=false"

check_pin() {  # check_pin MODDIR: go.mod must require the module versions.env pins
  local p dir module want got
  for p in "${pins[@]}"; do
    IFS='|' read -r dir module want <<<"$p"
    [[ "$dir" == "$1" ]] || continue
    got="$(go -C "$here/$dir" list -m -f '{{.Version}}' "$module")" || die "cannot read $module from $here/$dir/go.mod"
    [[ "$got" == "$want" ]] ||
      die "testbed/$dir/go.mod pins $module $got but versions.env says $want; run 'go get $module@$want && go mod tidy' in $here/$dir"
    return 0
  done
  die "no version pin for module directory testbed/$1"
}

# kwok ships its standard stage configurations as YAML in its module; keep the ones the
# launcher passes to kwok (node-initialize, pod-ready, pod-complete, pod-delete) next to the
# binary, taken from the exact module version go.sum verified.
copy_kwok_stages() {  # copy_kwok_stages VERSION DEST
  local src
  src="$(go -C "$here/kube/kwok" mod download -json sigs.k8s.io/kwok | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$src" ]] || die "cannot locate the kwok $1 module source (go mod download failed)"
  rm -rf "$2.tmp" && mkdir -p "$2.tmp"
  cp "$src/kustomize/stage/node/fast/node-initialize.yaml" \
     "$src/kustomize/stage/pod/fast/pod-ready.yaml" \
     "$src/kustomize/stage/pod/fast/pod-complete.yaml" \
     "$src/kustomize/stage/pod/fast/pod-delete.yaml" "$2.tmp/" || die "kwok $1 module lacks its stage YAMLs"
  chmod 0644 "$2.tmp"/*.yaml
  rm -rf "$2" && mv "$2.tmp" "$2"
}

# run_with_progress NAME LOG CMD...: run CMD, appending its output to LOG, saying every 30 s
# that it is still going.
run_with_progress() {
  local name=$1 log=$2 start=$SECONDS pid
  shift 2
  "$@" >>"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 1; done
    kill -0 "$pid" 2>/dev/null && echo "  ... still building $name ($((SECONDS - start))s)"
  done
  wait "$pid"
}

build_cargo() {  # build_cargo CRATE VERSION OUT
  local tmp rc=0
  tmp="$(mktemp -d "$cache_dir/cargo-build.XXXXXX")"
  # --locked: the crate's own Cargo.lock pins the whole graph. The target dir is thrown
  # away with the rest, so the cache only keeps the binary. Unoptimised (opt-level 0, no
  # debug info) by default: about 3.5x less compile time than cargo's release profile, for a
  # 31 MB instead of 12 MB binary whose `plan` still takes milliseconds
  # (MESHPLOY_CARGO_OPT_LEVEL=3 for the release profile; docs/testbed-parts.md).
  CARGO_PROFILE_RELEASE_OPT_LEVEL="${MESHPLOY_CARGO_OPT_LEVEL:-0}" CARGO_PROFILE_RELEASE_DEBUG=0 \
    "${timer[@]}" "$cargo_bin" install "$1" --version "=$2" --locked --no-track --root "$tmp/root" \
    --target-dir "$tmp/target" || rc=$?
  if ((rc == 0)); then mv -f "$tmp/root/bin/$1" "$3"; fi
  rm -rf "$tmp"
  return "$rc"
}

# GNU time, where installed, reports each build's peak RSS (its largest compile or link step).
rss_file="$cache_dir/.build.rss"
timer=()
if [[ -x /usr/bin/time ]]; then timer=(/usr/bin/time -o "$rss_file" -f %M); fi
peak_rss() { [[ -s "$rss_file" ]] && echo ", peak RSS $(( $(tail -n1 "$rss_file") / 1024 )) MB" || true; }

total_start=$SECONDS
log="$cache_dir/build.log"
: >"$log"
declare -A checked=()
for name in "${missing[@]}"; do
  IFS='|' read -r _ moddir pkg version xflags <<<"$(lookup "$name")"
  out="$bin_dir/$name-$version"
  if is_cached "$name" "$version"; then  # built by the run we waited for
    echo "$name $version cached"
    continue
  fi
  echo "$$ building $name $version" >"$owner_file"
  start=$SECONDS
  if [[ "$moddir" == cargo ]]; then
    echo "building $name $version (cargo install $pkg --locked; a cold build takes minutes on 2 cores)"
    rm -f "$out.tmp"
    if ! run_with_progress "$name" "$log" build_cargo "$pkg" "$version" "$out.tmp"; then
      tail -n 40 "$log" >&2
      die "building $name $version failed after $((SECONDS - start))s; full output in $log"
    fi
  else
    if [[ -z "${checked[$moddir]:-}" ]]; then
      check_go_for "$moddir"
      check_pin "$moddir"
      checked[$moddir]=1
    fi
    ldflags="-s -w"
    for x in $xflags; do ldflags+=" -X $x"; done
    echo "building $name $version (from $pkg; a cold build takes minutes on 2 cores)"
    if ! run_with_progress "$name" "$log" \
        "${timer[@]}" go -C "$here/$moddir" build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg"; then
      rm -f "$out.tmp"
      tail -n 40 "$log" >&2
      die "building $name $version failed after $((SECONDS - start))s; full output in $log"
    fi
    if [[ "$name" == kwok ]]; then copy_kwok_stages "$version" "$out-stages"; fi
  fi
  mv -f "$out.tmp" "$out"
  echo "built $name $version in $((SECONDS - start))s ($(du -m "$out" | cut -f1) MB$(peak_rss)) -> $out"
  rm -f "$rss_file"
done
echo "build finished in $((SECONDS - total_start))s"
