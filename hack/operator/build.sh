#!/usr/bin/env bash
# Builds the real Milvus Operator from ../shared/milvus-operator/src into a
# cache dir and lays out the working directory it needs, for the tests in
# test/operator and the demo (see internal/operator).
#
#   usage: hack/operator/build.sh [DIR]   build (once) and print DIR
#          hack/operator/build.sh --dir   print the default DIR, build nothing
#
# Default DIR: <repo>/bin/operator/<hash>, where <hash> covers the source that
# goes into the binary and its working directory (every *.go file, go.mod,
# go.sum and config/assets/templates, by path and content, not mtime) and this
# script. DIR then holds
#
#   manager                              the operator binary
#   config/assets/templates/             copied from the source
#   config/assets/charts/values.yaml     a minimal one (empty dependency maps)
#   .stamp                               written last: the build is complete
#
# and the operator runs with DIR as its working directory. Nothing is written
# into ../shared (it is read-only; $MILVUS_ADMISSION_SHARED moves it, as for
# the tests). Idempotent: when DIR/.stamp matches, it only prints DIR, so
# `make test` can always call it. Measured on 2 cores shared with other work:
# cold (none of the operator's modules cached) 15 min 41 s; with the modules
# but an empty build cache 9 min 22 s (6 min of CPU); a rebuild with a warm
# build cache about 10 s.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "${script_dir}/../.." && pwd)
src=${MILVUS_ADMISSION_SHARED:-${repo_root}/../shared}/milvus-operator/src

if [[ ! -f "${src}/go.mod" ]]; then
  echo "hack/operator/build.sh: no Milvus Operator source at ${src} (the shared/ folder belongs beside this repository)" >&2
  exit 1
fi
src=$(cd "${src}" && pwd)

# The hash: "sha256  path" of every input file, in a fixed order, then of this
# script; renames and edits change it, touching a file does not.
want_stamp=$(
  {
    cd "${src}"
    find . \( -name '*.go' -o -name go.mod -o -name go.sum -o -path './config/assets/templates/*' \) -type f -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum
    sha256sum <"${script_dir}/build.sh"
  } | sha256sum | cut -c1-16
)

if [[ "${1:-}" == "--dir" ]]; then
  echo "${repo_root}/bin/operator/${want_stamp}"
  exit 0
fi

out_dir=${1:-${repo_root}/bin/operator/${want_stamp}}
mkdir -p "${out_dir}"
out_dir=$(cd "${out_dir}" && pwd)
stamp_file="${out_dir}/.stamp"

if [[ -x "${out_dir}/manager" && -f "${stamp_file}" && "$(cat "${stamp_file}")" == "${want_stamp}" ]]; then
  echo "${out_dir}"
  exit 0
fi

# Whatever happens from here, an old stamp must not vouch for a new build.
rm -f "${stamp_file}"

tmp=""
trap 'if [[ -n "${tmp}" ]]; then rm -f "${tmp}"; fi' EXIT

echo "building the Milvus Operator from ${src} (about 10-15 min the first time on 2 cores)..." >&2
start=${SECONDS}
tmp="${out_dir}/.manager.tmp.$$"
# -C keeps the build in the source tree's own module (GOWORK=off: no
# workspace of ours); -o writes outside it. -mod=readonly: its go.sum is
# complete and ../shared must stay untouched.
CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" \
  go build -C "${src}" -trimpath -ldflags="-s -w" -o "${tmp}" .
mv -f "${tmp}" "${out_dir}/manager"
tmp=""
echo "built the Milvus Operator in $((SECONDS - start))s" >&2

# Its working directory: config.Init reads config/assets/templates and
# values.MustInitDefaultValuesProvider config/assets/charts/values.yaml,
# both relative to the working directory. The operator's Makefile assembles
# values.yaml from the Helm charts; only the MilvusUpgrade state machine runs
# here, and it needs no dependency defaults.
rm -rf "${out_dir}/config"
mkdir -p "${out_dir}/config/assets/charts"
cp -R "${src}/config/assets/templates" "${out_dir}/config/assets/templates"
chmod -R u+w "${out_dir}/config"
cat >"${out_dir}/config/assets/charts/values.yaml" <<'EOF'
# Minimal default values for the Milvus Operator's dependency charts (written
# by hack/operator/build.sh): no etcd, MinIO, Pulsar or Kafka is deployed.
etcd: {}
minio: {}
pulsar: {}
pulsarv3: {}
kafka: {}
EOF

echo "${want_stamp}" >"${stamp_file}"

# A default build replaces the builds of older sources beside it.
if [[ $# -eq 0 ]]; then
  for old in "${repo_root}"/bin/operator/*/.stamp; do
    old=$(dirname "${old}")
    if [[ "${old}" != "${out_dir}" ]]; then rm -rf "${old}"; fi
  done
fi
echo "${out_dir}"
