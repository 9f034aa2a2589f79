"""Bombs and cliffs of issue 17: the unguarded parse vs the guard that refuses it.

    .venv/bin/python benchmarks/bench_guards.py [--quick]

Each case runs in a child process with a time limit and an address-space limit (1.5 GB), so
an unguarded bomb cannot take the machine down; the table gives wall seconds and the child's
peak RSS. "before" is what the existing reader does with the input (yaml.safe_load and a
repr of the result as an error message does; openpyxl's load_workbook; pint's parser);
"after" is the audit guard that refuses it. No RATIO line: a refusal has no like-for-like
baseline; the point is bounded time and memory.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_BYTES = 1_500_000_000
sys.path.insert(0, str(ROOT))  # this checkout's audit, not an installed one

SETUP = textwrap.dedent('''
    import resource, sys, time, json
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    sys.path.insert(0, {root!r})
    def billion_laughs(levels):
        lines = ['lol0: &lol0 "lol"']
        for i in range(1, levels + 1):
            lines.append(f"lol{{i}}: &lol{{i}} [" + ", ".join([f"*lol{{i - 1}}"] * 10) + "]")
        return "\\n".join(lines) + "\\n"
    import yaml, pint
    from openpyxl import load_workbook
    from audit.core.safeyaml import load_yaml
    from audit.core.xlsxguard import check_xlsx
    from audit.core.unitguard import check_unit_text
    u = pint.UnitRegistry()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
''')

CASES = {
    "yaml bomb, 7 levels: safe_load + repr (the old error message)": (
        "d = yaml.safe_load(billion_laughs(7)); out = len(repr(d))",
        ("try: load_yaml(billion_laughs(7), source='e.yaml')\n"
        "except Exception as e: out = len(str(e))")),
    "yaml bomb, 9 levels (0.8 KB): safe_load + repr": (
        "d = yaml.safe_load(billion_laughs(9)); out = len(repr(d))",
        ("try: load_yaml(billion_laughs(9), source='e.yaml')\n"
        "except Exception as e: out = len(str(e))")),
    "yaml 1,000 nested brackets": (
        "out = yaml.safe_load('x: ' + '[' * 1000 + ']' * 1000)",
        ("try: load_yaml('x: ' + '[' * 1000 + ']' * 1000, source='e.yaml')\n"
        "except Exception as e: out = str(e)[-60:]")),
    "yaml 20,000 nested brackets": (
        "out = yaml.safe_load('x: ' + '[' * 20000 + ']' * 20000)",
        ("try: load_yaml('x: ' + '[' * 20000 + ']' * 20000, source='e.yaml')\n"
        "except Exception as e: out = str(e)[-60:]")),
    "xlsx 4 M one-cell rows (572 KB): openpyxl load_workbook + rows": (
        "wb = load_workbook(XLSX); out = sum(1 for _ in wb['Activities'].iter_rows())",
        "try: check_xlsx(XLSX)\nexcept Exception as e: out = str(e)[-80:]"),
    "xlsx 4 M rows, ratio check off (streamed row count)": (
        None,
        ("try: check_xlsx(XLSX, max_ratio=1e9, max_uncompressed_bytes=1<<40)\n"
        "except Exception as e: out = str(e)[-60:]")),
    "unit cell of 50 KB 'a b a b ...': audit.core.units as validate calls it": (
        ("from audit.core.units import ambiguous_unit, conversion_factor\ntext = 'a b ' * 12500\n"
        "ambiguous_unit(text); out = conversion_factor(text, 'kWh')"),
        "out = check_unit_text('a b ' * 12500)[-40:]"),
    "unit '9**9**9 kWh' (12 characters, pint)": (
        "out = str(u.parse_expression('9**9**9 kWh'))[:20]",
        "out = check_unit_text('9**9**9 kWh')[-40:]"),
}


def make_xlsx(path: Path) -> None:
    """In a child process: Linux keeps a process's peak RSS across fork and exec, so the
    children's figures would start at the ~700 MB this takes."""
    code = (f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]\n"
            "from test_guards_xlsx import handmade_xlsx\n"
            f"handmade_xlsx(__import__('pathlib').Path({str(path)!r}), "
            "b'<row><c t=\"inlineStr\"><is><t>x</t></is></c></row>' * 4_000_000)")
    subprocess.run([sys.executable, "-c", code], check=True)


def run(code: str, xlsx: Path, timeout: float) -> dict:
    body = SETUP.format(limit=LIMIT_BYTES, root=str(ROOT)) + f"XLSX = {str(xlsx)!r}\nt0 = time.perf_counter()\n" + code + \
        "\nprint(json.dumps({'s': time.perf_counter() - t0, 'rss_mb': resource.getrusage(resource.RUSAGE_SELF)" \
        ".ru_maxrss / 1024, 'rss0_mb': rss0, 'out': str(out)[:80]}))"
    try:
        proc = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True, timeout=timeout, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        return {"s": f">{timeout:g} (killed)", "rss_mb": "?", "out": "timeout"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"s": "?", "rss_mb": "?", "out": f"exit {proc.returncode}: {last[:70]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds allowed to each unguarded case")
    args = ap.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        xlsx = Path(tmp) / "intake.xlsx"
        make_xlsx(xlsx)
        print(f"4 M-row intake.xlsx: {xlsx.stat().st_size:,} bytes")
        for name, (before, after) in CASES.items():
            b = run(before, xlsx, args.timeout) if before else None
            a = run(after, xlsx, 30)
            print(f"\n{name}")
            if b:
                print(f"  before: {b['s'] if isinstance(b['s'], str) else f'{b[chr(115)]:.3f}'} s, "
                      f"peak RSS {b['rss_mb'] if isinstance(b['rss_mb'], str) else round(b['rss_mb'])} MB -> {b['out']}")
            print(f"  after:  {a['s'] if isinstance(a['s'], str) else f'{a[chr(115)]:.4f}'} s, "
                  f"peak RSS {a['rss_mb'] if isinstance(a['rss_mb'], str) else round(a['rss_mb'])} MB "
                  f"(after imports: {round(a.get('rss0_mb', 0))} MB) -> {a['out']}")


if __name__ == "__main__":
    main()
