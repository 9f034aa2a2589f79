"""Usage logs on Dask: ``estimate_usage_dask`` reads a folder or glob of Parquet files with
``dask.dataframe.read_parquet(split_row_groups=True)`` (one partition per row group, so a
worker holds one row group at a time) and maps ``audit.inventory.usage.chunks.process_chunk``
over the partitions: the same per-chunk function as the single-machine path. Each partition
returns its partial sums with labels (ids are per process); the client adds them up and
applies the grid factors. Totals equal the single-machine path's up to the order of
floating-point additions (tests/test_distributed.py: within 1e-9 relative).

Located problems need each partition's file and first row. Dask orders the files by
``dask.utils.natural_sort_key`` and splits them by row group; we list the same (file, row
group, rows) pieces from the Parquet footers, in the same order, and each partition checks
its length against its piece (a mismatch degrades the location to "partition N", never a
wrong row number).

``connect`` gives a ``distributed.Client`` for "local", an address, a cluster or a client;
the batch half (audit.orchestration.distributed) uses it too. Dask itself is imported inside
the functions that need it: importing this module costs nothing.
"""
from __future__ import annotations

import socket
import struct
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from audit.core.exceptions import InputError, Problem, ValidationError
from audit.core.progress import progress_bar
from audit.inventory.usage.chunks import (
    SUMS, WIRE_COLUMNS, LocatedProblems, finalise, header_problems, is_parquet, log_files, merge_partials,
    parquet_meta, partial_from_frame, partial_to_frame, process_chunk, resolver,
)

LOCAL_WORKERS = 2
PROBE_TIMEOUT_S = 5.0  # a scheduler greets a new connection at once; a web server never does
MAX_GREETING_BYTES = 1 << 20  # the handshake frame is about 60 bytes


# --- connecting ------------------------------------------------------------------------------------

def probe_scheduler(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Refuse, quickly and clearly, a tcp:// address that is not a Dask scheduler.

    A Dask peer greets every new connection with its handshake frame: an 8-byte little-endian
    message length, then the frame count. distributed's Client waits for that greeting without
    a deadline, so a web server (the dashboard's port 8787, say) hangs it, and a peer that sends
    other bytes makes it read a "length" of exabytes. Other protocols (tls://, inproc) pass.
    """
    if not address.startswith("tcp://"):
        return
    parts = urlsplit(address)
    hint = "(give 'local' or the scheduler's address, e.g. tcp://host:8786, not the dashboard's)"
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise InputError(f"'{address}' is not a scheduler address {hint}")
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            greeting = b""
            while len(greeting) < 16:
                chunk = sock.recv(16 - len(greeting))
                if not chunk:
                    break
                greeting += chunk
    except socket.timeout:
        raise InputError(f"{address} did not greet like a Dask scheduler within {timeout_s:g} s {hint}") from None
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {exc} {hint}") from None
    if len(greeting) < 16:
        raise InputError(f"{address} closed the connection: not a Dask scheduler {hint}")
    length, frames = struct.unpack("<QQ", greeting)
    if not (0 < length <= MAX_GREETING_BYTES and 0 < frames <= 64):
        raise InputError(f"{address} does not speak Dask's protocol {hint}")


@contextmanager
def connect(scheduler):
    """A ``distributed.Client`` for "local" (LocalCluster: 2 worker processes, 1 thread each),
    a scheduler address, a cluster object, or an existing Client (left open)."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if isinstance(scheduler, str) and scheduler.strip().lower() == "local":
        with LocalCluster(n_workers=LOCAL_WORKERS, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client
        return
    if isinstance(scheduler, str):
        probe_scheduler(scheduler.strip())
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc} "
                             "(give 'local' or an address such as tcp://host:8786)") from None
        with client:
            yield client
        return
    if hasattr(scheduler, "scheduler_address"):
        with Client(scheduler) as client:
            yield client
        return
    raise InputError(f"unknown scheduler {scheduler!r}: give 'local' or an address such as tcp://host:8786")


# --- usage logs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Piece:
    """One row group: the partition Dask makes of it, and where its rows are in the file."""

    file: str
    first_row: int  # row number of its first request within the file (from 1)
    rows: int


def parquet_pieces(files: list[Path]) -> tuple[list[str], list[Piece], dict[str, str]]:
    """Files in Dask's order, one Piece per row group, and the column mapping (raw -> canonical).

    Raises ValidationError for unreadable files, missing required columns, or files whose
    columns differ (Dask reads them as one table)."""
    from dask.utils import natural_sort_key


    not_parquet = [f for f in files if not is_parquet(f)]
    if not_parquet:
        raise InputError(f"{not_parquet[0]}: Dask reads Parquet only; convert CSV logs first "
                         "(e.g. pandas.read_csv(...).to_parquet(...)) or run without a scheduler")
    ordered = sorted((str(f) for f in files), key=natural_sort_key)
    pieces: list[Piece] = []
    problems: list[Problem] = []
    mapping0 = None
    for f in ordered:
        pf = parquet_meta(Path(f))
        mapping, header = header_problems(f, pf.schema_arrow.names)
        problems += header
        if not header and mapping0 is not None and mapping != mapping0:
            problems.append(Problem(f, f"columns {sorted(mapping)} differ from the first file's {sorted(mapping0)}",
                                    hint="give every file of a log the same column names"))
        mapping0 = mapping0 or mapping
        first = 1
        for rg in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(rg).num_rows
            pieces.append(Piece(f, first, n))
            first += n
    if problems:
        raise ValidationError(problems[:50])
    return ordered, pieces, mapping0 or {}


def _meta() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=np.int64 if c == "key" else float if c in SUMS else object)
                         for c in WIRE_COLUMNS + ["c", "d"]})


