"""Usage import: provider exports, gateway logs and billing -> the canonical usage log.

    read_usage(LOG, fmt="auto"|"canonical"|"openai-usage"|..., options, engagement_aliases)
        -> UsageImport(llm, media, formats, ignored_columns, notes, model_readings)
    detect_format(path) -> name
    write_canonical(result, out) -> paths written (LLM log; media log beside it if any)

Each format is a small module in ``adapters/`` (field list and the sources checked are in
its docstring). Every file is read whole by Arrow (no per-row Python for JSON lines), then
mapped with array operations. Nothing is dropped silently: fields a format does not use are
listed per file ("ignored columns: ..."); an unknown field whose name reads as a count or a
weight is an error, because reading past it would turn N requests into one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from audit.core.exceptions import InputError, Problem, ValidationError
from audit.inventory.usage_import import reading
from audit.inventory.usage_import.adapters import (
    anthropic_usage,
    azure_metrics,
    bedrock,
    canonical,
    gcp_billing,
    helicone,
    langfuse,
    litellm,
    openai_usage,
    openrouter,
)
from audit.inventory.usage_import.adapters.base import Options, nested_name
from audit.inventory.usage_import.aliases import (
    ResolvedModel,
    resolve_model_alias,
    resolve_video_model,
)
from audit.inventory.usage_import.schema import (
    LLM_COLUMNS,
    MEDIA_COLUMNS,
    Problems,
    empty_llm,
    empty_media,
    looks_like_count,
)

ADAPTERS = {m.NAME: m for m in (canonical, openai_usage, anthropic_usage, bedrock, litellm, langfuse, helicone,
                                openrouter, gcp_billing, azure_metrics)}
FORMATS = ("auto", *ADAPTERS)

__all__ = ["EMPTY", "FORMATS", "Options", "ResolvedModel", "UsageImport", "detect_format", "media_activities", "read_usage",
           "resolve_model_alias", "resolve_video_model", "write_canonical"]


@dataclass
class UsageImport:
    llm: pd.DataFrame                      # canonical LLM log (schema.LLM_COLUMNS)
    media: pd.DataFrame                    # canonical media log (schema.MEDIA_COLUMNS)
    formats: dict[str, str] = field(default_factory=dict)          # file -> format read
    chosen_by: dict[str, str] = field(default_factory=dict)        # file -> "auto" | "--from"
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model_readings: pd.DataFrame | None = None  # raw provider/model -> provider/model, how, rows

    def messages(self) -> list[str]:
        """What a consultant should read: format chosen, ignored columns, names read as others."""
        out = [f"{f}: read as {fmt}" + (" (recognised automatically)" if self.chosen_by.get(f) == "auto" else "")
               for f, fmt in self.formats.items()]
        out += [f"{f}: ignored columns: {', '.join(cols)}" for f, cols in self.ignored_columns.items() if cols]
        out += self.notes
        if self.model_readings is not None:
            for r in self.model_readings.itertuples():
                if (r.raw_provider, r.raw_model) != (r.provider, r.model) or not r.known:
                    out.append(f"model '{r.raw_model}'" + (f" ({r.raw_provider})" if r.raw_provider else "")
                               + f" read as {r.provider}/{r.model} in {r.rows} rows: {r.how}")
        return out


def _sample_fields(path: Path, kind: str, opaque: frozenset) -> tuple[set[str], list[dict]]:
    sample = reading.sample_records(path, kind)
    fields: set[str] = set()
    for rec in sample:
        fields |= reading.field_paths(rec, opaque=opaque)
    if kind == "csv" and not sample:  # a header-only export: its header still names the format
        fields = set(reading.csv_columns(path))
    return fields, sample


def _matches(adapter, fields: set[str]) -> bool:
    sigs = [adapter.SIGNATURE] + ([adapter.SIGNATURE_ALT] if hasattr(adapter, "SIGNATURE_ALT") else []) \
        + list(getattr(adapter, "SIGNATURES_MORE", ()))
    # A nested object is listed by its leaves (usageDetails.input): its own name counts as present too.
    fields = fields | {f.rsplit(".", i)[0] for f in fields for i in range(1, f.count(".") + 1)}
    norm = {f.strip().lower() for f in fields} if adapter is canonical else fields
    parents = getattr(adapter, "NESTED_PARENTS", ())
    if parents:  # CSV exports flatten nested names with '_' (sku_description)
        norm = fields | {nested_name(f, parents, getattr(adapter, "FLAT_NAMES", frozenset())) for f in fields}
    return any(sig <= norm for sig in sigs)


def _is_empty_export(path: Path, kind: str) -> bool:
    """A JSON export with no usage records: an empty page, buckets without results, an Azure
    response without metrics (a quiet period). Read as nothing, with a note, not as an error."""
    return kind in ("json", "jsonl") and reading.holds_no_records(reading.sample_records(path, kind))


def _detect(path: Path) -> tuple[str | None, set[str], str]:
    kind = reading.text_kind(path)
    fields, _ = _sample_fields(path, kind, frozenset())
    hits = [name for name, a in ADAPTERS.items() if _matches(a, fields)]
    if len(hits) > 1 and "canonical" in hits:
        hits.remove("canonical")  # a provider export that happens to carry canonical names too
    return (hits[0] if len(hits) == 1 else None), fields, kind


EMPTY = "empty"  # detect_format's answer for an export that holds no usage records


def detect_format(path) -> str:
    """The export format of one file, recognised from its field names; ``EMPTY`` ("empty") for
    a JSON export with no records (an empty page: any format, read as nothing)."""
    path = Path(path)
    name, fields, kind = _detect(path)
    if name is None and _is_empty_export(path, kind):
        return EMPTY
    if name is None:
        shown = ", ".join(sorted(fields)[:15])
        raise ValidationError([Problem(str(path), f"the usage format was not recognised from its fields ({shown}); "
                                                  f"name it with --from ({', '.join(ADAPTERS)})")])
    return name


def _column_report(path: Path, adapter, fields: set[str], fmt: str) -> tuple[list[str], list[Problem]]:
    known = adapter.KNOWN
    if adapter is canonical:  # canonical names are matched ignoring case and spaces
        fields = {f for f in fields if f.strip().lower() not in known}
    parents = {k.rsplit(".", i)[0] for k in known for i in range(1, k.count(".") + 1)}
    ignored = sorted(f for f in fields if f not in known and f not in parents
                     and not any(f.startswith(o + ".") for o in adapter.OPAQUE)
                     and nested_name(f, getattr(adapter, "NESTED_PARENTS", ()),
                                     getattr(adapter, "FLAT_NAMES", frozenset())) not in known)
    problems = [Problem(str(path), f"column '{c}' looks like a count or a weight but {fmt} does not use it: "
                                   "rows would be read as one request each; remove or rename it, or use a format "
                                   "that reads it", column=c)
                for c in ignored if looks_like_count(c.rsplit(".", 1)[-1])]
    return ignored, problems


def read_usage(source, fmt: str = "auto", options: Options | None = None, engagement_aliases: dict | None = None,
               resolve_models: bool = True) -> UsageImport:
    """Read usage exports (files, folders, globs; .gz included) into the canonical tables."""
    if fmt not in FORMATS:
        raise InputError(f"unknown --from '{fmt}'; choose one of: {', '.join(FORMATS)}")
    options = options or Options()
    files = reading.expand(source)
    problems = Problems()
    result = UsageImport(empty_llm(), empty_media())
    llm_parts, media_parts = [], []
    for path in files:
        auto, fields, kind = _detect(path)
        if (auto is None or (fmt != "auto" and not _matches(ADAPTERS[fmt], fields))) and _is_empty_export(path, kind):
            result.notes.append(f"{path}: no usage records (an empty page, buckets without results, or no "
                                "metrics): nothing read from this file")
            continue
        if fmt == "auto":
            if auto is None:
                problems.add(Problem(str(path), "the usage format was not recognised from its fields ("
                                     + ", ".join(sorted(fields)[:12]) + f"); name it with --from ({', '.join(ADAPTERS)})"))
                continue
            name, result.chosen_by[str(path)] = auto, "auto"
        else:
            name, result.chosen_by[str(path)] = fmt, "--from"
            if not _matches(ADAPTERS[fmt], fields):
                seen = ", ".join(sorted(fields)[:12])
                msg = (f"this is not a {fmt} export (fields: {seen})"
                       + (f"; it looks like {auto}: use --from {auto} or --from auto" if auto else
                          "; --from auto recognises no format in it either"))
                problems.add(Problem(str(path), msg))
                continue
        adapter = ADAPTERS[name]
        result.formats[str(path)] = name
        ignored, col_problems = _column_report(path, adapter, _sample_fields(path, kind, adapter.OPAQUE)[0], name)
        result.ignored_columns[str(path)] = ignored
        for p in col_problems:
            problems.add(p)
        if col_problems:
            continue
        schema = None
        if kind in ("json", "jsonl"):
            sample = reading.sample_records(path, kind, limit=200)
            schema = reading.fit_schema(adapter.schema(sample[:5]), sample)
        if schema is None and kind in ("json", "jsonl"):
            raw = reading.RawTable(str(path), kind, __import__("pyarrow").table({}), np.zeros(0, np.int64), "record")
        else:
            try:
                raw = reading.read_table(path, kind, schema)
            except ValidationError as exc:
                for p in exc.problems:
                    problems.add(p)
                continue
        converted = adapter.convert(raw, options, problems)
        result.notes += converted.notes
        if converted.llm is not None and len(converted.llm):
            llm_parts.append(converted.llm)
        if converted.media is not None and len(converted.media):
            media_parts.append(converted.media)
    problems.raise_if_any()
    if llm_parts:
        result.llm = pd.concat(llm_parts, ignore_index=True)[list(LLM_COLUMNS)]
    if media_parts:
        result.media = pd.concat(media_parts, ignore_index=True)[list(MEDIA_COLUMNS)]
    if resolve_models:
        _resolve(result, engagement_aliases)
    return result


def _resolve(result: UsageImport, engagement_aliases: dict | None) -> None:
    """Resolve each distinct (provider, model) once, then write the names back by codes."""
    readings = []
    for table, is_media in ((result.llm, False), (result.media, True)):
        if not len(table):
            continue
        # factorize each text column once and combine the integer codes (no per-row strings)
        kc, ku = pd.factorize(table["kind"]) if is_media else (np.zeros(len(table), np.int64), np.array(["llm"]))
        pc, pu = pd.factorize(table["provider"])
        mc, mu = pd.factorize(table["model"])
        combined = (kc.astype(np.int64) * len(pu) + pc) * len(mu) + mc
        codes, uniques = pd.factorize(combined)
        counts = np.bincount(codes, minlength=len(uniques))
        prov_out, model_out = [], []
        for u, n in zip(uniques, counts):
            rest, m = divmod(int(u), len(mu))
            k, p = divmod(rest, len(pu))
            k, p, m = str(ku[k]), str(pu[p]), str(mu[m])
            if k == "video_generation":
                r = resolve_video_model(p, m)
            elif k == "image_generation":
                r = ResolvedModel(p, m, "image model kept as written (image_generation factors by model and size)")
            else:
                r = resolve_model_alias(p, m, engagement_aliases)
            prov_out.append(r.provider)
            model_out.append(r.model)
            readings.append({"table": "media" if is_media else "llm", "raw_provider": p, "raw_model": m,
                             "provider": r.provider, "model": r.model, "how": r.how, "known": r.known, "rows": int(n)})
        table["provider"] = np.asarray(prov_out, dtype=object)[codes]
        table["model"] = np.asarray(model_out, dtype=object)[codes]
    result.model_readings = pd.DataFrame(readings, columns=["table", "raw_provider", "raw_model", "provider", "model",
                                                            "how", "known", "rows"])


def media_activities(media: pd.DataFrame, prefix: str = "MED") -> pd.DataFrame:
    """The canonical media log as activities an engagement can list: ``image_generation``
    (quantity = images) by stage x provider x model x size x region x month, and
    ``video_generation`` (quantity = video seconds) by stage x provider x model x region x month.
    Strings, the way an activities CSV arrives; the notes say where each line came from."""
    cols = ["activity_id", "stage", "description", "kind", "quantity", "unit", "region", "provider", "model", "notes"]
    if media is None or not len(media):
        return pd.DataFrame(columns=cols)
    m = media.copy()
    m["month"] = pd.DatetimeIndex(m["timestamp"]).strftime("%Y-%m")
    m["size"] = m["size"].fillna("").astype(str)
    m.loc[m["kind"] != "image_generation", "size"] = ""
    keys = ["kind", "stage", "provider", "model", "size", "region", "month"]
    g = m.groupby(keys, sort=True, as_index=False, dropna=False)[["requests", "images", "video_seconds"]].sum()
    is_image = g["kind"] == "image_generation"
    quantity = np.where(is_image, g["images"], g["video_seconds"])
    return pd.DataFrame({
        "activity_id": [f"{prefix}-{i + 1:05d}" for i in range(len(g))],
        "stage": g["stage"], "kind": g["kind"],
        "description": g["model"] + np.where(is_image, " images " + g["size"], " video") + ", " + g["month"],
        "quantity": [repr(float(q)) for q in quantity],
        "unit": np.where(is_image, "image", "video_second"),
        "region": g["region"], "provider": g["provider"], "model": g["model"],
        "notes": [f"{int(r):,} request{'s' if r != 1 else ''} from a usage export"
                  + (f"; image size {sz}" if sz else "") for r, sz in zip(g["requests"], g["size"])],
    })[cols]


def write_canonical(result: UsageImport, out) -> list[Path]:
    """Write the canonical LLM log (Parquet or CSV by suffix) and, when there is image/video
    usage, the media log beside it (NAME.media.parquet), plus NAME.readings.csv (how every
    model name was read) so the mapping can be reviewed."""
    out = Path(out)
    written = []
    stem = out.with_suffix("")
    if out.suffix.lower() == ".csv":
        result.llm.to_csv(out, index=False)
    else:
        result.llm.to_parquet(out, index=False)
    written.append(out)
    if len(result.media):
        mp = stem.with_name(stem.name + ".media" + (out.suffix or ".parquet"))
        (result.media.to_csv(mp, index=False) if out.suffix.lower() == ".csv" else result.media.to_parquet(mp, index=False))
        written.append(mp)
    if result.model_readings is not None and len(result.model_readings):
        rp = stem.with_name(stem.name + ".readings.csv")
        result.model_readings.to_csv(rp, index=False)
        written.append(rp)
    return written
