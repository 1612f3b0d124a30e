#!/usr/bin/env bash
# Creates .venv (if needed) and installs kiln with the given extras, e.g. scripts/install.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-sklearn}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored: it is neither" >&2 || true
fi
# pip's configured find-links folders that are absent here each print a warning: hide those
pip_install() {
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
# torch first and alone: asked for directly, pip takes the CPU wheel where pip's find-links offer
# one (this project's machines); resolved together with the rest it takes PyPI's CUDA build (GBs)
case ",${extras}," in
    *,test,* | *,torch,* | *,all,*) pip_install "torch==2.13.0" ;;
esac
pip_install -e ".[${extras}]"
