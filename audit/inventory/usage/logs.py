"""Usage logs, the entry points: ``estimate_usage`` over files, folders, globs or frames
(chunks read one ahead in a background thread, or on Dask via audit.inventory.usage.dask),
``engagement_usage`` for an engagement's listed logs (cached, with the runner's hand-off),
and the seeded ``synthetic_log`` the benchmarks use.

The per-chunk work (validation, the per-request equations, partial sums) is the public
chunk API of audit.inventory.usage.chunks.
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from audit.core.digests import sha256_of
from audit.core.exceptions import InputError, ValidationError
from audit.core.progress import bar_shown, progress_bar
from audit.core.safefiles import find_inputs, unique_log_files
from audit.core.textinput import log_file_problem
from audit.inventory.usage.chunks import (
    DEFAULT_CHUNK_ROWS, DEFAULT_REGION, MAX_SLICES, PARQUET_SUFFIXES, LocatedProblems, Partial, UsageResult, add_partial,
    finalise, header_problems, is_parquet, iter_chunks, iter_parquet_batches, log_files, parquet_meta,
    process_arrow_chunks, process_chunk, resolver,
)
from audit.inventory.usage.dask import estimate_usage_dask
from audit.inventory.usage_import import Options, detect_format, read_usage
from audit.inventory.usage_import.reading import SUFFIXES as IMPORT_SUFFIXES
from audit.inventory.usage_import.reading import expand

# Provider exports may be gzipped (.json.gz, .csv.gz …).
EXPORT_SUFFIXES = IMPORT_SUFFIXES + tuple(s + ".gz" for s in IMPORT_SUFFIXES)

# --- the entry point -----------------------------------------------------------------------------

def _read_ahead(chunks: Iterator, depth: int = 1) -> Iterator:
    """Iterate ``chunks`` with the next one read in a background thread (pyarrow and the C
    CSV parser release the GIL, so reading overlaps the estimate on a second core)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in chunks:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    t = threading.Thread(target=work, name="usage-read-ahead", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _total_rows(files: list[Path]) -> int | None:
    """Rows in the log for the progress bar: exact for Parquet (footers), estimated for CSV
    from the line length of its first megabyte (None for compressed CSV)."""
    total = 0
    for f in files:
        if is_parquet(f):
            total += parquet_meta(f).metadata.num_rows
        elif f.suffix.lower() == ".gz":
            return None
        else:
            with f.open("rb") as fh:
                head = fh.read(1 << 20)
            lines = max(head.count(b"\n"), 1)
            total += max(int(f.stat().st_size * lines / max(len(head), 1)) - 1, 0)
    return total


def _has_canonical_header(path: Path) -> bool:
    """A CSV or Parquet file whose header holds the canonical log's required columns (read from the
    header or the Parquet footer only: a 10M-row log is not sampled to recognise it)."""
    if path.suffix.lower() == ".gz":
        return False
    try:
        names = (parquet_meta(path).schema_arrow.names if is_parquet(path)
                 else list(pd.read_csv(path, nrows=0, encoding="utf-8-sig", skipinitialspace=True).columns))
    except (ValidationError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return False
    return not header_problems(str(path), names)[1] or all(
        c in {str(n).strip().lower() for n in names} for c in ("timestamp", "provider", "model", "output_tokens"))


def read_source(source, fmt: str = "canonical", mean_output_tokens: float | None = None,
                model_aliases: dict | None = None):
    """What ``estimate_usage`` streams for LOG read as ``fmt``: (the canonical files, no notes)
    when every file is a canonical log (streamed chunk by chunk, any size), else (the canonical
    frame that ``audit.inventory.usage_import.read_usage`` made of the exports, its messages:
    the format read per file, ignored columns, model names read as others, assumptions)."""
    if fmt == "canonical" or isinstance(source, pd.DataFrame):
        return source, []
    if fmt == "auto":
        files = expand(source)
        if all(_has_canonical_header(f) or detect_format(f) == "canonical" for f in files):
            return files, [f"{f}: read as canonical (recognised automatically)" for f in files]
    imported = read_usage(source, fmt, options=Options(mean_output_tokens_per_request=mean_output_tokens),
                          engagement_aliases=model_aliases)
    messages = imported.messages()
    if len(imported.media):
        n = len(imported.media)
        messages.append(f"{n:,} image/video row{'s' if n != 1 else ''} ({', '.join(sorted(set(imported.media['kind'])))})"
                        " are not LLM requests and are not in this estimate: `audit import-usage --out LOG` writes them "
                        "to LOG.media.parquet, to enter as image_generation/video_generation activities")
    return imported.llm, messages


IN_FLIGHT_ENV = "GENAI_AUDIT_USAGE_IN_FLIGHT"


def batches_in_flight() -> int:
    """Parquet batches estimated at once (``GENAI_AUDIT_USAGE_IN_FLIGHT``, default 1; at most the
    CPU count). One batch at a time while the next is read on a second thread was measured
    cheaper than two at a time on the shared 2-CPU machine of issue 16 (10M rows under load 10:
    1.8-2.0 s of CPU vs 2.2-3.1 s, the difference in system time; benchmarks/README.md); the
    sums are identical either way, so the setting is only a speed lever for idle machines."""
    raw = os.environ.get(IN_FLIGHT_ENV, "1").strip()
    if not raw.isdigit() or int(raw) < 1:
        raise InputError(f"{IN_FLIGHT_ENV}={raw!r}: give a whole number of batches, 1 or more")
    return int(raw)


def estimate_usage(source, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, scheduler=None, progress: bool | None = None,
                   default_region: str = DEFAULT_REGION,
                   on_chunk: Callable[[pd.DataFrame], None] | None = None, fmt: str = "canonical",
                   mean_output_tokens: float | None = None, model_aliases: dict | None = None,
                   imported: list[tuple[str, pd.DataFrame]] | None = None) -> UsageResult:
    """Estimate a usage log: a CSV or Parquet file, a folder or glob of Parquet files, a list
    of those, or a DataFrame. Chunks are read one ahead in a background thread.

    ``fmt`` (``--from``): "canonical" (default), "auto" or a provider export format
    (audit.inventory.usage_import.ADAPTERS); exports are read into the canonical log first
    (``read_source``), whose messages become ``result.notes``. ``mean_output_tokens`` is the
    stated mean output tokens per request of exports without a request count; ``model_aliases``
    the engagement's deployment and in-house model names. ``imported``: canonical frames read from
    provider exports, each named by its export file, estimated after ``source`` (an engagement
    whose ``usage_logs`` mix canonical logs and exports); ``source`` may then be an empty list.

    ``scheduler``: None (this process), "local" (a 2-worker Dask LocalCluster), a Dask
    scheduler address ("tcp://host:8786"), or a ``distributed.Client``/cluster; Dask needs
    Parquet input. ``on_chunk`` receives each chunk's per-request frame (single-machine
    path only), e.g. to write them to Parquet. Raises ``ValidationError`` listing up to
    50 located problems over the whole log.
    """
    if chunk_rows < 1:
        raise InputError("--chunk-rows must be at least 1")
    source, read_notes = read_source(source, fmt, mean_output_tokens, model_aliases)
    if scheduler is not None:
        if isinstance(source, pd.DataFrame) and fmt != "canonical":
            raise InputError("a provider export is read into memory, not on Dask: write it as a canonical log "
                             "first (audit import-usage LOG --out usage.parquet), then estimate that on Dask")
        if on_chunk is not None:
            raise InputError("per-request output is not available with a Dask scheduler; run without one")
        return estimate_usage_dask(source, scheduler, chunk_rows=chunk_rows, progress=progress,
                                   default_region=default_region)


    t0 = time.perf_counter()
    res = resolver(default_region.strip().upper(), tuple(sorted((model_aliases or {}).items())))
    if isinstance(source, pd.DataFrame):
        files, names = [source], ["<data frame>" if fmt == "canonical" else "<imported exports>"]
    else:
        files = log_files(source) if (source or not imported) else []
        names = [str(f) for f in files]
    partial, notes = _read_and_sum(files, names, res, chunk_rows, progress, imported, on_chunk=on_chunk, energy=True)
    result = finalise(partial, res, names + [name for name, _ in imported or []], chunk_rows, time.perf_counter() - t0)
    result.notes = read_notes + notes
    if isinstance(source, pd.DataFrame):
        result.frame = source
    return result


def _read_and_sum(files: list, names: list[str], res, chunk_rows: int, progress: bool | None,
                  imported: list[tuple[str, pd.DataFrame]] | None, *, on_chunk=None, energy: bool) -> tuple:
    """(partial sums by group, notes) of log files and frames, read chunk by chunk with the next chunk
    read ahead; with ``energy`` each request is estimated, without it the rows are only validated and
    their requests, tokens and latency summed. Raises ``ValidationError`` (up to 50 located problems)."""
    files, names = list(files), list(names)
    if isinstance(files[0] if files else None, pd.DataFrame):
        total = len(files[0])
    else:
        total = _total_rows(files) if bar_shown(progress) else None  # footers and 1 MB reads only for a bar
    for name, frame in imported or []:
        files.append(frame)
        names.append(name)
        total = None if total is None else total + len(frame)
    problems = LocatedProblems()
    total_sums = None

    threads = max(1, min(os.cpu_count() or 1, MAX_SLICES))
    with progress_bar(progress, total=total, unit="rows", unit_scale=True, desc="requests", smoothing=0.1) as bar, ThreadPoolExecutor(threads, thread_name_prefix="usage") as pool:
        for f, name in zip(files, names):
            # Parquet logs are estimated on their Arrow arrays (no pandas conversion) unless
            # per-request frames are asked for or the rows are only validated (energy=False);
            # every other source as pandas chunks.
            if energy and on_chunk is None and not isinstance(f, pd.DataFrame) and is_parquet(f):
                outputs = process_arrow_chunks(_read_ahead(iter_parquet_batches(f, chunk_rows, problems)), res, name,
                                               problems, pool, in_flight=min(batches_in_flight(), threads))
            else:
                outputs = ((process_chunk(df, res, name, first, problems, want_rows=on_chunk is not None, pool=pool,
                                          energy=energy), len(df))
                           for df, first in _read_ahead(iter_chunks(f, chunk_rows, problems)))
            for out, rows in outputs:
                if out.partial is not None and not problems.count:
                    # Each chunk's sums are added to the total as they come, in file order (one
                    # partial of up to ~170k groups held, not several: memory flat in the log's length).
                    total_sums = add_partial(total_sums, out.partial)
                    if on_chunk is not None:
                        on_chunk(out.rows)
                bar.update(rows)
        bar.total = bar.n  # CSV totals are estimates
        bar.refresh()
    problems.raise_if_any()
    return (total_sums if total_sums is not None else Partial.empty()), list(problems.notes)


# --- usage logs of an engagement ------------------------------------------------------------------

# key -> the estimate (UsageResult); (key, "sums") -> validation's sums (UsageSums).
_ENGAGEMENT_CACHE: dict[tuple, "UsageResult | UsageSums"] = {}


def _keep_only(key: tuple) -> None:
    """One engagement at a time: a log can be gigabytes of sums; the entries of ``key`` (its estimate
    and its sums) are kept, any other engagement's are dropped."""
    for k in [k for k in _ENGAGEMENT_CACHE if k != key and k != (key, "sums")]:
        del _ENGAGEMENT_CACHE[k]


def _entry(entry) -> tuple[str, str, tuple[float | None, str]]:
    """(path, format, (mean output tokens, stage)) of one ``usage_logs`` entry: a plain string is a
    canonical log; ``{path, from, mean_output_tokens, stage}`` names a provider export's format."""
    if isinstance(entry, str):
        return entry, "canonical", (None, "")
    return entry.path, entry.from_.value, (entry.mean_output_tokens, entry.stage)


def engagement_log_entries(folder: str | Path, usage_logs: list) -> list[tuple[Path, str, tuple]]:
    """(file, format, (mean output tokens, stage)) behind each entry of ``usage_logs``, inside the folder."""
    return engagement_log_entries_and_notes(folder, usage_logs)[0]


def engagement_log_entries_and_notes(folder: str | Path, usage_logs: list) -> tuple[list[tuple[Path, str, tuple]], list[str]]:
    """``engagement_log_entries`` and the notes to show. Each entry is expanded inside the
    engagement folder by ``core.safefiles.find_inputs`` (links out of the folder, loops, FIFOs and
    devices refused; linked folders never entered); a file reached twice (a link, a hard link, two
    entries) is counted once, with a note naming both. An empty or header-only canonical log is
    named here, not blamed on engagement.yaml once it has produced no activities."""
    root = Path(folder).resolve()
    found: list[tuple[Path, str, tuple]] = []
    notes: list[str] = []
    for entry in usage_logs:
        path, fmt, mean = _entry(entry)
        suffixes = PARQUET_SUFFIXES + (".csv",) if fmt == "canonical" else EXPORT_SUFFIXES
        files, more = find_inputs(path, root, what="usage log", suffixes=suffixes)
        found += [(f, fmt, mean) for f in files]
        notes += more
    files, dup_notes = unique_log_files([f for f, _, _ in found])
    notes += dup_notes
    how: dict[str, tuple[str, tuple]] = {}
    for f, fmt, mean in found:
        how.setdefault(str(Path(f).resolve()), (fmt, mean))
    entries = [(f, *how[str(Path(f).resolve())]) for f in files]
    problems = [p for f, fmt, _ in entries if fmt == "canonical" and (p := log_file_problem(f, file=str(f)))]
    if problems:
        raise ValidationError(problems)
    return entries, [f"{root.name}: {n.replace(str(root) + os.sep, '')}" for n in notes]


def engagement_log_files(folder: str | Path, usage_logs: list) -> list[Path]:
    """The files behind engagement.yaml's ``usage_logs``, each inside the engagement folder."""
    return engagement_log_files_and_notes(folder, usage_logs)[0]


def engagement_log_files_and_notes(folder: str | Path, usage_logs: list) -> tuple[list[Path], list[str]]:
    """``engagement_log_files`` and the notes to show (see engagement_log_entries_and_notes)."""
    entries, notes = engagement_log_entries_and_notes(folder, usage_logs)
    return [f for f, _, _ in entries], notes


def _cache_key(files: list[Path], default_region: str, how: str = "") -> tuple:
    """Files (path, size, modification time), the default region and how they are read (formats,
    stated means, model aliases): a change in any of them estimates the logs again."""
    stats = [f.stat() for f in files]  # one stat per file: size and time from the same look
    return tuple((str(f), st.st_size, st.st_mtime_ns) for f, st in zip(files, stats)), default_region, how


def _file_digests(key: tuple) -> dict[str, str]:
    """SHA-256 of each file of a cache key, by path: streamed, and remembered by the intake's
    cache under the same (path, size, modification time) the key holds."""

    return {path: sha256_of(str(Path(path).resolve()), size, mtime_ns) for path, size, mtime_ns in key[0]}


def _engagement_key(folder: str | Path, usage_logs: list, default_region: str,
                    model_aliases: dict | None) -> tuple[tuple, list[tuple[Path, str, tuple]]]:
    """(cache key, entries) of an engagement's usage logs: the key names the files and how they are read."""
    entries = engagement_log_entries(folder, usage_logs)
    files = [f for f, _, _ in entries]
    how = json.dumps([[str(f), fmt, *opts] for f, fmt, opts in entries if fmt != "canonical"]
                     + [sorted((model_aliases or {}).items())])
    return _cache_key(files, default_region, how), entries


def _read_exports(entries: list[tuple[Path, str, tuple]], model_aliases: dict | None):
    """The provider exports among ``entries`` read into canonical frames (names resolved): (frames named by
    their file, notes, image/video usage or None)."""
    imported, notes, media = [], [], []
    for f, fmt, (mean, stage) in entries:
        if fmt != "canonical":  # a provider export, read into the canonical log (names resolved)
            read = read_usage(f, fmt, options=Options(mean_output_tokens_per_request=mean, stage=stage),
                              engagement_aliases=model_aliases)
            imported.append((str(f), read.llm))
            notes += read.messages()
            if len(read.media):  # image/video usage: activities of their own kinds (intake)
                media.append(read.media)
    return imported, notes, (pd.concat(media, ignore_index=True) if media else None)


def _keyed_engagement_usage(folder: str | Path, usage_logs: list, default_region: str,
                            model_aliases: dict | None = None) -> "tuple[tuple, UsageResult] | None":
    """(cache key, result) of ``engagement_usage``: the key names the files it was made from."""
    if not usage_logs:
        return None
    key, entries = _engagement_key(folder, usage_logs, default_region, model_aliases)
    if key not in _ENGAGEMENT_CACHE:
        result = _read_handoff(key)
        if result is None:
            canonical = [f for f, fmt, _ in entries if fmt == "canonical"]
            imported, notes, media = _read_exports(entries, model_aliases)
            result = estimate_usage(canonical, default_region=default_region, progress=False,
                                    model_aliases=model_aliases, imported=imported)
            result.notes = notes + result.notes
            result.media = media
            result.sha256 = _file_digests(key)
        _keep_only(key)
        _ENGAGEMENT_CACHE[key] = result
    return key, _ENGAGEMENT_CACHE[key]


def engagement_usage(folder: str | Path, usage_logs: list, default_region: str,
                     model_aliases: dict | None = None) -> "UsageResult | None":
    """An engagement's usage logs estimated request by request (None when it lists none): the
    estimate step's figures (energy, carbon, the hour-aware view). Kept for the process while the
    files are unchanged (same paths, sizes and modification times): the three pipeline notebooks
    run on one kernel and each asks for it. Validation never calls this: it reads the logs with
    ``engagement_usage_sums``."""
    found = _keyed_engagement_usage(folder, usage_logs, default_region, model_aliases)
    return None if found is None else found[1]


# --- usage logs of an engagement, validated and summed (no estimate) ------------------------------

#: The columns of ``UsageSums.groups``: the group labels, then what validation sums (no energy).
SUM_GROUP_COLUMNS = ["stage", "provider", "model", "region", "country", "month", "hour", "requests",
                     "input_tokens", "output_tokens", "latency_sum", "latency_n", "cached_input_tokens"]


@dataclass
class UsageSums:
    """An engagement's usage logs read and validated, summed by stage × provider × model × region ×
    month × UTC hour: requests, input/output/cached tokens and latency (sum and count of the requests
    that logged one). No energy and no carbon: those belong to the estimate step
    (``engagement_usage``; ``estimate.Estimate.usage``)."""

    groups: pd.DataFrame  # SUM_GROUP_COLUMNS
    sources: list[str]
    default_region: str = DEFAULT_REGION
    sha256: dict[str, str] = field(default_factory=dict, repr=False)  # file -> SHA-256, by its entry in sources
    notes: list[str] = field(default_factory=list)  # formats read, ignored columns, names read as others
    media: pd.DataFrame | None = field(default=None, repr=False)  # image/video usage of provider exports

    @property
    def requests(self) -> int:
        return int(self.groups["requests"].sum())

    def to_activities(self, prefix: str = "USG") -> pd.DataFrame:
        """The ``llm_api`` activities of the logs by stage × provider/model × region × month (requests,
        mean tokens and latency per request): ``UsageResult.to_activities``, which reads these very sums."""
        return UsageResult(self.groups, self.sources, self.default_region).to_activities(prefix)


def _sums_of(result: UsageResult) -> UsageSums:
    """The sums of an estimate already made (its groups hold them beside the energy)."""
    return UsageSums(result.groups[SUM_GROUP_COLUMNS].copy(), list(result.sources), result.default_region,
                     dict(result.sha256), list(result.notes), result.media)


def engagement_usage_sums(folder: str | Path, usage_logs: list, default_region: str,
                          model_aliases: dict | None = None) -> UsageSums | None:
    """Validation of an engagement's usage logs (None when it lists none): each log read once, every
    row checked (problems located by file, row and column, ``ValidationError``), and the requests and
    tokens summed by group. Nothing is estimated: no energy, no carbon.

    When this process already estimated the same files (``engagement_usage``, or the sums ``audit run``
    handed to its kernel), the sums are taken from that estimate instead of reading the logs again;
    they are the same numbers (the same partial sums, added in the same order)."""
    if not usage_logs:
        return None
    key, entries = _engagement_key(folder, usage_logs, default_region, model_aliases)
    if (key, "sums") in _ENGAGEMENT_CACHE:
        return _ENGAGEMENT_CACHE[(key, "sums")]
    done = _ENGAGEMENT_CACHE.get(key) or _read_handoff(key)
    if done is not None:
        sums = _sums_of(done)
    else:
        t0 = time.perf_counter()
        canonical = [f for f, fmt, _ in entries if fmt == "canonical"]
        imported, notes, media = _read_exports(entries, model_aliases)
        res = resolver(default_region.strip().upper(), tuple(sorted((model_aliases or {}).items())))
        files = log_files(canonical) if (canonical or not imported) else []
        names = [str(f) for f in files]
        partial, chunk_notes = _read_and_sum(files, names, res, DEFAULT_CHUNK_ROWS, False, imported, energy=False)
        read = finalise(partial, res, names + [name for name, _ in imported], DEFAULT_CHUNK_ROWS,
                        time.perf_counter() - t0, energy=False)
        sums = UsageSums(read.groups[SUM_GROUP_COLUMNS].copy(), read.sources, read.default_region,
                         _file_digests(key), notes + chunk_notes, media)
    _keep_only(key)
    _ENGAGEMENT_CACHE[(key, "sums")] = sums
    return sums


# --- the estimate step's hook --------------------------------------------------------------------

@dataclass
class UsageEnergy:
    """The energy and carbon of an engagement's usage logs, for the estimate step
    (``audit.inventory.estimate.estimate`` attaches one to its ``Estimate.usage``). Computed on first
    use (``result()``), request by request, by ``engagement_usage``: an estimate that never shows the
    logs' hour-by-hour view does not read them again. Pickles small (settings, not figures)."""

    folder: Path
    usage_logs: list
    default_region: str
    model_aliases: dict | None = None

    def result(self) -> UsageResult:
        return engagement_usage(self.folder, self.usage_logs, self.default_region, self.model_aliases)


def usage_energy(loaded) -> UsageEnergy | None:
    """The estimate step's hook: the usage logs of a validated engagement (``intake.LoadedEngagement``)
    to estimate, or None when it lists none."""
    eng = loaded.engagement
    logs = getattr(eng, "usage_logs", None)
    if not logs:
        return None
    return UsageEnergy(Path(loaded.folder), list(logs), eng.default_region, getattr(eng, "model_aliases", None))


# --- hand-off to the notebook kernel ----------------------------------------------------------
# `audit run` validates the engagement (usage logs included) before it starts the kernel, and
# the kernel loads the engagement again. The run writes what it estimated into its private work
# folder and names it in USAGE_HANDOFF_ENV, so a 10M-request log is read once per run, not twice
# (and hashed once: the files' SHA-256 digests travel with the sums).
# Used only for the same files (paths, sizes, modification times) and default region.

USAGE_HANDOFF_ENV = "GENAI_AUDIT_USAGE_HANDOFF"


def _key_json(key: tuple) -> list:
    return [[list(f) for f in key[0]], *key[1:]]


def write_handoff(folder: str | Path, engagement_dir: str | Path, usage_logs: list,
                  default_region: str, model_aliases: dict | None = None) -> Path | None:
    """Save the engagement's usage result (estimated once per process) into ``folder`` for a
    kernel started with ``USAGE_HANDOFF_ENV=folder``. None when it lists no usage logs."""
    found = _keyed_engagement_usage(engagement_dir, usage_logs, default_region, model_aliases)
    if found is None:
        return None
    key, result = found
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result.groups.to_parquet(folder / "groups.parquet", index=False)
    if result.media is not None:
        result.media.to_parquet(folder / "media.parquet", index=False)
    meta = {"key": _key_json(key), "sources": result.sources, "default_region": result.default_region,
            "chunk_rows": result.chunk_rows, "seconds": result.seconds, "factor_ids": result.factor_ids,
            "sha256": result.sha256, "notes": result.notes, "dtypes": {c: str(t) for c, t in result.groups.dtypes.items()}}
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def _read_handoff(key: tuple) -> "UsageResult | None":
    folder = os.environ.get(USAGE_HANDOFF_ENV)
    if not folder or not (Path(folder) / "meta.json").is_file():
        return None
    meta = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
    if meta["key"] != _key_json(key):
        return None
    groups = pd.read_parquet(Path(folder) / "groups.parquet").astype(meta["dtypes"])  # Parquet reads text as str
    return UsageResult(groups=groups, sources=meta["sources"],
                       default_region=meta["default_region"], chunk_rows=meta["chunk_rows"],
                       seconds=meta["seconds"], factor_ids=meta["factor_ids"], sha256=meta["sha256"],
                       notes=meta.get("notes", []),
                       media=pd.read_parquet(Path(folder) / "media.parquet")
                       if (Path(folder) / "media.parquet").is_file() else None)


def per_request_frame(df: pd.DataFrame, default_region: str = DEFAULT_REGION, file: str = "<data frame>") -> pd.DataFrame:
    """The per-request figures of an in-memory chunk of a usage log (raises on problems)."""
    problems = LocatedProblems()
    mapping, header = header_problems(file, list(df.columns))
    for p in header:
        problems.add(p)
    problems.raise_if_any()
    out = process_chunk(df[list(mapping)].rename(columns=mapping), resolver(default_region.strip().upper()), file, 1,
                        problems, want_rows=True)
    problems.raise_if_any()
    return out.rows


# --- synthetic logs (tests, benchmarks, demos) -----------------------------------------------------

#: Twenty real (provider, model) pairs from EcoLogits 0.11.3, across the five API providers.
SYNTHETIC_PAIRS = [
    ("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "gpt-4.1"), ("openai", "gpt-4.1-nano"),
    ("openai", "gpt-5"), ("openai", "gpt-5-mini"), ("openai", "o4-mini"), ("openai", "gpt-3.5-turbo"),
    ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-haiku-4-5"), ("anthropic", "claude-opus-4-5"),
    ("mistral", "mistral-large-2512"), ("mistral", "mistral-small-2603"), ("mistral", "ministral-8b-2512"),
    ("google", "gemini-2.5-flash"), ("google", "gemini-2.5-flash-lite"), ("google", "gemini-2.5-pro"),
    ("cohere", "command-a-03-2025"), ("cohere", "command-r-08-2024"), ("cohere", "command-r7b-12-2024"),
]
SYNTHETIC_STAGES = ["Ideation", "Pre-production", "Production", "Post-production", "Localisation"]
SYNTHETIC_REGIONS = ["", "", "", "", "GBR", "FRA", "DEU", "USA", "aws:eu-west-2", "gcp:europe-west2"]


def synthetic_log(n: int, seed: int = 0, pairs=None, latency_share: float = 0.7, year: int = 2025) -> pd.DataFrame:
    """A reproducible usage log of ``n`` requests over real EcoLogits pairs (not client data)."""
    rng = np.random.default_rng(seed)
    pairs = pairs or SYNTHETIC_PAIRS
    p = rng.integers(0, len(pairs), n)
    start = np.datetime64(f"{year}-01-01T00:00:00", "s").astype(np.int64)
    seconds = start + rng.integers(0, 365 * 86400, n)
    out_tok = np.maximum(1, rng.lognormal(5.5, 0.8, n)).astype(np.int64)
    in_tok = np.maximum(0, rng.lognormal(6.5, 1.0, n)).astype(np.int64)
    lat = np.where(rng.random(n) < latency_share, rng.lognormal(1.5, 0.7, n), np.nan)
    return pd.DataFrame({
        "timestamp": pd.to_datetime(seconds, unit="s", utc=True),
        "provider": pd.Categorical.from_codes(p, [a for a, _ in pairs]) if len({a for a, _ in pairs}) == len(pairs)
        else np.asarray([a for a, _ in pairs], dtype=object)[p],
        "model": np.asarray([b for _, b in pairs], dtype=object)[p],
        "input_tokens": in_tok, "output_tokens": out_tok, "latency_s": lat,
        "stage": np.asarray(SYNTHETIC_STAGES, dtype=object)[rng.integers(0, len(SYNTHETIC_STAGES), n)],
        "region": np.asarray(SYNTHETIC_REGIONS, dtype=object)[rng.integers(0, len(SYNTHETIC_REGIONS), n)],
    })
