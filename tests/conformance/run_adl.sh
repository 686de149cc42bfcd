#!/usr/bin/env bash
# Run the ADL LRS conformance test suite (github.com/adlnet/lrs-conformance-test-suite), with its own
# runner, against a running Parcours progress service's /xapi door, and print the summary by group.
#
#   tests/conformance/run_adl.sh SUITE_DIR ENDPOINT KEY_ID KEY [--all] [--version 1.0.3|2.0.0]...
#
#   SUITE_DIR  a checkout of the suite (its npm dependencies are installed there if missing)
#   ENDPOINT   the door, e.g. http://127.0.0.1:8002/xapi
#   KEY_ID     a centre key's id (HTTP Basic's user), KEY the key itself (its password)
#   --all      run every group, the out-of-scope ones too (by default only the statement groups)
#   --version  the xAPI version(s) to test (default: both, 1.0.3 then 2.0.0)
#
# The suite stores what it sends and never voids it: point it at a stack of its own, never at a
# centre's. Exit status: 0 when every test in scope passed or failed for a reason documented in
# adl_summary.py (and docs/xapi-conformance.md), 1 when one failed for no known reason, 2 on a
# usage error.
# See docs/xapi-conformance.md for the last results and the reason for each test that fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 4 ] || usage
suite="$(cd "$1" && pwd)"; endpoint="$2"; user="$3"; password="$4"; shift 4
all=""; versions=()
while [ $# -gt 0 ]; do
  case "$1" in
    --all) all=1 ;;
    --version) [ $# -ge 2 ] || usage; versions+=("$2"); shift ;;
    *) usage ;;
  esac
  shift
done
[ ${#versions[@]} -gt 0 ] || versions=(1.0.3 2.0.0)
[ -f "$suite/bin/console_runner.js" ] || { echo "$suite is not a checkout of the ADL LRS conformance suite"; exit 2; }
if [ ! -d "$suite/node_modules" ]; then
  echo "installing the suite's npm dependencies in $suite"
  (cd "$suite" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

grep_args=()
[ -n "$all" ] || grep_args=(--grep "$("$python" "$here/adl_summary.py" --grep)")
status=0
for version in "${versions[@]}"; do
  echo "== xAPI $version against $endpoint"
  output="$(mktemp)"
  # The runner exits with its number of failures; its log file is what counts. Some of the suite's
  # tests wait without limit for an answer they expect: a run is stopped after ADL_TIMEOUT seconds.
  (cd "$suite" && timeout "${ADL_TIMEOUT:-1800}" node bin/console_runner.js --endpoint "$endpoint" --basicAuth --authUser "$user" \
     --authPassword "$password" --xapiVersion "$version" "${grep_args[@]}") >"$output" 2>&1 || true
  log="$(sed -n 's/^Full run log written to //p' "$output" | tail -1)"
  if [ -z "$log" ] || [ ! -f "$log" ]; then
    echo "the runner wrote no log; its output:"; cat "$output"; rm -f "$output"; exit 1
  fi
  rm -f "$output"
  echo "runner's log: $log"
  "$python" "$here/adl_summary.py" "$log" ${all:+--all} || status=1
  echo
done
exit $status
