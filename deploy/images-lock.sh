#!/usr/bin/env bash
# Re-lock requirements-runtime.lock: pyproject's runtime dependencies only (what the control-plane image
# installs), pinned to the same versions as requirements.lock (the dev/CI lock). Needs uv (pip install uv).
set -euo pipefail
cd "$(dirname "$0")/.."
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
# requirements.lock without its hashes and comments: uv takes it as version constraints.
grep -v -e '--hash' -e '^ *#' requirements.lock | sed 's/ \\$//' | grep -v '^$' >"$constraints"
uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --no-annotate \
    --custom-compile-command deploy/images-lock.sh -c "$constraints" -o requirements-runtime.lock
