#!/usr/bin/env bash
# Run Flask's own test suite (tests/ of the Flask sdist) three times and compare:
#   1. baseline        plain Flask
#   2. hookwatch       every Flask app gets Hookwatch(app) right after construction
#   3. hookwatch-nometrics  the same with Hookwatch(app, metrics_path=None)
# and print the tests that fail only with hookwatch.
#
# Environment (all optional):
#   FLASK_VERSION      Flask sdist to test (default 3.1.3, the version requirements.txt pins)
#   FLASK_SUITE_DIR    work directory, outside the repository (default /tmp/flask-suite)
#   HOOKWATCH_PROJECT  the hookwatch project root (default: ../.. of this script)
#   PYTHON             interpreter to build the venv with (default: the project's venv python)
#   PASS_TIMEOUT       seconds per pytest pass (default 300)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FLASK_VERSION="${FLASK_VERSION:-3.1.3}"
FLASK_SUITE_DIR="${FLASK_SUITE_DIR:-/tmp/flask-suite}"
HOOKWATCH_PROJECT="${HOOKWATCH_PROJECT:-$(cd "$here/../.." && pwd)}"
export HOOKWATCH_PROJECT
PYTHON="${PYTHON:-$HOOKWATCH_PROJECT/venv/bin/python}"
PASS_TIMEOUT="${PASS_TIMEOUT:-300}"

mkdir -p "$FLASK_SUITE_DIR"
cd "$FLASK_SUITE_DIR"
sdist="flask-$FLASK_VERSION.tar.gz"
src="$FLASK_SUITE_DIR/flask-$FLASK_VERSION"
venv="$FLASK_SUITE_DIR/venv"

if [[ ! -f "$sdist" ]]; then
    "$PYTHON" -m pip download -q --no-deps --no-binary :all: "flask==$FLASK_VERSION" -d . 2>&1 \
        | { grep -v "is ignored" || true; }
fi
[[ -d "$src/tests" ]] || tar xzf "$sdist"

if [[ ! -x "$venv/bin/python" ]]; then
    "$PYTHON" -m venv "$venv"
    # The project's pinned test set (Flask, Werkzeug, prometheus-client, structlog, ...),
    # then what Flask's tests need, at the versions of Flask's uv.lock: pytest 9.0.2 (its
    # tests import _pytest.monkeypatch.notset, which pytest 9.2 renamed NOTSET), and the
    # optional asgiref / greenlet / python-dotenv, without which some tests skip.
    "$venv/bin/pip" install -q -r "$HOOKWATCH_PROJECT/requirements-dev.txt" 2>&1 | grep -v 'is ignored' || true
    "$venv/bin/pip" install -q pytest==9.0.2 asgiref==3.11.0 greenlet==3.3.1 python-dotenv==1.2.1 \
        2>&1 | grep -v 'is ignored' || true
fi

plugin_dir="$here"
[[ -f "$plugin_dir/hookwatch_everywhere.py" ]] || { echo "hookwatch_everywhere.py not beside run.sh" >&2; exit 2; }

run_pass() {  # name, then extra environment assignments
    local name="$1"; shift
    local log="$FLASK_SUITE_DIR/$name.log"
    local plugin=()
    [[ "$name" != baseline ]] && plugin=(-p hookwatch_everywhere)
    (cd "$src" && env "$@" PYTHONPATH="$plugin_dir" timeout "$PASS_TIMEOUT" \
        "$venv/bin/python" -m pytest tests -q -p no:cacheprovider -rfE "${plugin[@]}" \
        >"$log" 2>&1) || true
    grep -E '^(FAILED|ERROR) ' "$log" | sed -E 's/^(FAILED|ERROR) //; s/ - .*$//' | sort -u \
        >"$FLASK_SUITE_DIR/$name.failed" || true
    printf '%-20s %s\n' "$name:" "$(grep -E '^[0-9]+ (passed|failed)|^=* ?[0-9]+ (passed|failed)|no tests ran|Interrupted|Timeout' "$log" | tail -1 | sed 's/=//g; s/^ *//')"
}

echo "Flask $FLASK_VERSION suite; hookwatch from $HOOKWATCH_PROJECT; logs in $FLASK_SUITE_DIR"
run_pass baseline
run_pass hookwatch
run_pass hookwatch-nometrics HOOKWATCH_EVERYWHERE_METRICS_PATH=none

for name in hookwatch hookwatch-nometrics; do
    echo
    echo "fail only with $name:"
    comm -13 "$FLASK_SUITE_DIR/baseline.failed" "$FLASK_SUITE_DIR/$name.failed" | sed 's/^/  /'
    grep -E '^(apps instrumented|hookwatch self-reported failures)' "$FLASK_SUITE_DIR/$name.log" | sed 's/^/  # /'
done
echo
echo "fail in the baseline (environment, not hookwatch):"
sed 's/^/  /' "$FLASK_SUITE_DIR/baseline.failed"
