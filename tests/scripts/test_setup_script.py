"""scripts/setup.sh's apt step, run with stand-ins for dpkg, apt-get, id and python (nothing is installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SETUP = Path(__file__).resolve().parents[2] / "scripts" / "setup.sh"


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_missing_debian_packages_are_named_on_one_line(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(SETUP, tmp_path / "scripts" / "setup.sh")  # it works in its parent folder: tmp_path
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "dpkg", 'case "$2" in libegl1|libosmesa6) exit 1;; esac; exit 0')  # two packages missing
    _stub(bin_dir, "apt-get", f'echo "$@" >> {tmp_path}/apt.args')
    _stub(bin_dir, "id", "echo 0")
    _stub(bin_dir, "python3", "exit 0")  # `import venv, ensurepip` succeeds; no .venv is made, so pip fails next
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHON": str(bin_dir / "python3")}
    out = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], env=env, capture_output=True, text=True)
    assert "setup: apt-get install libegl1 libosmesa6\n" in out.stdout
    assert "install -y -qq --no-install-recommends libegl1 libosmesa6" in (tmp_path / "apt.args").read_text()
