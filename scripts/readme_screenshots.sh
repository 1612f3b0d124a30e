#!/usr/bin/env bash
# kiln studio's pictures in the README: runs the studio's browser tests (each writes its pages as PNGs under
# build/screenshots/: tests/integration/studio/conftest.py `screenshot`), then copies the chosen ones into
# docs/images/ as studio-NAME.png, each under 200 KB (Pillow: a 256-colour palette, then narrower if still
# too big). The tests run inside a loopback-only network namespace, as scripts/test.sh runs them.
#
#   scripts/readme_screenshots.sh [--no-tests] [NAME...]
#     --no-tests  copy what build/screenshots/ holds now (the tests ran already)
#     NAME...     the screenshots to copy (default: the ones the README shows)
# A chosen screenshot that no test wrote is named on stderr and the script exits 1 (the others are copied).
set -uo pipefail
cd "$(dirname "$0")/.."
python="${KILN_TEST_PYTHON:-.venv/bin/python}"
run_tests=1
if [ "${1:-}" = "--no-tests" ]; then
    run_tests=""
    shift
fi
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    names=(jobs-list job-page compare models-lineage data-preview endpoint)
fi
if [ -n "$run_tests" ]; then
    # the browser tests only (bench/ui's test measures; it writes no screenshot of its own)
    quoted=$(printf ' %q' "$python" -m pytest -q -p no:cacheprovider tests/integration/studio \
        --ignore=tests/integration/studio/test_ui_bench.py)
    run_offline="ip link set lo up && PYTHONPATH=$(printf '%q' "$PWD/src") exec${quoted}"
    if unshare -n true 2>/dev/null; then
        unshare -n sh -c "$run_offline"
    elif unshare -rn true 2>/dev/null; then
        unshare -rn sh -c "$run_offline"
    else
        echo "warning: cannot create a loopback-only network namespace here; running the tests without one" >&2
        sh -c "${run_offline#ip link set lo up && }"
    fi
    tests=$?
    if [ "$tests" -ne 0 ]; then
        echo "warning: the studio's browser tests failed (exit $tests); copying the screenshots they wrote" >&2
    fi
fi
exec "$python" - "${names[@]}" <<'PYTHON'
"""Copies build/screenshots/NAME.png to docs/images/studio-NAME.png, each under LIMIT bytes."""
import io
import sys
from pathlib import Path

from PIL import Image

LIMIT = 200 * 1024
source, target = Path("build/screenshots"), Path("docs/images")
target.mkdir(parents=True, exist_ok=True)
missing = []
for name in sys.argv[1:]:
    shot = source / f"{name}.png"
    if not shot.is_file():
        missing.append(name)
        continue
    image = Image.open(shot).convert("RGB")
    while True:
        buffer = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buffer, "PNG", optimize=True)
        if buffer.tell() <= LIMIT or image.width <= 640:
            break
        image = image.resize((image.width * 4 // 5, image.height * 4 // 5), Image.Resampling.LANCZOS)
    out = target / f"studio-{name}.png"
    out.write_bytes(buffer.getvalue())
    print(f"{out}: {image.width}x{image.height}, {buffer.tell() // 1024} KB")
if missing:
    written = ", ".join(sorted(p.stem for p in source.glob("*.png"))) or "none"
    print(f"no test wrote {', '.join(missing)} (build/screenshots/ has: {written})", file=sys.stderr)
    sys.exit(1)
PYTHON
