"""A 10-million-request Parquet log, end to end: wall time and peak memory.

    .venv/bin/python benchmarks/bench_usage_10m.py [--requests 10000000] [--chunk-rows 1000000] [--regenerate]

The log (synthetic, seeded: `audit.inventory.usage.synthetic_log` in ten 1M-request blocks over 20
real EcoLogits pairs, written as one Parquet file with 1M-row row groups, ~190 MB) is cached
in $TMPDIR/genai-audit-bench/ and reused. The estimate then runs in a FRESH Python process
(`estimate_usage(path)`, as `audit estimate-usage LOG` does) so that generating the log does
not count towards its memory: we report that process's peak RSS (getrusage ru_maxrss) and the
wall time of the estimate call, plus the whole process (interpreter start and imports).
Targets: <= 10 s and <= 2 GB. The ratio printed is measured / target (lower is better).

Then, in another fresh process, the first batch is estimated both ways, the pandas chunks
(``process_chunk``, how every Parquet batch was read before issue 16) and the Arrow path
(``process_arrow_chunk``), best CPU time of 7 each, interleaved: their ratio is the per-batch
saving, and their sums must be identical to the last bit.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 10.0
TARGET_GB = 2.0

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from audit.inventory.usage import estimate_usage
t1 = time.perf_counter()
c1 = time.process_time()
r = estimate_usage(sys.argv[1], chunk_rows=int(sys.argv[2]), progress=False)
t2 = time.perf_counter()
c2 = time.process_time()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"import_s": t1 - t0, "estimate_s": t2 - t1, "estimate_cpu_s": c2 - c1, "maxrss_kb": ru.ru_maxrss,
                  "cpu_s": ru.ru_utime + ru.ru_stime, "requests": r.totals["requests"], "totals": r.totals,
                  "kgco2e": r.totals["kgco2e"], "groups": len(r.groups)}))
"""


# One batch, both readers, best CPU time of 7 in one process: a ratio that the machine's load moves
# little (a process's CPU time still grows under heavy load, but alike for both sides).
CHUNK_CHILD = r"""
import json, sys, time
from pathlib import Path
from audit.inventory.usage import chunks as C
path, rows = Path(sys.argv[1]), int(sys.argv[2])
res = C.resolver()
batch, first = next(iter(C.iter_parquet_batches(path, rows, C.LocatedProblems())))
def general():  # the pandas chunks, as every Parquet batch was read before the Arrow path
    return C.process_chunk(batch.to_pandas(), res, str(path), first, C.LocatedProblems()).partial
def arrow():
    return C.process_arrow_chunk(batch, res, str(path), first, C.LocatedProblems()).partial
best = {}
for _ in range(7):
    for f in (general, arrow):
        c = time.process_time(); p = f(); best[f.__name__] = min(best.get(f.__name__, 9e9), time.process_time() - c)
a, g = arrow(), general()
order = g.keys.argsort()
same = bool((a.keys == g.keys[order]).all() and (a.sums == g.sums[:, order]).all())
print(json.dumps({"general_cpu_s": best["general"], "arrow_cpu_s": best["arrow"], "rows": len(batch), "same": same}))
"""


def generate(path: Path, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from audit.inventory.usage import synthetic_log

    tmp = path.with_suffix(".tmp")
    writer = None
    block = 1_000_000
    for i, start in enumerate(range(0, n, block)):
        df = synthetic_log(min(block, n - start), seed=i)
        df["provider"] = df["provider"].astype(str)
        table = pa.Table.from_pandas(df, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(str(tmp), table.schema)
        writer.write_table(table, row_group_size=block)
    writer.close()
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10_000_000)
    ap.add_argument("--chunk-rows", type=int, default=1_000_000)
    ap.add_argument("--regenerate", action="store_true")
    args = ap.parse_args()
    cache = Path(tempfile.gettempdir()) / "genai-audit-bench"
    cache.mkdir(exist_ok=True)
    path = cache / f"usage_{args.requests}.parquet"
    if args.regenerate or not path.exists():
        t = time.perf_counter()
        generate(path, args.requests)
        print(f"generated {path} ({path.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t:.1f} s")
    else:
        print(f"reusing {path} ({path.stat().st_size / 1e6:,.0f} MB)")
    load = os.getloadavg()[0]
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(args.chunk_rows)], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        sys.exit(proc.stderr)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    gb = out["maxrss_kb"] * 1024 / 1e9
    assert out["requests"] == args.requests
    print(f"estimate_usage: {out['requests']:,} requests in {out['estimate_s']:.2f} s "
          f"({out['requests'] / out['estimate_s'] / 1e6:.2f} M requests/s); process total {wall:.2f} s "
          f"(imports {out['import_s']:.2f} s); CPU {out['estimate_cpu_s']:.2f} s in the estimate, {out['cpu_s']:.2f} s in "
          f"the process; peak RSS {gb:.2f} GB; {out['groups']:,} groups; "
          f"{out['kgco2e']:,.1f} kgCO2e")
    print(f"(load average before the run: {load:.2f}, after: {os.getloadavg()[0]:.2f}, on {os.cpu_count()} CPUs; other "
          "work on the machine slows "
          "the wall time more than the CPU time)")
    print(f"RATIO time: {out['estimate_s'] / TARGET_S:.2f} of the {TARGET_S:g} s target "
          f"({'MET' if out['estimate_s'] <= TARGET_S else 'NOT MET'}); "
          f"process total {wall / TARGET_S:.2f} ({'MET' if wall <= TARGET_S else 'NOT MET'})")
    print(f"RATIO memory: {gb / TARGET_GB:.2f} of the {TARGET_GB:g} GB target ({'MET' if gb <= TARGET_GB else 'NOT MET'})")
    proc = subprocess.run([sys.executable, "-c", CHUNK_CHILD, str(path), str(args.chunk_rows)], capture_output=True,
                          text=True)
    if proc.returncode:
        sys.exit(proc.stderr)
    c = json.loads(proc.stdout.strip().splitlines()[-1])
    assert c["same"], "the Arrow path and the pandas chunks disagree"
    print(f"one {c['rows']:,}-row batch, best CPU of 7: pandas chunks {c['general_cpu_s'] * 1e3:.0f} ms, Arrow path "
          f"{c['arrow_cpu_s'] * 1e3:.0f} ms, same sums bit for bit (load {os.getloadavg()[0]:.2f})")
    print(f"RATIO per-batch CPU Arrow/pandas: {c['arrow_cpu_s'] / c['general_cpu_s']:.2f}")


if __name__ == "__main__":
    main()