def partition_partial(df: pd.DataFrame, partition_info=None, *, pieces: list[Piece], mapping: dict[str, str],
                      chunk_rows: int, default_region: str) -> pd.DataFrame:
    """One Dask partition -> its partial sums in audit.inventory.usage.chunks' wire format, or its located
    problems ("problem" rows: a=file, key=row or -1, b=message, c=column, d=hint; and one
    "count" row whose key is how many problems the partition had, listed or not)."""
    number = (partition_info or {}).get("number", -1)
    piece = pieces[number] if 0 <= number < len(pieces) else None
    if piece is not None and piece.rows == len(df):
        file, first = piece.file, piece.first_row
    else:  # Dask split differently from the footers: say where we are without inventing rows
        file, first = f"partition {number} of the log", 1
    res = resolver(default_region)
    problems = LocatedProblems()
    df = df.rename(columns=mapping)
    partials = []
    for s in range(0, len(df), chunk_rows):
        out = process_chunk(df.iloc[s:s + chunk_rows], res, file, first + s, problems)
        if out.partial is not None and not problems.count:
            partials.append(out.partial)
    if problems.count:
        rows = [{"record": "problem", "key": -1 if p.row is None else p.row, "a": p.file, "b": p.message,
                 "c": p.column or "", "d": p.hint or ""} for p in problems.items]
        rows.append({"record": "count", "key": problems.count})
        out = pd.DataFrame(rows)
    else:
        out = partial_to_frame(merge_partials(partials), res)
    return out.reindex(columns=_meta().columns).astype(_meta().dtypes.to_dict() | {"key": np.int64},
                                                       errors="ignore")


def estimate_usage_dask(source, scheduler, *, chunk_rows: int, progress: bool | None = None,
                        default_region: str = "GBR"):
    """``audit.inventory.usage.logs.estimate_usage`` on a Dask cluster (Parquet input)."""
    import dask.dataframe as dd
    from distributed import as_completed


    t0 = time.perf_counter()
    if isinstance(source, pd.DataFrame):
        raise InputError("Dask reads Parquet files; save the frame with to_parquet first")
    res = resolver(default_region.strip().upper())
    files, pieces, mapping = parquet_pieces(log_files(source))
    ddf = dd.read_parquet(files, columns=list(mapping), split_row_groups=True)
    parts = ddf.map_partitions(partition_partial, pieces=pieces, mapping=mapping, chunk_rows=chunk_rows,
                               default_region=res.default_region, meta=_meta(), enforce_metadata=False)
    partials, found, count = [], {}, 0
    with connect(scheduler) as client:
        delayed = parts.to_delayed()
        futures = client.compute(delayed)
        index = {f.key: i for i, f in enumerate(futures)}
        with progress_bar(progress, total=sum(p.rows for p in pieces), unit="rows", unit_scale=True,
                          desc="requests") as bar:
            for fut in as_completed(futures):
                frame = fut.result()
                i = index[fut.key]
                probs = frame[frame["record"] == "problem"]
                if len(probs):
                    found[i] = [Problem(r.a, r.b, row=None if r.key < 0 else int(r.key), column=r.c or None,
                                        hint=r.d or None) for r in probs.itertuples(index=False)]
                    count += int(frame.loc[frame["record"] == "count", "key"].sum())
                elif not count:
                    partials.append(partial_from_frame(frame, res))
                bar.update(pieces[i].rows if i < len(pieces) else 0)
                if len(partials) >= 16:
                    partials = [merge_partials(partials)]
    if count:
        problems = LocatedProblems()
        for i in sorted(found):  # in file order, whatever order the partitions finished in
            for p in found[i]:
                problems.add(p)
        problems.count = count
        problems.raise_if_any()
    return finalise(merge_partials(partials), res, files, chunk_rows, time.perf_counter() - t0)
