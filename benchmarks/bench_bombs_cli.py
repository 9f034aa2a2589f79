"""Issue 17 through the CLI: each bomb, containment break and loop as `audit validate` meets it,
before (another checkout, e.g. main before the guards) and after (this one).

    python benchmarks/bench_bombs_cli.py --checkout /path/to/old/checkout --timeout 60
    python benchmarks/bench_bombs_cli.py                      # this checkout only

Each case runs in a child process with a wall-clock limit (--timeout) and an address-space
limit (--limit-gb); prints one JSON line per case and checkout: seconds, peak RSS of the
child (MB), exit code, message length, whether a traceback was printed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

YAML = ("client: Bench\nperiod: '2025'\ncurrency: GBP\ncarbon_price_per_tonne: 85\ndefault_region: GBR\n")
CSV_HEADER = "activity_id,stage,description,kind,quantity,unit\n"
CSV_ROW = "A1,Production,bench,electricity,100,kWh\n"
LOG = ("timestamp,provider,model,input_tokens,output_tokens,latency_s,stage,region\n"
       "2025-03-01T02:50:06Z,openai,gpt-4o-mini,618,148,2.266,Delivery,\n")


def folder(root: Path, name: str, yaml_text: str = YAML, csv_text: str | None = CSV_HEADER + CSV_ROW) -> Path:
    f = root / name
    f.mkdir()
    (f / "engagement.yaml").write_text(yaml_text, encoding="utf-8")
    if csv_text is not None:
        (f / "activities.csv").write_text(csv_text, encoding="utf-8")
    return f


def alias_bomb(levels: int) -> str:
    lines = ['lol0: &lol0 "lol"']
    lines += [f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return YAML + "\n".join(lines) + "\nassumptions: *lol%d\n" % levels


def xlsx_rows(path: Path, rows: int) -> None:
    from tests.test_guards_xlsx import handmade_xlsx  # the same hand-made workbook the tests use
    handmade_xlsx(path, b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * rows)


def build(root: Path) -> dict[str, Path]:
    cases: dict[str, Path] = {}
    cases["yaml alias bomb, 8 levels"] = folder(root, "bomb8", alias_bomb(8))
    cases["yaml 1,000 nested brackets"] = folder(root, "nest", YAML + "assumptions: " + "[" * 1000 + "]" * 1000 + "\n")
    f = folder(root, "xlsx", csv_text=None)
    xlsx_rows(f / "intake.xlsx", 4_000_000)
    cases["intake.xlsx of 4 M one-cell rows"] = f
    cases["unit cell of 50 KB"] = folder(root, "unit50k", csv_text=CSV_HEADER + CSV_ROW.replace("kWh", "a b " * 12_500))
    cases["unit 9**9**9 kWh"] = folder(root, "unitpow", csv_text=CSV_HEADER + CSV_ROW.replace("kWh", "9**9**9 kWh"))
    cases["4 MB description cell"] = folder(root, "cell4m", csv_text=CSV_HEADER + CSV_ROW.replace("bench", "x" * 4_000_000))
    cases["quantity 1e308 MWh"] = folder(root, "e308", csv_text=CSV_HEADER + CSV_ROW.replace("100,kWh", "1e308,MWh"))
    f = folder(root, "devzero", csv_text=None)
    (f / "activities.csv").symlink_to("/dev/zero")
    cases["activities.csv -> /dev/zero"] = f
    f = folder(root, "fifo", csv_text=None)
    os.mkfifo(f / "activities.csv")
    cases["activities.csv is a FIFO"] = f
    f = folder(root, "loop", YAML + "usage_logs:\n  - usage/**/*.csv\n")
    (f / "usage").mkdir()
    (f / "usage" / "log.csv").write_text(LOG, encoding="utf-8")
    (f / "usage" / "a").symlink_to(f / "usage")
    (f / "usage" / "b").symlink_to(f / "usage")
    cases["usage/** with two link loops"] = f
    f = folder(root, "shared", YAML + "usage_logs:\n  - shared\n")
    (f / "shared").symlink_to("/")
    cases["usage_logs: [shared], shared -> /"] = f
    return cases


def run(checkout: Path, target: Path, timeout: float, limit_bytes: int) -> dict:
    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    env = dict(os.environ, PYTHONPATH=str(checkout))
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "audit", "validate", str(target)], env=env, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=limits, cwd=checkout)  # cwd: -m puts it first on sys.path
        code: int | str = "timeout"
        while True:  # wait4: this child's own peak RSS
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() - start > timeout:
                proc.kill()
                _, _, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        proc.returncode = 0  # reaped above
        log.seek(0)
        out = log.read().decode("utf-8", errors="replace")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024), "exit": code,
            "message_chars": len(out), "traceback": "Traceback" in out,
            "message": out.strip().splitlines()[-1][:160] if out.strip() else ""}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkout", type=Path, action="append", default=[], help="another checkout to compare")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--limit-gb", type=float, default=3.0)
    ap.add_argument("--only", default="", help="run the cases whose name contains this text")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = build(Path(tmp))
        for name, target in cases.items():
            if args.only and args.only not in name:
                continue
            for checkout in [*args.checkout, HERE]:
                result = run(checkout, target, args.timeout, int(args.limit_gb * 2**30))
                print(json.dumps({"case": name, "checkout": str(checkout)} | result), flush=True)


if __name__ == "__main__":
    main()
