"""The canonical usage tables every adapter produces, and the checks they pass through.

Canonical LLM log (one row = ``requests`` requests; token columns are the row's totals)::

    timestamp            datetime64[ns, UTC]  required  start of the request or of the bucket
    provider             str                  required  providers.csv alias (openai, anthropic, ...)
    model                str                  required  EcoLogits model name after alias resolution,
                                                        or a size class such as "70B"
    output_tokens        int64                required  total output tokens of the row
    requests             int64                default 1 requests the row stands for
    input_tokens         int64                default 0 total input tokens, cached ones included
    cached_input_tokens  int64                default 0 the part of input_tokens served from cache
    latency_s            float64              NaN       mean latency of one request (seconds)
    stage                str                  ""        pipeline stage label
    region               str                  ""        region as the export gives it (see reading notes)

Canonical media log (image and video generation, one row = a bucket or a request)::

    timestamp, provider, model, kind ("image_generation" | "video_generation"), requests,
    images (int), size (e.g. "1024x1024"), video_seconds (float), stage, region

The media log maps onto the activity table's ``image_generation`` (quantity = images, by model
and size) and ``video_generation`` (quantity = seconds) kinds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from audit.core.exceptions import Problem, ValidationError

LLM_COLUMNS = ("timestamp", "provider", "model", "requests", "input_tokens", "cached_input_tokens",
               "output_tokens", "latency_s", "stage", "region")
LLM_REQUIRED = ("timestamp", "provider", "model", "output_tokens")
MEDIA_COLUMNS = ("timestamp", "provider", "model", "kind", "requests", "images", "size", "video_seconds",
                 "stage", "region")
INT_COLUMNS = ("requests", "input_tokens", "cached_input_tokens", "output_tokens")
TEXT_COLUMNS = ("provider", "model", "stage", "region")
MAX_PROBLEMS = 50

# A column whose name says it counts or weights rows. Read silently, a bucketed export's
# request count would be lost and every row read as one request (issue 14).
COUNT_LIKE = re.compile(
    r"(^|[._\s-])(n|num|number|count|counts|cnt|qty|quantity|weight|weights|requests?|calls|invocations|"
    r"times|multiplier|freq|frequency|occurrences|repeat|repeats|samples|hits)([._\s-]|$)"
    r"|^num[A-Z_]|Count$|count$|^n_|_n$|Requests$|^requests|requests$|Invocations$|weight$|Weight$",
)


def looks_like_count(name: str) -> bool:
    """True for a column name that reads as a count or a weight (requests, n, count, num_*,
    quantity, weight, invocationCount ...)."""
    return bool(COUNT_LIKE.search(str(name).strip()))


@dataclass
class Located:
    """Where each row of a table came from: file, line (or record) number, item within it."""
    file: str
    line: np.ndarray            # int64, 1-based line/record/row as a person counts it
    item: np.ndarray | None = None  # 1-based position within a nested list (bucket result), or None
    unit: str = "line"          # "line" (JSON lines), "record" (JSON array), "row" (CSV, header = row 1)
    remap: object = None        # record ordinal -> line number, computed only when a problem is reported

    def where(self, i: int) -> tuple[int, str]:
        extra = f" (result {int(self.item[i])})" if self.item is not None and self.item[i] > 0 else ""
        line = int(self.line[i])
        return (int(self.remap(line)) if self.remap is not None else line), extra

    def take(self, idx: np.ndarray) -> Located:
        return Located(self.file, self.line[idx], None if self.item is None else self.item[idx], self.unit, self.remap)


@dataclass
class Problems:
    """Collects located problems; raises one ValidationError with all of them."""
    items: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, problem: Problem) -> None:
        self.total += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(problem)

    def rows(self, loc: Located, mask: np.ndarray, column: str, message: str, values=None) -> None:
        bad = np.flatnonzero(mask)
        self.total += max(len(bad) - 1, 0)
        for i in bad[: max(MAX_PROBLEMS - len(self.items), 1)]:
            line, extra = loc.where(i)
            got = "" if values is None else f", got {_plain(values[i])!r}"
            self.add(Problem(loc.file, f"{loc.unit} {line}{extra}: {message}{got}", column=column))
        self.total -= 0

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError(self.items, total=self.total)


def _plain(value):
    """A value as a person reads it in a message: -5.0, not np.float64(-5.0)."""
    return value.item() if isinstance(value, np.generic) else value


def numbers(df: pd.DataFrame, column: str, loc: Located, problems: Problems, *, required: bool,
            whole: bool = True, default: float = 0.0, shown: str | None = None) -> np.ndarray:
    """A numeric column as float64, non-negative; missing -> default (or a located problem)."""
    shown = shown or column
    if column not in df.columns:
        if required:
            problems.add(Problem(loc.file, f"field '{shown}' is missing: expected a number in every record",
                                 column=shown))
        return np.full(len(df), default, dtype=float)
    raw = df[column]
    if raw.dtype.kind in "if":
        val = raw.to_numpy(dtype=float, na_value=np.nan)
        not_number = np.zeros(len(val), bool)
    else:
        val = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        not_number = np.isnan(val) & raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
    missing = np.isnan(val) & ~not_number
    if not_number.any():
        problems.rows(loc, not_number, shown, "expected a number", raw.to_numpy())
    if required and missing.any():
        problems.rows(loc, missing, shown, "is empty: expected a number")
    val = np.where(np.isnan(val), default, val)
    bad = val < 0
    if whole:
        bad |= val != np.floor(val)
    if bad.any():
        problems.rows(loc, bad, shown, "expected a non-negative whole number" if whole else
                      "expected a non-negative number", raw.to_numpy())
    return val


EPOCH_MIN_S = 1e9    # 2001-09-09: a smaller number is not a Unix time of GenAI usage (refused, located)
EPOCH_MS_ABOVE = 1e11  # above this, a Unix time is in milliseconds (1e11 s is the year 5138)


def _epoch_numbers(s: pd.Series) -> pd.Series | None:
    """The values as numbers when the column holds Unix times (numbers, or text of numbers
    only, as a CSV gives them), else None."""
    if s.dtype.kind in "iuf":
        return s.astype(float)
    if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
        return None
    head = s.dropna().head(100)
    if not len(head) or pd.to_numeric(head, errors="coerce").isna().any():  # text dates: the usual case, decided cheaply
        return None
    num = pd.to_numeric(s, errors="coerce")
    given = s.notna() & (s.astype(str).str.strip() != "")
    return num if given.any() and num[given].notna().all() else None


def _parse_times(s: pd.Series, unit: str | None) -> tuple[pd.Series, pd.Series | None]:
    """(UTC times, NaT where unreadable; the numbers when read as Unix times, else None)."""
    num = pd.to_numeric(s, errors="coerce") if unit else _epoch_numbers(s)
    if num is not None:
        num = num.astype(float)
        unit = unit or ("ms" if (num.abs() > EPOCH_MS_ABOVE).any() else "s")
        scale = 1000.0 if unit == "ms" else 1.0
        num = num.where(num / scale >= EPOCH_MIN_S)
        return pd.to_datetime(num, unit=unit, utc=True, errors="coerce"), num
    if s.dtype.kind == "M":
        return (s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")), None
    return pd.to_datetime(s, utc=True, errors="coerce", format="mixed"), None


def optional_times(values) -> pd.Series:
    """UTC times of an optional column (an end time), read like ``timestamps``; NaT where empty
    or unreadable, without a problem (the column only refines a latency)."""
    return _parse_times(pd.Series(values), None)[0]


def timestamps(values, loc: Located, problems: Problems, shown: str, unit: str | None = None) -> pd.Series:
    """UTC timestamps from ISO 8601 text, dates, or Unix times; naive -> UTC.

    A column of numbers is read as Unix seconds, or milliseconds above 1e11 (``unit`` forces
    one); numbers below 1e9 (before 2001) are refused rather than read as 1970."""
    s = pd.Series(values)
    out, num = _parse_times(s, unit)
    bad = out.isna().to_numpy()
    if bad.any():
        problems.rows(loc, bad, shown, "expected a date-time (ISO 8601, e.g. 2026-03-01T12:00:00Z"
                      + (", or Unix seconds" if num is not None else "") + ")", s.to_numpy())
    return out


def text(values, n: int, default: str = "") -> pd.Series:
    """Strings, stripped, blanks for missing; a scalar is repeated n times."""
    if values is None or isinstance(values, str):  # one value for every row: a one-category column
        value = default if values is None else values.strip()
        return pd.Series(pd.Categorical.from_codes(np.zeros(n, np.int8), categories=[value]))
    s = pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if s.dtype == object:
        return s.where(s.notna(), default).astype(str).str.strip()
    return s.astype("string").fillna(default).str.strip()


def llm_frame(*, timestamp, provider, model, output_tokens, requests=None, input_tokens=None,
              cached_input_tokens=None, latency_s=None, stage=None, region=None,
              loc: Located, problems: Problems) -> pd.DataFrame:
    """Assemble and check a canonical LLM table (arrays already numeric where they should be)."""
    n = len(output_tokens)
    req = np.ones(n) if requests is None else np.asarray(requests, float)
    inp = np.zeros(n) if input_tokens is None else np.asarray(input_tokens, float)
    cac = np.zeros(n) if cached_input_tokens is None else np.asarray(cached_input_tokens, float)
    out = np.asarray(output_tokens, float)
    over = cac > inp
    if over.any():
        problems.rows(loc, over, "cached_input_tokens",
                      "cached input tokens exceed input tokens (cached tokens are part of the input)")
    zero_req = (req == 0) & ((out > 0) | (inp > 0))
    if zero_req.any():
        problems.rows(loc, zero_req, "requests", "has tokens but 0 requests: expected at least 1 request")
    df = pd.DataFrame({
        "timestamp": pd.Series(timestamp).reset_index(drop=True),
        "provider": text(provider, n).reset_index(drop=True),
        "model": text(model, n).reset_index(drop=True),
        "requests": req.astype(np.int64),
        "input_tokens": inp.astype(np.int64),
        "cached_input_tokens": cac.astype(np.int64),
        "output_tokens": out.astype(np.int64),
        "latency_s": np.full(n, np.nan) if latency_s is None else np.asarray(latency_s, float),
        "stage": text(stage, n).reset_index(drop=True),
        "region": text(region, n).reset_index(drop=True),
    })
    keep = ~((req == 0) & (out == 0) & (inp == 0))  # empty buckets: nothing happened
    return df.loc[keep].reset_index(drop=True)


def media_frame(*, timestamp, provider, model, kind, requests=None, images=None, size=None, video_seconds=None,
                stage=None, region=None) -> pd.DataFrame:
    n = len(pd.Series(model))
    df = pd.DataFrame({
        "timestamp": pd.Series(timestamp).reset_index(drop=True),
        "provider": text(provider, n).reset_index(drop=True),
        "model": text(model, n).reset_index(drop=True),
        "kind": text(kind, n).reset_index(drop=True),
        "requests": (np.ones(n) if requests is None else np.asarray(requests, float)).astype(np.int64),
        "images": (np.zeros(n) if images is None else np.asarray(images, float)).astype(np.int64),
        "size": text(size, n).reset_index(drop=True),
        "video_seconds": np.zeros(n) if video_seconds is None else np.asarray(video_seconds, float),
        "stage": text(stage, n).reset_index(drop=True),
        "region": text(region, n).reset_index(drop=True),
    })
    return df.loc[(df["images"] > 0) | (df["video_seconds"] > 0) | (df["requests"] > 0)].reset_index(drop=True)


def empty_llm() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns, UTC]" if c == "timestamp" else
                                      (np.int64 if c in INT_COLUMNS else float if c == "latency_s" else object))
                         for c in LLM_COLUMNS})


def empty_media() -> pd.DataFrame:
    return media_frame(timestamp=pd.Series([], dtype="datetime64[ns, UTC]"), provider=[], model=[], kind=[],
                       requests=[], images=[], size=[], video_seconds=[]).iloc[0:0]
