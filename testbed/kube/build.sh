#!/usr/bin/env bash
# Build the dev/test Kubernetes control plane from upstream Go modules (issue #4).
#
#   testbed/kube/build.sh                 kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok
#   testbed/kube/build.sh --with-node     ... plus kubelet and kube-proxy (same Kubernetes version)
#   testbed/kube/build.sh NAME...         only the named binaries
#   testbed/kube/build.sh --list          print "<name> <version> <path>" for every known binary
#
# Versions are pinned in versions.env; each module directory (kubernetes/, etcd/, kwok/)
# has a go.mod and go.sum pinning the whole dependency graph. Binaries are cached outside
# the repository as ${MESHPLOY_CACHE_DIR:-$HOME/.cache/meshploy}/bin/<name>-<version>, so a
# warm run builds nothing. To move to another version, change versions.env and run
# `go get -tool <package>@<version>` (plus the staging replace lines for Kubernetes) in the
# module directory; this script refuses to build when the two disagree.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_dir="${MESHPLOY_CACHE_DIR:-$HOME/.cache/meshploy}"
bin_dir="$cache_dir/bin"

die() { echo "build.sh: error: $*" >&2; exit 1; }

# name|module dir|package|version|ldflags -X (space separated)
k8s_x="k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION k8s.io/component-base/version.gitTreeState=clean k8s.io/client-go/pkg/version.gitTreeState=clean"
k8s_major_minor="${KUBERNETES_VERSION#v}"
k8s_major="${k8s_major_minor%%.*}"
k8s_minor="${k8s_major_minor#*.}"; k8s_minor="${k8s_minor%%.*}"
k8s_x="$k8s_x k8s.io/component-base/version.gitMajor=$k8s_major k8s.io/component-base/version.gitMinor=$k8s_minor"
k8s_x="$k8s_x k8s.io/client-go/pkg/version.gitMajor=$k8s_major k8s.io/client-go/pkg/version.gitMinor=$k8s_minor"
components=(
  "kube-apiserver|kubernetes|k8s.io/kubernetes/cmd/kube-apiserver|$KUBERNETES_VERSION|$k8s_x"
  "kube-controller-manager|kubernetes|k8s.io/kubernetes/cmd/kube-controller-manager|$KUBERNETES_VERSION|$k8s_x"
  "kube-scheduler|kubernetes|k8s.io/kubernetes/cmd/kube-scheduler|$KUBERNETES_VERSION|$k8s_x"
  "etcd|etcd|go.etcd.io/etcd/server/v3|$ETCD_VERSION|"
  "kwok|kwok|sigs.k8s.io/kwok/cmd/kwok|$KWOK_VERSION|"
  "kubelet|kubernetes|k8s.io/kubernetes/cmd/kubelet|$KUBERNETES_VERSION|$k8s_x"
  "kube-proxy|kubernetes|k8s.io/kubernetes/cmd/kube-proxy|$KUBERNETES_VERSION|$k8s_x"
)
default_names=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok)
node_names=(kubelet kube-proxy)

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

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
    --list) list_only=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) lookup "$1" >/dev/null || die "unknown binary '$1'; known: ${default_names[*]} ${node_names[*]}"
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

# Which requested binaries are missing? A warm run stops here without touching Go.
missing=()
declare -A seen=()
for name in "${wanted[@]}"; do
  [[ -n "${seen[$name]:-}" ]] && continue
  seen[$name]=1
  IFS='|' read -r _ _ _ version _ <<<"$(lookup "$name")"
  if [[ -x "$bin_dir/$name-$version" && ( "$name" != kwok || -d "$bin_dir/$name-$version-stages" ) ]]; then
    echo "$name $version cached"
  else
    missing+=("$name")
  fi
done
((${#missing[@]})) || exit 0

command -v go >/dev/null 2>&1 ||
  die "Go is not installed; install it with 'apt-get install golang' or any Go >= 1.24 toolchain, then re-run"
go_version="$(go env GOVERSION)"
go_minor="${go_version#go1.}"; go_minor="${go_minor%%[!0-9]*}"
[[ "$go_version" == go1.* && "$go_minor" -ge 24 ]] ||
  die "Go $go_version is too old; install Go >= 1.24 ('apt-get install golang' on Debian 13) and re-run"

mkdir -p "$bin_dir"
exec 9>"$bin_dir/.build.lock"
if ! flock -n 9; then
  echo "another build.sh is running; waiting for it to finish"
  flock 9
fi

export CGO_ENABLED=0 GOTOOLCHAIN=local
# -mod=readonly: build exactly what go.mod/go.sum pin; never resolve anything new.
export GOFLAGS="-mod=readonly -buildvcs=false"

check_pin() {  # check_pin MODDIR MODULE VERSION: go.mod must require MODULE at VERSION
  local got
  got="$(go -C "$here/$1" list -m -f '{{.Version}}' "$2")" || die "cannot read $2 from $here/$1/go.mod"
  [[ "$got" == "$3" ]] ||
    die "$1/go.mod pins $2 $got but versions.env says $3; run 'go get -tool <pkg>@$3' in $here/$1"
}

# kwok ships its standard stage configurations as YAML in its module; keep the ones the
# launcher passes to kwok (node-initialize, pod-ready, pod-complete, pod-delete) next to the
# binary, taken from the exact module version go.sum verified.
copy_kwok_stages() {  # copy_kwok_stages VERSION DEST
  local src
  src="$(go -C "$here/kwok" mod download -json sigs.k8s.io/kwok | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$src" ]] || die "cannot locate the kwok $1 module source (go mod download failed)"
  rm -rf "$2.tmp" && mkdir -p "$2.tmp"
  cp "$src/kustomize/stage/node/fast/node-initialize.yaml" \
     "$src/kustomize/stage/pod/fast/pod-ready.yaml" \
     "$src/kustomize/stage/pod/fast/pod-complete.yaml" \
     "$src/kustomize/stage/pod/fast/pod-delete.yaml" "$2.tmp/" || die "kwok $1 module lacks its stage YAMLs"
  chmod 0644 "$2.tmp"/*.yaml
  rm -rf "$2" && mv "$2.tmp" "$2"
}

total_start=$SECONDS
log="$cache_dir/build.log"
: >"$log"
for name in "${missing[@]}"; do
  IFS='|' read -r _ moddir pkg version xflags <<<"$(lookup "$name")"
  case "$moddir" in
    kubernetes) check_pin "$moddir" k8s.io/kubernetes "$version" ;;
    etcd) check_pin "$moddir" go.etcd.io/etcd/server/v3 "$version" ;;
    kwok) check_pin "$moddir" sigs.k8s.io/kwok "$version" ;;
  esac
  ldflags="-s -w"
  for x in $xflags; do ldflags+=" -X $x"; done
  out="$bin_dir/$name-$version"
  echo "building $name $version (from $pkg; a cold build takes minutes on 2 cores)"
  start=$SECONDS
  go -C "$here/$moddir" build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg" >>"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 1; done
    kill -0 "$pid" 2>/dev/null && echo "  ... still building $name ($((SECONDS - start))s)"
  done
  if ! wait "$pid"; then
    rm -f "$out.tmp"
    tail -n 40 "$log" >&2
    die "building $name $version failed after $((SECONDS - start))s; full output in $log"
  fi
  if [[ "$name" == kwok ]]; then copy_kwok_stages "$version" "$out-stages"; fi
  mv -f "$out.tmp" "$out"
  echo "built $name $version in $((SECONDS - start))s -> $out"
done
echo "build finished in $((SECONDS - total_start))s"
