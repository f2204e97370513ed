#!/usr/bin/env bash
# Create ./.venv-lerobot holding the real LeRobot 0.4.4 on CPU torch 2.13.0: the peer of bench/dataloading.py and
# bench/vs_lerobot.py, and of the optional interop tests (tests/data/test_lerobot_interop.py).
#
#   bash bench/setup_lerobot.sh            # idempotent: a second run only checks
#   nice -n 19 bash bench/setup_lerobot.sh  # on a shared machine
#
# Why it is not a plain `pip install lerobot==0.4.4` (see ../shared/ENVIRONMENT.md):
#  - lerobot 0.4.4 declares torch<2.11 and torchvision<0.26, so pip would replace our torch with a CUDA build.
#    We install torch==2.13.0 (CPU) first, lerobot and torchvision==0.28.0 with --no-deps, then lerobot's
#    runtime dependencies explicitly, under a constraints file that pins torch and torchvision.
#  - Left out on purpose: torchcodec (its wheels link CUDA torch and do not load here), wandb, rerun-sdk, pynput,
#    cmake (logging, visualization and teleoperation only). pyserial stays: `lerobot.policies` imports it through
#    lerobot.motors.
#  - torchvision 0.28.0 (the only release matching torch 2.13.0) is a CUDA build whose C extension does not load
#    on CPU torch; `import torchvision` then fails. bench/lerobot_compat.py defines the missing op schemas before
#    the import. Every script run in this venv imports it first; nothing in site-packages is patched.
# Check at the end: `import lerobot`, then DiffusionPolicy and ACTPolicy (no pretrained weights) build and run one
# training forward and one select_action on CPU (bench/lerobot_check.py).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv-lerobot
LOG="$VENV/pip-install.log"
CHECK="import sys; sys.path.insert(0, 'bench'); import lerobot_compat; lerobot_compat.check_versions()"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$CHECK" >/dev/null 2>&1; then
  "$VENV/bin/python" bench/lerobot_check.py
  echo "setup_lerobot: $VENV ready"
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip -q --disable-pip-version-check"
CONSTRAINTS="$VENV/constraints.txt"
printf 'torch==2.13.0\ntorchvision==0.28.0\n' >"$CONSTRAINTS"

step() {  # step DESCRIPTION pip-args...: run pip, keep its output in the log, show it on failure
  local what=$1
  shift
  echo "setup_lerobot: $what"
  if ! $PIP "$@" >>"$LOG" 2>&1; then
    grep -v -E "^WARNING: Location .* is ignored" "$LOG" | tail -40 >&2
    echo "setup_lerobot: pip failed while installing $what (full log: $LOG)" >&2
    exit 1
  fi
}

: >"$LOG"
"$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || step "torch 2.13.0 (CPU)" install torch==2.13.0
step "lerobot 0.4.4 + torchvision 0.28.0 (--no-deps)" install --no-deps lerobot==0.4.4 torchvision==0.28.0
step "lerobot's runtime dependencies (torch pinned)" install -c "$CONSTRAINTS" \
  "datasets>=4,<5" "diffusers>=0.27.2,<0.36" "huggingface-hub[cli,hf-transfer]>=0.34.2,<0.36" "accelerate>=1.10,<2" \
  "einops>=0.8,<0.9" "opencv-python-headless>=4.9,<4.13" "av>=15,<16" "jsonlines>=4,<5" "packaging>=24.2,<26" \
  draccus==0.10.0 "gymnasium>=1.1.1,<2" "deepdiff>=7.0.1,<9" "imageio[ffmpeg]>=2.34,<3" "termcolor>=2.4,<4" \
  "setuptools>=71,<81" "pyserial>=3.5,<4" pandas pyarrow h5py tqdm pillow

"$VENV/bin/python" -c "$CHECK"
"$VENV/bin/python" bench/lerobot_check.py
echo "setup_lerobot: $VENV ready"
