#!/usr/bin/env bash
# The device check: on a lent GPU machine (scripts/device_machine.txt: its packages; no network),
# install what it lacks from the carried wheels, then run the checks of scripts/device_check.py
# (8 minutes in all, install included) and write $OUT/device_report.md. docs/gpu.md has the
# whole sequence of `run` calls.
#
# Here (with network), once:   .venv/bin/python scripts/device_prepare.py [--review-data DIR]
#   -> .device/part-NN.tar (at most 3, each fits one transfer with the tree) and .device/parts.json;
#      it prints one `run` call per part (carry: parts.json and that part).
# There:  bash scripts/device_check.sh --receive   (a part arrived: move it to $DEVICE_STORE)
#         bash scripts/device_check.sh             (with the last part: unpack, install, check)
# Anywhere, without a GPU:  bash scripts/device_check.sh --dry-run
#   (the parts that are here, every command composed, the gpu tests collected)
# DEVICE_CHECKS=learning bash scripts/device_check.sh   runs only the named checks (comma-separated).
#         bash scripts/device_check.sh --venv DIR      (only the venv over $PYTHON's, for tests)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-run}
DEVICE=${DEVICE_DIR:-.device}            # where a `run` call puts the carried paths (in the tree)
STORE=${DEVICE_STORE:-/tmp/cycle-device} # outside the tree: survives the next call while warm
PYTHON=${PYTHON:-python3}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline
export TOKENIZERS_PARALLELISM=false

receive() {  # the parts this call carried leave the tree (the next call's carry replaces it)
  mkdir -p "$STORE"
  if [ -f "$DEVICE/parts.json" ]; then cp "$DEVICE/parts.json" "$STORE/"; fi
  for part in "$DEVICE"/part-*.tar; do
    if [ -f "$part" ]; then mv "$part" "$STORE/"; fi
  done
}

parts_status() {  # "parts: k/n present and intact; missing: ...; bad: ..."; 0 when all good
  "$PYTHON" - "$STORE" <<'EOF'
import hashlib, json, sys
from pathlib import Path
d = Path(sys.argv[1])
if not (d / "parts.json").is_file():
    sys.exit(f"no {d}/parts.json: run scripts/device_prepare.py here and carry its parts")
want = json.loads((d / "parts.json").read_text())
missing = [p for p in want if not (d / p).is_file()]
bad = [p for p in want if p not in missing and hashlib.sha256((d / p).read_bytes()).hexdigest() != want[p]]
print(f"parts: {len(want) - len(missing) - len(bad)}/{len(want)} present and intact"
      + (f"; missing: {' '.join(missing)}" if missing else "") + (f"; bad: {' '.join(bad)}" if bad else ""))
sys.exit(1 if missing or bad else 0)
EOF
}

venv_over_parent() {  # $1: a venv that sees $PYTHON's packages after its own
  # python3 there is itself a venv (/opt/torch/.venv over /usr): --system-site-packages would
  # see /usr's packages only. A .pth naming the parent's site-packages shows torch & co. (and
  # pip) after the venv's own, which the carried wheels fill.
  if [ ! -x "$1/bin/python" ]; then
    "$PYTHON" -m venv --without-pip "$1"
    "$PYTHON" -c 'import site; print("\n".join(site.getsitepackages()))' \
      >"$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/parent.pth"
  fi
}

case "$MODE" in
  --venv)
    venv_over_parent "$2"
    exit 0
    ;;
  --receive)
    receive
    parts_status || true
    exit 0
    ;;
  --dry-run)
    parts_status || echo "(the device run needs every part; prepare them with scripts/device_prepare.py)"
    exec "$PYTHON" scripts/device_check.py dry-run
    ;;
  run) ;;
  *) echo "usage: $0 [--receive|--dry-run|--venv DIR]" >&2; exit 2 ;;
esac

receive
parts_status
START=$(date +%s)
if [ ! -d "$STORE/payload" ]; then
  cat "$STORE"/part-*.tar | tar -xz -C "$STORE"
fi
VENV="$STORE/venv"
venv_over_parent "$VENV"
# What the machine already has (its `pip list`) is not installed again from the carry.
mapfile -t WHEELS < <("$PYTHON" scripts/device_check.py arrival "$STORE/payload")
PIP=("$VENV/bin/python" -m pip install -q --no-index --no-deps --no-build-isolation)
if [ ${#WHEELS[@]} -gt 0 ]; then "${PIP[@]}" "${WHEELS[@]}"; fi
"${PIP[@]}" $(for p in packages/*/; do echo "-e $p"; done)
"$VENV/bin/python" -m pip check || true  # listed in the log, not fatal
echo "install: $(( $(date +%s) - START ))s"
export DEVICE_WORK="$STORE/work" REVIEW_DATA="$STORE/payload/review5k"
OUT=${OUT:-$STORE/out} "$VENV/bin/python" scripts/device_check.py run
