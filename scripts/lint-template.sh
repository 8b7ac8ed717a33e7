#!/usr/bin/env bash
# Checks template.yaml offline: installs the pinned SAM CLI and cfn-lint into their own venv
# (idempotent: does nothing when the venv already holds exactly scripts/requirements-sam.txt),
# then runs
#   1. sam validate --lint                (SAM's own schema and cfn-lint on the SAM file)
#   2. scripts/sam-translate.py           (expansion to plain CloudFormation by the SAM translator)
#   3. cfn-lint on the expanded template  (catches what 1. cannot see inside AWS::Serverless::*:
#      wrong Architectures/Runtime/FunctionResponseTypes/StartingPosition, BatchSize ranges, bad
#      !GetAtt)
#   4. scripts/check-template-scenarios.py on the expanded template, with the test tools' venv
#      (moto; installed by scripts/install-tools.sh, idempotent): deploys it into an in-process moto
#      for a table of parameter sets and asserts the function's environment, its role's statements
#      and which combinations the Rules/AllowedPatterns refuse
# Usage: scripts/lint-template.sh [TEMPLATE]   (default: template.yaml at the repository root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
tools=${LF_TOOLS:-$HOME/.cache/log-forwarder-tools}
venv="$tools/venv-sam"
requirements="$here/requirements-sam.txt"
stamp="$venv/.requirements"
template=${1:-$repo/template.yaml}
export PIP_DISABLE_PIP_VERSION_CHECK=1
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION=us-east-1

fail() {
  echo "template: $*" >&2
  exit 1
}

[ -f "$template" ] || fail "no template at $template"

# --- tools -------------------------------------------------------------------------------------
if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements" && [ -x "$venv/bin/sam" ]; then
  echo "==> template: tools up to date in $venv"
else
  echo "==> template: installing pinned aws-sam-cli and cfn-lint into $venv (2-3 minutes)"
  mkdir -p "$tools"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" || fail "python3 -m venv failed (install python3-venv)"
  fi
  "$venv/bin/pip" install --quiet -r "$requirements" \
    || fail "pip install -r $requirements failed; see the output above"
  cp "$requirements" "$stamp"
fi

# --- 1. sam validate --lint --------------------------------------------------------------------
echo "==> template: sam validate --lint ($(basename "$template"))"
"$venv/bin/sam" validate --lint --region us-east-1 -t "$template" \
  || fail "sam validate --lint failed on $template (findings above)"

# --- 2. expansion with the SAM translator --------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
expanded="$work/template.expanded.json"
echo "==> template: expanding AWS::Serverless::* with the SAM translator"
"$venv/bin/python" "$here/sam-translate.py" -t "$template" "$expanded" >/dev/null \
  || fail "the SAM translator rejected $template (reasons above)"

# --- 3. cfn-lint on the expanded template ------------------------------------------------------
echo "==> template: cfn-lint on the expanded CloudFormation template"
if ! "$venv/bin/cfn-lint" --regions us-east-1 --format json -- "$expanded" >"$work/cfn-lint.json"; then
  # Findings point into the expanded JSON (a temporary file): print each one with its path, whose
  # resource names are SAM's logical ids (ForwarderFunction, ForwarderFunctionRole,
  # ForwarderFunctionStreamRecords = the event source mapping, ...).
  "$venv/bin/python" - "$work/cfn-lint.json" >&2 <<'PY' || cat "$work/cfn-lint.json" >&2
import json, sys
for m in json.load(open(sys.argv[1])):
    path = "/".join(str(p) for p in m["Location"].get("Path") or [])
    print(f"  {m['Rule']['Id']} {path or '(template)'}: {m['Message']}")
PY
  fail "cfn-lint found problems in the template expanded by the SAM translator (above)"
fi

# --- 4. scenarios: what each parameter set deploys, in moto --------------------------------------
"$here/install-tools.sh" || fail "installing the test tools (moto) failed; see the output above"
echo "==> template: deploying the expanded template into moto for each scenario"
"$tools/venv/bin/python" "$here/check-template-scenarios.py" --expanded "$expanded" \
  || fail "the template does not deploy what the scenarios expect (differences above)"
echo "==> template: ok"
