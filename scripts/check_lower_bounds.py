"""Run hy-vla's tests against the lowest versions pyproject.toml declares for its packages.

    .venv/bin/python scripts/check_lower_bounds.py --venv [--keep DIR] [--torch VERSION]   # ~4 min here
    .venv/bin/python scripts/check_lower_bounds.py --extra serve                          # ~1 min

`--venv` builds a throwaway virtual environment holding exactly `name==lower bound` of every package that
pyproject.toml bounds from below (the core dependencies and the data, train, serve and dev extras), then runs the
import, serving, data, policy and utility tests in it (`CORE_TESTS`); then it installs the hf extra's minimums
(transformers, tokenizers; pip raises safetensors to what that transformers needs) and runs the
transformers-backed tests (`HF_TESTS`). torch is the exception: its declared minimum needs a CPU wheel
the package index may not have (PyPI has only CUDA builds of torch 2.6 for Linux, 767 MB plus the CUDA
libraries), so the venv gets `--torch` (default: the version installed here) and the report says so; a `--torch`
other than this environment's also runs the model, math and training tests (`TORCH_TESTS`) against it.

`--extra E` is the quick check: the extra's minimums are installed (no dependencies) into a folder placed first on
PYTHONPATH, so the rest of this environment stays as it is, and that extra's tests run (`EXTRA_TESTS`).

Both need the package index; neither is part of the default test run. A pin that will not install, or a test that
fails, means a declared bound is false: raise it in pyproject.toml (and in `hy_vla.utils.versions.MINIMUMS` when the
code's API needs it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
EXTRA_TESTS = {
    "serve": ["tests/serving/test_server.py", "tests/serving/test_limits.py", "tests/serving/test_eval_remote.py"]
}
CORE_EXTRAS = ("data", "train", "serve", "dev")
CORE_TESTS = [
    "tests/models/test_import_graph.py",
    "tests/cli/test_main.py",
    "tests/utils",
    "tests/serving",
    "tests/data",
    "tests/policy",
    "--ignore=tests/utils/test_dependency_bounds.py",  # needs the hf extra: runs in the second step
    "--ignore=tests/serving/test_eval_remote.py",  # `hy-vla eval` needs the sim extra (exact pins, not bounds)
]
# What exercises torch's API beyond the core subset: the model, its math, training (DDP, FSDP2's `fully_shard`,
# exact resume; their slow tests too) and the policy, after the hf extra is in. Run only when `--torch` is not
# this environment's torch.
TORCH_TESTS = [
    "-m",
    "slow or not slow",
    "tests/models",
    "tests/flow",
    "tests/actions",
    "tests/training",
    "tests/policy",
]
HF_TESTS = [
    "tests/models/test_hf_backbone.py",
    "tests/models/test_tokenizer.py",
    "tests/utils/test_dependency_bounds.py",
]


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _pin(line: str) -> str | None:
    """'name>=1.2' -> 'name==1.2'; None for a requirement without a lower bound."""
    req = Requirement(line)
    lows = [s.version for s in req.specifier if s.operator == ">="]
    return f"{req.name}=={lows[0]}" if lows else None


def minimums(*groups: str) -> list[str]:
    """'name==lower bound' for every package of the groups ("dependencies" or an extra's name) bounded from below."""
    project = _project()
    pins = []
    for group in groups:
        lines = project["dependencies"] if group == "dependencies" else project["optional-dependencies"][group]
        for line in lines:
            if line.startswith("hy-vla"):
                continue
            pin = _pin(line)
            if pin is not None and pin not in pins:
                pins.append(pin)
    return pins


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess:
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, **kw)  # type: ignore[call-overload]


def _versions(python: str, names: list[str], env: dict[str, str] | None = None) -> None:
    probe = "import importlib.metadata as m, sys; print(', '.join(f'{p} {m.version(p)}' for p in sys.argv[1:]))"
    _run([python, "-c", probe, *names], check=True, cwd=tempfile.gettempdir(), env=env)


def _pytest(python: str, tests: list[str], env: dict[str, str]) -> tuple[int, float]:
    start = time.perf_counter()
    rc = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], env=env, cwd=REPO).returncode
    return rc, time.perf_counter() - start


def check_venv(torch_version: str, keep: str | None) -> int:
    """The declared minimums in a fresh venv: core + data/train/serve/dev, then the hf extra (see the docstring)."""
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="hy-vla-lower-"))
    venv, python = root / "venv", str(root / "venv" / "bin" / "python")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    report: list[str] = []
    try:
        start = time.perf_counter()
        _run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        core = [p for p in minimums("dependencies", *CORE_EXTRAS) if not p.startswith("torch==")]
        pip = [python, "-m", "pip", "install", "--quiet", "--no-cache-dir"]
        _run([*pip, f"torch=={torch_version}", *core, "packaging"], check=True)
        _run([*pip, "--no-deps", str(REPO)], check=True)  # the package's metadata (`hy-vla --version`); code: REPO
        names = [p.split("==")[0] for p in core]
        _versions(python, ["torch", *names])
        torch_min = next(p for p in minimums("dependencies") if p.startswith("torch==")).split("==")[1]
        which = "its minimum" if Version(torch_version) == Version(torch_min) else f"not its minimum {torch_min}"
        report.append(f"installed in {time.perf_counter() - start:.0f} s: torch {torch_version} ({which}), "
                      + ", ".join(core))  # fmt: skip
        rc_core, t_core = _pytest(python, CORE_TESTS, env)
        report.append(f"core tests: exit {rc_core} in {t_core:.0f} s")
        hf = minimums("hf")
        _run([*pip, *hf], check=True)
        _versions(python, ["transformers", "tokenizers", "safetensors", "huggingface-hub"])
        rc_hf, t_hf = _pytest(python, HF_TESTS, env)
        report.append(f"hf tests with {', '.join(hf)}: exit {rc_hf} in {t_hf:.0f} s")
        rc_torch = 0
        if torch_version != metadata.version("torch"):
            rc_torch, t_torch = _pytest(python, TORCH_TESTS, env)
            report.append(f"torch {torch_version} tests (model, math, training): exit {rc_torch} in {t_torch:.0f} s")
    finally:
        print("\n".join(["", *report]), flush=True)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return rc_core or rc_torch or rc_hf


def check_extra(extra: str) -> int:
    pins = minimums(extra)
    with tempfile.TemporaryDirectory() as tmp:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", tmp, *pins]
        _run(pip, check=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, str(REPO)])}
        _versions(sys.executable, [p.split("==")[0] for p in pins], env)
        return _pytest(sys.executable, EXTRA_TESTS[extra], env)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--venv", action="store_true", help="a fresh venv with every declared minimum (see above)")
    mode.add_argument("--extra", choices=sorted(EXTRA_TESTS), help="one extra's minimums over this environment")
    ap.add_argument("--torch", default=metadata.version("torch"), help="torch for --venv (default: this one's)")
    ap.add_argument("--keep", default=None, help="--venv: build in this folder and keep it")
    args = ap.parse_args()
    if args.venv:
        return check_venv(args.torch, args.keep)
    return check_extra(args.extra or "serve")


if __name__ == "__main__":
    sys.exit(main())
