"""Run the tests of a part of hy-vla against the lowest versions pyproject.toml declares for its packages.

    .venv/bin/python scripts/check_lower_bounds.py [--extra serve]

Installs each declared minimum of the extra's packages (exactly `name==bound`, no dependencies) into a temporary
folder placed first on PYTHONPATH, so the rest of the environment stays as it is, then runs that extra's tests.
Needs the package index; not part of the test suite. Only extras whose packages install as standalone wheels are
listed: torch, transformers and numpy at their minimums would need a separate environment (their own pins).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
TESTS = {"serve": ["tests/serving/test_server.py", "tests/serving/test_limits.py", "tests/serving/test_eval_remote.py"]}


def minimums(extra: str) -> list[str]:
    """'name==lower bound' for every package of the extra declared with a '>=' bound."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = []
    for line in project["optional-dependencies"][extra]:
        req = Requirement(line)
        lows = [s.version for s in req.specifier if s.operator == ">="]
        if lows:
            pins.append(f"{req.name}=={lows[0]}")
    return pins


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extra", default="serve", choices=sorted(TESTS))
    args = ap.parse_args()
    pins = minimums(args.extra)
    with tempfile.TemporaryDirectory() as tmp:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", tmp, *pins]
        subprocess.run(pip, check=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, str(REPO)])}
        probe = "import importlib.metadata as m; print(', '.join(f'{p} {m.version(p)}' for p in sys.argv[1:]))"
        names = [p.split("==")[0] for p in pins]
        subprocess.run([sys.executable, "-c", "import sys; " + probe, *names], env=env, check=True, cwd=tmp)
        tests = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS[args.extra]]
        return subprocess.run(tests, env=env, cwd=REPO).returncode


if __name__ == "__main__":
    sys.exit(main())
