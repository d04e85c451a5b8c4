#!/usr/bin/env bash
# GPU check of the toolkit: device, CUDA tests, one-rank NCCL round, MAE throughput, a JAX GPU
# sweep point, all into one JSON file (default $OUT/gpu_check.json). See scripts/gpu_check.py.
#   scripts/gpu_check.sh [--dry-run] [--out PATH] [--only STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$(command -v python3 || command -v python)}"
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" scripts/gpu_check.py "$@"
