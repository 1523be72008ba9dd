#!/usr/bin/env bash
# Create (once) the virtual environment that runs the real MUXI runtime for `make test-runtime`.
#
# The runtime package is importable as `muxi`, which clashes with our facade, so it lives in its
# own venv and runs as a subprocess. The venv is cached: it is rebuilt only when it is missing or
# the pinned version (or the interpreter) changed; the stamp file records what was installed.
set -euo pipefail

VERSION="${MUXI_RUNTIME_VERSION:-1.20260928.0}"
VENV="${MUXI_RUNTIME_VENV:-.venv-runtime}"
STAMP="$VENV/.installed-muxi-runtime"
WANT="muxi-runtime==$VERSION"

# The runtime's persistent memory (sqlite-vec) needs sqlite3 loadable extensions, which some
# builds of Python (e.g. pyenv's default) leave out. Prefer an interpreter that has them.
has_sqlite_ext() {
    "$1" -c "import sqlite3, sys; sys.exit(not hasattr(sqlite3.connect(':memory:'), 'enable_load_extension'))" \
        2>/dev/null
}
pick_python() {
    local candidate
    for candidate in ${PYTHON:-} python3 /usr/bin/python3 python3.12 python3.11 python3.10; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import sys; sys.exit(sys.version_info < (3, 10))" \
            2>/dev/null && has_sqlite_ext "$candidate"; then
            echo "$candidate"
            return
        fi
    done
    echo "runtime_env: no Python with sqlite3 loadable extensions found; the runtime's persistent" \
        "memory will be unavailable" >&2
    echo "${PYTHON:-python3}"
}

PY="$(pick_python)"
WANT_STAMP="$WANT $("$PY" -c 'import sys; print(sys.version.split()[0])') $(command -v "$PY")"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT_STAMP" ]; then
    exit 0
fi

echo "runtime_env: installing $WANT into $VENV with $PY (about 1.9 GB, a few minutes)" >&2
rm -rf "$VENV"
"$PY" -m venv "$VENV"
# -qq: this machine's pip configuration is noisy about local indexes; errors still show.
"$VENV/bin/python" -m pip install -qq --upgrade pip
"$VENV/bin/python" -m pip install -qq "$WANT"
# -I: the repository's own `muxi/` must not shadow the runtime's `muxi` namespace package.
"$VENV/bin/python" -I -c "import muxi.runtime" >/dev/null
echo "$WANT_STAMP" > "$STAMP"
echo "runtime_env: ready ($WANT_STAMP)" >&2
