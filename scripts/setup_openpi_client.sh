#!/usr/bin/env bash
# Create ./.venv-openpi holding the real openpi-client 0.1.2, used by the serving interop tests and
# bench/serving.py to drive `hy-vla serve` exactly as a robot running openpi's client would.
# A separate venv because openpi-client pins numpy < 2 (our .venv has numpy 2). typing_extensions is
# imported by openpi-client without being declared as a dependency.
# Idempotent: when the venv already imports openpi_client, this only checks and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv-openpi
CHECK="import openpi_client.websocket_client_policy, openpi_client.action_chunk_broker, typing_extensions"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$CHECK" >/dev/null 2>&1; then
  echo "setup_openpi_client: $VENV ready"
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
if ! "$VENV/bin/python" -m pip -q --disable-pip-version-check install "openpi-client==0.1.2" typing_extensions \
  >"$VENV/pip-install.log" 2>&1; then
  cat "$VENV/pip-install.log" >&2
  echo "setup_openpi_client: pip install failed (log: $VENV/pip-install.log)" >&2
  exit 1
fi
"$VENV/bin/python" -c "$CHECK"
echo "setup_openpi_client: $VENV ready"
