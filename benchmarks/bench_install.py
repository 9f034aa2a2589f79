"""First install on a fresh machine, no cache: the Makefile's route (uv, bytecode compiled, the
slim default extras) vs plain pip into the same kind of venv.

    python3 benchmarks/bench_install.py            # ~1-2 min; needs the package index

Both sides start from an empty venv and an empty package cache (each gets its own temporary
cache folder), install this checkout in editable mode and compile bytecode, as `make install`
does. Baseline: `pip install --compile -e ".[test,lab]"` (the first version's route).
Candidate: `pip install uv` then `uv pip install --compile-bytecode -e .` (today's `make
install`). Also printed: the candidate with the test and lab extras (`make test`'s route) and
the sizes of both environments. Target: candidate <= 20 s.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 20.0


def run(cmd: list[str], env: dict) -> None:
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def fresh(tmp: Path, name: str) -> tuple[Path, dict]:
    venv = tmp / name
    cache = tmp / f"{name}-cache"
    env = {**os.environ, "PIP_CACHE_DIR": str(cache), "UV_CACHE_DIR": str(cache), "PIP_NO_INPUT": "1"}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return venv, env


def pip_route(tmp: Path) -> tuple[float, float]:
    venv, env = fresh(tmp, "pip")
    t0 = time.perf_counter()
    run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--compile", "-e", ".[test,lab]"], env)
    return time.perf_counter() - t0, size_mb(venv)


def uv_route(tmp: Path, extras: str = "") -> tuple[float, float]:
    venv, env = fresh(tmp, f"uv{extras}")
    py = str(venv / "bin/python")
    t0 = time.perf_counter()
    run([py, "-m", "pip", "install", "-q", "uv"], env)
    target = f".[{extras}]" if extras else "."
    run([str(venv / "bin/uv"), "pip", "install", "--python", py, "--compile-bytecode", "-q", "-e", target], env)
    return time.perf_counter() - t0, size_mb(venv)


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (other work slows wall times)")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        cand_s, cand_mb = uv_route(tmp)
        print(f"candidate  make install (uv, bytecode, slim)     {cand_s:6.1f} s  {cand_mb:6.0f} MB")
        full_s, full_mb = uv_route(tmp, "test,lab")
        print(f"context    uv with test and lab extras          {full_s:6.1f} s  {full_mb:6.0f} MB")
        base_s, base_mb = pip_route(tmp)
        print(f"baseline   pip install -e .[test,lab] --compile {base_s:6.1f} s  {base_mb:6.0f} MB")
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"target     candidate <= {TARGET_S:.0f} s: {'met' if cand_s <= TARGET_S else 'MISSED'}")
    print(f"RATIO candidate/baseline {cand_s / base_s:.2f} (time), {cand_mb / base_mb:.2f} (size)")


if __name__ == "__main__":
    main()
