"""API usage logs: millions of LLM requests, estimated request by request, streamed.

A usage log is what a client exports from its LLM providers' dashboards or its own API
gateway (``audit.inventory.usage_import`` turns provider exports into this form)::

    timestamp, provider, model, output_tokens[, requests, input_tokens, cached_input_tokens, latency_s, stage, region]

A row stands for ``requests`` requests (default 1) and its token columns are the row's totals;
``cached_input_tokens`` is the part of ``input_tokens`` served from a prompt cache. A row of R
requests is estimated as R identical mean requests (``energy_range_kwh``, the equations of
``audit.inventory.usage_import.bucket_energy``); ``latency_s`` is the mean latency of one request.
Columns the log has beyond these are listed as ignored (``LocatedProblems.notes``); one whose
name reads as a count or a weight is an error, since reading past it would take N requests for one.

``estimate_usage(LOG)`` applies the ``llm_api`` method (``audit.inventory.estimate.method_llm_api``)
to every request with array operations. The equations are the ones in ``audit.methods.llm``
(imported, not copied); what changes is the bookkeeping:

* each distinct (provider, model) pair is resolved once (EcoLogits parameters, tps/ttft,
  provider PUE, default region), then gathered onto rows by integer codes;
* each distinct region gets its grid intensity once, by the register's grid priority
  (``audit.reference.factors.grid_intensity``); a blank region is the provider's data-centre region, as
  ``audit.inventory.estimate._default_region`` does for ``llm_api`` activities;
* low/high are the method range (EcoLogits' min/max parameters and provider PUE bounds)
  widened by the ``llm_api`` default data quality (3, k95 = 1.10) exactly as
  ``audit.inventory.estimate.estimate`` widens every line, so a request here equals a one-request
  ``llm_api`` activity there (tests/test_usage.py checks this row by row);
* logs larger than memory stream in chunks (CSV: ``pandas.read_csv(chunksize=...)``;
  Parquet: ``ParquetFile.iter_batches``); each chunk is reduced to partial sums by
  stage × provider/model × region × month × UTC hour, and the partial sums are added up
  (``add_partial``, in file order). Carbon is computed after the reduction, because the grid
  factor is constant within a group (region), so nothing is lost by summing energy first;
* a clean Parquet batch is read on its Arrow arrays, never converted to pandas
  (``process_arrow_chunks``, ``_arrow_sums``): dictionary codes map to ids once per distinct
  name, and ids, energy and group numbers are computed block by block into per-thread arrays
  reused from chunk to chunk; two batches run at once. Any batch with a problem goes through
  the pandas chunks (``process_chunk``), which locate it. The two paths apply the same
  functions to the same values and sum in the same order: their sums are identical.

Hour-aware carbon. Where a request ran in a country with a shipped hourly profile (GBR, FRA,
DEU: mean gCO2e/kWh by month × UTC hour, Wiesner et al. 2021, year-2020 ENTSO-E data), we also
report ``kgco2e_hourly`` = kWh × the month×hour intensity. It is a sensitivity figure, kept
apart from the inventory: the inventory (``kgco2e``) always uses annual location-based
factors, like every other line of the audit. The two differ both because of the time of day
and because the profile is a different dataset and year from the annual factor; the output
gives the annual figure for the same requests next to it so the two can be compared.

Row numbers in problems: CSV rows are counted as a person sees them (header = row 1, first
request = row 2); Parquet rows are counted from 1 within each file (no header). Timestamps
are ISO 8601 text or Parquet timestamps; naive times are taken as UTC; months and hours are
UTC. A blank stage is reported as "unspecified".

On Dask (``audit.orchestration.distributed``), each partition runs ``process_chunk`` and sends its partial
sums in a small "wire" frame (``partial_to_frame``); the client maps the sender's ids to its
own (``partial_from_frame``) and adds them up, so both paths share every equation and sum.
"""
from __future__ import annotations

import functools
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from collections import deque
from concurrent.futures import Future
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from audit.core.atomic import atomic_path
from audit.core.csvsafe import neutralise_frame
from audit.core.exceptions import InputError, Problem, ValidationError
from audit.core.numeric import parse_timestamps, timestamp_problem
from audit.core.safefiles import find_inputs, resolve_input, unique_log_files
from audit.core.textinput import log_file_problem
from audit.methods.energy import emissions_kg
from audit.methods.llm import (
    PREFILL_FACTOR_ID, llm_coefficient_factor_ids, llm_coefficients, llm_pue_factor_id, llm_unit_energies,
    model_parameters, size_parameters,
)
from audit.methods.uncertainty import combine_log_bounds, uncertainty_k95
from audit.reference.factors import cloud_regions, grid_intensity, load_register
from audit.reference.profiles import hourly_profiles
from audit.reference.scopes import kinds_table
from audit.inventory.usage_import.aliases import resolve_model_alias
from audit.inventory.usage_import.bucket_energy import row_kwh
from audit.inventory.usage_import.schema import looks_like_count
from audit.reference.vocabularies import (
    PARAM_COUNT, known_countries, providers, resolve_llm_model, suggest, suggest_region,
)

REQUIRED = ("timestamp", "provider", "model", "output_tokens")
OPTIONAL = ("requests", "input_tokens", "cached_input_tokens", "latency_s", "stage", "region")
COLUMNS = REQUIRED + OPTIONAL
STRING_COLUMNS = ("provider", "model", "stage", "region")
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
DEFAULT_CHUNK_ROWS = 1_000_000
MAX_PROBLEMS = 50
UNSPECIFIED_STAGE = "unspecified"
DEFAULT_REGION = "GBR"  # as `audit estimate` without an engagement: a blank-provider request runs here

#: The prefill share of a cached input token (bucket_energy.prefill_input_tokens): central and low 0
#: (a cache hit reuses the stored KV cache, so it pays no prefill compute; reading the cache is
#: neglected), high 1 (priced as fresh input, so the upper bound does not rely on the provider's cache).
CACHED_PREFILL_SHARE = {"low": 0.0, "central": 0.0, "high": 1.0}

METHOD = ("audit.methods.llm per request, default method 'production' at the 'serving' boundary: "
          "(output tokens × k_dec × N_eff + input tokens × k_pre × N_active) × (1 + host share) × idle factor × PUE "
          "(EcoLogits 0.11.3 with Resolver.c = llm_coefficients(register, 'ecologits')); a row of R requests = R "
          "identical mean requests; cached input tokens pay no prefill (central, low) or full prefill (high); low/high "
          "at the low/high parameters and the model's min/max size, widened by data quality 3 (k95 1.10) per request; "
          "kgCO2e = kWh × annual location-based grid factor of the request's region")
HOURLY_NOTE = ("kgco2e_hourly uses mean month × UTC-hour intensities (Wiesner et al. 2021, ENTSO-E 2020) for "
               "GBR/FRA/DEU requests only. It is a sensitivity figure reported apart from the inventory, which "
               "uses annual factors; compare it with kgco2e_annual_same_requests, not with the total.")


# --- vocabulary: pairs and regions, resolved once each ----------------------------------------

@dataclass
class _Pair:
    provider: str
    model: str
    act: tuple[float, float, float]  # active parameters (B): low, central (mean), high
    tot: tuple[float, float, float]  # total parameters (B)
    tps: float
    ttft: float
    pue: tuple[float, float, float]
    region: str  # default region when the log leaves it blank
    factor_ids: list[str]
    size_class: bool = False  # given by its size (70B): a fallback, data quality one step lower


def _locked(method):
    """Serialise a Resolver method: Dask workers may run several chunks in one process."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return wrapper


class Resolver:
    """Per-process cache of everything resolved by name: (provider, model) pairs, regions, stages.

    Pair and region lookups happen once per distinct value, never per row; the arrays the
    row computation gathers from are rebuilt only when a new pair or region appears. Ids
    only grow, so an id handed out stays valid; methods that add are serialised.
    """

    def __init__(self, default_region: str = DEFAULT_REGION, model_aliases: tuple = ()):
        self._lock = threading.RLock()
        # engagement.yaml's model_aliases (deployment or in-house name -> provider/model), as pairs
        self.model_aliases = dict(model_aliases)
        # (provider, model) as logged -> how a name not in EcoLogits was read (data/model_aliases.csv ...)
        self.readings: dict[tuple[str, str], str] = {}
        self.default_region = default_region.strip().upper()
        self.register = load_register()
        reg = self.register
        self.c = llm_coefficients(reg)
        self.pre = reg.bounds(PREFILL_FACTOR_ID)
        self.data_quality = int(kinds_table().loc["llm_api", "default_data_quality"])
        self.k95 = uncertainty_k95()[self.data_quality]
        self.pairs: list[_Pair] = []
        self._pair_index: dict[tuple[str, str], int] = {}
        self._pair_error: dict[tuple[str, str], tuple[str, str | None]] = {}
        self.stages: list[str] = []
        self._stage_index: dict[str, int] = {}
        self.regions: list[str] = []
        self.region_country: list[str] = []
        self.region_ci: list[float] = []
        self.region_fid: list[str] = []
        self.region_profile: list[int] = []
        self._region_index: dict[str, int] = {}
        self._region_error: dict[str, tuple[str, str | None]] = {}
        prof = _hourly_profiles()
        self.profile_countries = list(prof)
        self.profiles = np.stack([prof[c] for c in self.profile_countries]) if prof else np.zeros((0, 12, 24))
        self._arrays: dict | None = None
        if self.region(self.default_region) is None:
            raise InputError(f"default region '{default_region}': {self._region_error[self.default_region][0]}")

    @_locked
    def stage(self, label: str) -> int:
        label = label or UNSPECIFIED_STAGE
        if label not in self._stage_index:
            _check_room("stages", len(self.stages), "stage")
            self._stage_index[label] = len(self.stages)
            self.stages.append(label)
        return self._stage_index[label]

    # pairs
    @_locked
    def pair(self, provider: str, model: str) -> int | None:
        key = (provider, model)
        if key in self._pair_index:
            return self._pair_index[key]
        if key in self._pair_error:
            return None
        p = self._resolve_pair(provider, model)
        if isinstance(p, tuple):
            self._pair_error[key] = p
            return None
        if p.region not in self._region_index and self.region(p.region) is None:
            self._pair_error[key] = (f"provider '{provider}' has an unusable default region '{p.region}'", None)
            return None
        _check_room("provider/model pairs", len(self.pairs), "pair")
        self._pair_index[key] = len(self.pairs)
        self.pairs.append(p)
        self._arrays = None
        return self._pair_index[key]

    def pair_error(self, provider: str, model: str) -> tuple[str, str | None]:
        return self._pair_error[(provider, model)]

    def _resolve_pair(self, provider: str, model: str):
        prov = providers()
        if provider and provider not in prov.index:
            return (f"unknown provider '{provider}'", suggest(provider, prov.index) or f"known: {', '.join(prov.index)}")
        if not model:
            return ("model is empty", "name the model, e.g. gpt-4o-mini, or give its size such as 8B")
        ids: list[str] = []
        m = PARAM_COUNT.match(model)
        tps = ttft = np.nan
        if m:
            p = float(m.group(1))
            act = tot = size_parameters(p)
            ids.append(f"model size {p:g} B as logged")
        else:
            found, hint = resolve_llm_model(provider, model) if model.lower() not in {
                k.strip().lower() for k in self.model_aliases} else (None, None)
            if found is None:
                # Names as exports spell them: dated snapshots, Bedrock ids, slugs, old names, the
                # engagement's deployment names (audit.inventory.usage_import.aliases), recorded.
                read = resolve_model_alias(provider, model, self.model_aliases)
                if read.known and (not read.provider or read.provider in prov.index):
                    found, _ = resolve_llm_model(read.provider, read.model)
                if found is None:
                    where = f" for provider '{provider}'" if provider else ""
                    return (f"unknown model '{model}'{where}",
                            read.how.split("; ", 1)[-1] if "did you mean" in read.how else hint or read.how)
                self.readings[(provider, model)] = f"model '{model}' ({provider or 'no provider'}) read as " \
                                                   f"{read.provider}/{found.name}: {read.how}"
                provider, model = read.provider, found.name
            mp = model_parameters(found)
            act, tot, tps, ttft = mp.active, mp.total, mp.tps, mp.ttft
            ids.append(mp.factor_id)
        # The LLM method's PUE choice; a log carries no ownership column: a purchased service.
        pue_fid = llm_pue_factor_id(provider, "purchased_service", prov)
        region = (prov.loc[provider, "default_region"] if provider else "") or self.default_region
        ids.append(pue_fid)
        return _Pair(provider, model, tuple(map(float, act)), tuple(map(float, tot)), float(tps), float(ttft),
                     self.register.bounds(pue_fid), region, ids, size_class=bool(m))

    # regions
    @_locked
    def region(self, raw: str) -> int | None:
        """Index of an effective region (ISO-3 country or provider:cloud-region), or None."""
        if raw in self._region_index:
            return self._region_index[raw]
        if raw in self._region_error:
            return None
        if ":" in raw:
            key = raw.lower()
            country = cloud_regions().get(key)
            if country is None:
                self._region_error[raw] = (f"unknown cloud region '{raw}'",
                                           suggest(key, cloud_regions()) or "use provider:region, e.g. aws:eu-west-2")
                return None
        else:
            key = country = raw.upper()
            if key not in known_countries():
                self._region_error[raw] = (f"unknown region '{raw}'", suggest_region(raw, known_countries())
                                           or "use an ISO 3166 alpha-3 code such as GBR")
                return None
        if key in self._region_index:
            self._region_index[raw] = self._region_index[key]
            return self._region_index[key]
        _check_room("regions", len(self.regions), "region")
        ci, ids = grid_intensity(self.register, pd.Series([key]), pd.Series([country]))
        idx = len(self.regions)
        self.regions.append(key)
        self.region_country.append(country)
        self.region_ci.append(float(ci[0]))
        self.region_fid.append(ids[0])
        self.region_profile.append(self.profile_countries.index(country) if country in self.profile_countries else -1)
        self._region_index[key] = self._region_index[raw] = idx
        self._arrays = None
        return idx

    def region_error(self, raw: str) -> tuple[str, str | None]:
        return self._region_error[raw]

    @_locked
    def pair_regions(self) -> np.ndarray:
        """Region id of each pair's data centre (a blank region in the log), without the energy arrays."""
        return np.array([self._region_index[p.region] for p in self.pairs], np.int64)

    @_locked
    def arrays(self) -> dict:
        """Per-pair and per-region parameter arrays (rows gather from these by code)."""
        if self._arrays is None:
            P = self.pairs
            act = np.array([p.act for p in P], float).reshape(-1, 3).T
            tot = np.array([p.tot for p in P], float).reshape(-1, 3).T
            pue = np.array([p.pue for p in P], float).reshape(-1, 3).T
            tps = np.array([p.tps for p in P], float)
            c = self.c
            # Every equation of the method is linear in output tokens, latency or input tokens,
            # so each is evaluated once per pair (at 1 token / 1 second, with the very
            # functions of audit.methods.llm) and rows multiply: energy =
            #   PUE·n_GPU·e_gpu(1 token)·out + PUE·e_server(1 s)·latency + PUE·e_prefill(1 token)·in
            self._arrays = {
                "ttft": np.nan_to_num(np.array([p.ttft for p in P], float)),
                **llm_unit_energies(act, tot, tps, pue, np.asarray(self.pre, float)[:, None], c),
                "pair_region": np.array([self._region_index[p.region] for p in P], np.int64),
                "ci": np.array(self.region_ci, float),
                "profile": np.array(self.region_profile, np.int64),
            }
            # Data-quality k95 per pair: a model given by its size class is one step lower (as the
            # intake lowers an llm_api line's default), so the log and its activities widen alike.
            k95 = uncertainty_k95()
            lowered = k95[min(self.data_quality + 1, 5)]
            self._arrays["k95"] = np.array([lowered if p.size_class else self.k95 for p in P], float)
            self._arrays["uniform_k95"] = not any(p.size_class for p in P)
            spt = self._arrays["s_per_token"]
            self._arrays["same_latency"] = bool((spt[0] == spt[1]).all() and (spt[1] == spt[2]).all())
            # The production method has no latency term (kWh/s = 0): rows then skip the latency.
            self._arrays["no_latency_term"] = not np.any(self._arrays["kwh_per_second"])
        return self._arrays


def _check_room(what: str, used: int, key: str) -> None:
    if used + 1 >= _LIMIT[key]:
        raise InputError(f"a usage log may hold at most {_LIMIT[key] - 1:,} distinct {what}")


@lru_cache(maxsize=1)
def _hourly_profiles() -> dict[str, np.ndarray]:
    """Country -> 12 × 24 array of mean gCO2e/kWh (month × UTC hour)."""
    prof = hourly_profiles()
    out = {}
    for country, p in prof.groupby("country"):
        a = np.full((12, 24), np.nan)
        a[p["month"].to_numpy(int) - 1, p["hour_utc"].to_numpy(int)] = p["g_co2e_per_kwh"].to_numpy(float)
        out[str(country)] = a
    return out


@lru_cache(maxsize=8)
def resolver(default_region: str = DEFAULT_REGION, model_aliases: tuple = ()) -> Resolver:
    """The per-process Resolver for a default region and an engagement's model aliases
    (``tuple(sorted(dict.items()))``)."""
    return Resolver(default_region, model_aliases)


# --- the per-request equations, on arrays -------------------------------------------------------

BLOCK_ROWS = 65_536  # rows per block of array operations: the blocks stay in the CPU cache (about 2x faster)


def energy_range_kwh(res: Resolver, pair: np.ndarray, output_tokens: np.ndarray, input_tokens: np.ndarray,
                     latency_s: np.ndarray, requests: np.ndarray | None = None,
                     cached_input_tokens: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Method range per row (low, central, high kWh) before the data-quality widening.

    The same expression as ``audit.inventory.estimate.method_llm_api`` with quantity 1: at EcoLogits'
    minimum, mean and maximum parameters and the provider's PUE bounds. ``pair`` holds row
    codes into ``res.pairs``; ``input_tokens`` is 0 where not logged; ``latency_s`` NaN.

    With ``requests`` (R) and/or ``cached_input_tokens`` (C) a row is R identical mean requests
    (audit.inventory.usage_import.bucket_energy, equations 3-4)::

        E_row = R × E_request(O/R, (I - (1 - s) C)/R, latency_s),  s = CACHED_PREFILL_SHARE

    R = 1 and C = 0 give the one-request expression exactly.
    """
    if requests is not None or cached_input_tokens is not None:
        return _bucket_energy_range_kwh(res, pair, output_tokens, input_tokens, latency_s, requests,
                                        cached_input_tokens)
    a = res.arrays()
    ttft = a["ttft"][pair]
    # With a published tokens/s the latency does not depend on the parameter count: one
    # evaluation serves low, central and high (the usual case for API models).
    same_latency = a["same_latency"]
    lat = None
    out = []
    for k in range(3):
        if a["no_latency_term"]:
            out.append(a["kwh_per_output_token"][k][pair] * output_tokens
                       + a["kwh_per_input_token"][k][pair] * input_tokens)
            continue
        if lat is None or not same_latency:
            # Generation latency, capped at the logged latency where there is one (fmin skips NaN).
            lat = np.fmin(output_tokens * a["s_per_token"][k][pair] + ttft, latency_s)
        out.append(a["kwh_per_output_token"][k][pair] * output_tokens + a["kwh_per_second"][k][pair] * lat
                   + a["kwh_per_input_token"][k][pair] * input_tokens)
    return out[0], out[1], out[2]


def _bucket_energy_range_kwh(res: Resolver, pair, output_tokens, input_tokens, latency_s, requests,
                             cached_input_tokens):
    """``energy_range_kwh`` for rows that stand for several requests or carry cached input:
    bucket_energy.row_kwh with the Resolver's per-pair coefficient arrays gathered by row."""
    a = res.arrays()
    n = len(pair)
    r = np.ones(n) if requests is None else np.asarray(requests, float)
    c = np.zeros(n) if cached_input_tokens is None else np.asarray(cached_input_tokens, float)
    out = []
    for k, bound in enumerate(("low", "central", "high")):
        out.append(row_kwh(r, output_tokens, input_tokens, c, latency_s,
                           kwh_per_output_token=a["kwh_per_output_token"][k][pair],
                           kwh_per_second=a["kwh_per_second"][k][pair],
                           kwh_per_input_token=a["kwh_per_input_token"][k][pair],
                           s_per_token=a["s_per_token"][k][pair], ttft=a["ttft"][pair],
                           cached_prefill_share=CACHED_PREFILL_SHARE[bound]))
    return out[0], out[1], out[2]


def request_energy_kwh(res: Resolver, pair, output_tokens, input_tokens, latency_s, requests=None,
                       cached_input_tokens=None):
    """(central, low, high) kWh per row: the method range widened by the data quality
    as the audit widens every line (``audit.methods.uncertainty.combine_log_bounds``; the
    widening scales with the row, so a row of R requests widens as R requests would)."""
    n = len(pair)
    mid, lo, hi = np.empty(n), np.empty(n), np.empty(n)
    a = res.arrays()
    for s in range(0, n, BLOCK_ROWS):
        b = slice(s, s + BLOCK_ROWS)
        l, m, h = energy_range_kwh(res, pair[b], output_tokens[b], input_tokens[b], latency_s[b],
                                   None if requests is None else requests[b],
                                   None if cached_input_tokens is None else cached_input_tokens[b])
        lo[b], hi[b] = combine_log_bounds(m, l, h, res.k95 if a["uniform_k95"] else a["k95"][pair[b]])
        mid[b] = m
    return mid, lo, hi


# --- partial sums -----------------------------------------------------------------------------

# A group is stage x (provider, model) x region x month x UTC hour, packed into one int64 key
# (ids are the resolver's): stage 16 bits | pair 16 | region 12 | month since 2000-01 11 | hour 5.
_SHIFT = {"hour": 0, "month": 5, "region": 16, "pair": 28, "stage": 44}
_LIMIT = {"hour": 24, "month": 2048, "region": 4096, "pair": 65536, "stage": 65536}
SUMS = ("requests", "kwh", "kwh_low", "kwh_high", "input_tokens", "output_tokens", "latency_sum", "latency_n",
        "cached_input_tokens")
FIRST_YEAR, END_YEAR = 2000, 2100  # timestamps outside are typos (an epoch-0 default, a two-digit year)


@dataclass
class Partial:
    """Sums by group: ``keys`` (unique packed int64) and ``sums`` (len(SUMS) x len(keys))."""

    keys: np.ndarray
    sums: np.ndarray

    @staticmethod
    def empty() -> "Partial":
        return Partial(np.zeros(0, np.int64), np.zeros((len(SUMS), 0)))


def _pack(stage, pair, region, month, hour) -> np.ndarray:
    return ((np.asarray(stage, np.int64) << _SHIFT["stage"]) | (np.asarray(pair, np.int64) << _SHIFT["pair"])
            | (np.asarray(region, np.int64) << _SHIFT["region"]) | (np.asarray(month, np.int64) << _SHIFT["month"])
            | np.asarray(hour, np.int64))


def _unpack(keys: np.ndarray) -> dict[str, np.ndarray]:
    return {k: (keys >> s) & (_LIMIT[k] - 1 if k != "hour" else 31) for k, s in _SHIFT.items()}


def _group_sums(key: np.ndarray, columns: list[np.ndarray]) -> Partial:
    codes, uniq = pd.factorize(key)
    g = len(uniq)
    return Partial(np.asarray(uniq, np.int64), np.vstack([np.bincount(codes, w, g) for w in columns]))


def _chunk_sums(stage, pair, region, month, hour, columns: list, pool=None) -> Partial:
    """Sums by group for one chunk: a dense bincount over the chunk's own key space when that
    is small (the usual case: a few stages, models, regions and months), else hashing.
    ``columns[0]`` is the request count per row, or None for one request per row.
    Groups are the keys with at least one row (a row of 0 requests still makes its group)."""
    m0 = int(month.min())
    dims = (int(stage.max()) + 1, int(pair.max()) + 1, int(region.max()) + 1, int(month.max()) - m0 + 1, 24)
    size = math.prod(dims)
    if size > max(4 * len(stage), 1 << 20):
        first = np.ones(len(stage)) if columns[0] is None else columns[0]
        return _group_sums(_pack(stage, pair, region, month, hour), [first, *columns[1:]])
    idx = (((stage * dims[1] + pair) * dims[2] + region) * dims[3] + (month - m0)) * 24 + hour
    counts = np.bincount(idx, minlength=size)
    nz = np.flatnonzero(counts)
    mapper = pool.map if pool is not None else map  # bincounts are independent: same sums either way
    first = [counts[nz].astype(float)] if columns[0] is None else []
    weights = columns[1:] if columns[0] is None else columns
    sums = first + list(mapper(lambda w: np.bincount(idx, w, size)[nz], weights))
    s, p, r, m, h = np.unravel_index(nz, dims)
    return Partial(_pack(s, p, r, m + m0, h), np.vstack(sums))


def merge_partials(partials: list[Partial]) -> Partial:
    """Add partial sums from chunks (or Dask partitions) group by group."""
    parts = [p for p in partials if p is not None and len(p.keys)]
    if not parts:
        return Partial.empty()
    if len(parts) == 1:
        return parts[0]
    keys = np.concatenate([p.keys for p in parts])
    sums = np.hstack([p.sums for p in parts])
    return _group_sums(keys, list(sums))


def add_partial(total: Partial | None, part: Partial) -> Partial:
    """``total`` plus one more chunk's partial sums, keys kept sorted: a chunk's groups are found
    in the total by binary search and added in place; groups new to the total are merged in.

    Each group's sum is the total so far plus this chunk's, so adding chunks one by one in file
    order gives the sums ``merge_partials`` gives for the same chunks, bit for bit, while holding
    one partial instead of several (memory flat in the log's length)."""
    if part is None or not len(part.keys):
        return total if total is not None else Partial.empty()
    if len(part.keys) > 1 and not (part.keys[1:] > part.keys[:-1]).all():  # hashed keys come in row order
        order = np.argsort(part.keys, kind="stable")
        part = Partial(part.keys[order], part.sums[:, order])
    if total is None or not len(total.keys):
        return Partial(part.keys.copy(), part.sums.copy())
    pos = np.searchsorted(total.keys, part.keys)
    found = pos < len(total.keys)
    found[found] = total.keys[pos[found]] == part.keys[found]
    if found.all():
        total.sums[:, pos] += part.sums
        return total
    # Merge the sorted keys in one pass: a chunk's key lands at its place in the total plus the
    # number of its new keys before it (they are smaller, so they are inserted ahead of it).
    new = ~found
    where = pos + np.cumsum(new) - new
    n = len(total.keys) + int(new.sum())
    old = np.ones(n, bool)
    old[where[new]] = False
    keys = np.empty(n, np.int64)
    keys[old] = total.keys
    keys[where[new]] = part.keys[new]
    sums = np.empty((total.sums.shape[0], n))
    sums[:, old] = total.sums
    sums[:, where[new]] = part.sums[:, new]
    sums[:, where[found]] += part.sums[:, found]
    return Partial(keys, sums)


# Between processes (Dask), partial sums travel as one small frame: "sum" rows (packed key in
# the sender's ids, the sums) and "stage"/"pair"/"region" rows naming those ids, so the
# receiver maps a few ids instead of hashing a label per group.
WIRE_COLUMNS = ["record", "key", *SUMS, "a", "b"]


def partial_to_frame(p: Partial, res: "Resolver") -> pd.DataFrame:
    """Partial sums in the wire format (ids named by labels, since ids are per process)."""
    k = _unpack(p.keys)
    sums = pd.DataFrame({"record": "sum", "key": p.keys, **dict(zip(SUMS, p.sums)), "a": "", "b": ""})
    vocab = []
    for i in np.unique(k["stage"]).tolist():
        vocab.append({"record": "stage", "key": i, "a": res.stages[i], "b": ""})
    for i in np.unique(k["pair"]).tolist():
        vocab.append({"record": "pair", "key": i, "a": res.pairs[i].provider, "b": res.pairs[i].model})
    for i in np.unique(k["region"]).tolist():
        vocab.append({"record": "region", "key": i, "a": res.regions[i], "b": ""})
    out = pd.concat([sums, pd.DataFrame(vocab, columns=WIRE_COLUMNS)], ignore_index=True)
    out["key"] = out["key"].astype(np.int64)
    for c in SUMS:
        out[c] = out[c].astype(float).fillna(0.0)
    return out[WIRE_COLUMNS]


def partial_from_frame(df: pd.DataFrame, res: "Resolver") -> Partial:
    """The inverse of ``partial_to_frame``, in this process's ids."""
    sums = df[df["record"] == "sum"]
    if not len(sums):
        return Partial.empty()
    maps = {}
    for kind, lookup in (("stage", lambda r: res.stage(r.a)), ("pair", lambda r: res.pair(r.a, r.b)),
                         ("region", lambda r: res.region(r.a))):
        rows = df[df["record"] == kind]
        m = np.full(_LIMIT[kind], -1, np.int64)
        for r in rows.itertuples(index=False):
            m[int(r.key)] = lookup(r)
        maps[kind] = m
    keys = sums["key"].to_numpy(np.int64)
    k = _unpack(keys)
    return Partial(_pack(maps["stage"][k["stage"]], maps["pair"][k["pair"]], maps["region"][k["region"]],
                         k["month"], k["hour"]), sums[list(SUMS)].to_numpy(float).T.copy())


def _month_labels(months: np.ndarray) -> np.ndarray:
    """Months since 2000-01 -> 'YYYY-MM'."""
    months = np.asarray(months, np.int64)
    if not len(months):
        return np.array([], dtype=object)
    m0 = int(months.min())  # a table over the span of months, indexed (no hashing)
    labels = np.array([f"{FIRST_YEAR + m // 12:04d}-{m % 12 + 1:02d}" for m in range(m0, int(months.max()) + 1)],
                      dtype=object)
    return labels[months - m0]


def _months_since_2000(ns: np.ndarray) -> np.ndarray:
    """Calendar month of each UTC timestamp, counted from 2000-01: the day number indexes a
    small day -> month table covering the chunk's days."""
    day = ns // 86_400_000_000_000
    d0, d1 = int(day.min()), int(day.max())
    days = pd.DatetimeIndex(np.arange(d0, d1 + 1).astype("datetime64[D]"))
    table = ((days.year - FIRST_YEAR) * 12 + days.month - 1).to_numpy(np.int64)
    return table[day - d0]


# --- problems -------------------------------------------------------------------------------

class LocatedProblems:
    """Located problems, all files at once, the first MAX_PROBLEMS kept, the rest counted."""

    def __init__(self, limit: int = MAX_PROBLEMS):
        self.limit = limit
        self.items: list[Problem] = []
        self.count = 0
        self.notes: list[str] = []  # what was read but not used (ignored columns): listed, not problems
        self._lock = threading.Lock()  # the read-ahead thread reports header problems

    def add(self, problem: Problem) -> None:
        with self._lock:
            self.count += 1
            if len(self.items) < self.limit:
                self.items.append(problem)

    def rows(self, file: str, mask: np.ndarray, row_numbers: Callable[[np.ndarray], np.ndarray], column: str,
             message: Callable[[int], str], hint: Callable[[int], str | None] | str | None = None) -> None:
        """Add one problem per flagged row (positions), building messages only for those kept."""
        pos = np.flatnonzero(mask)
        if not len(pos):
            return
        with self._lock:
            room = max(self.limit - len(self.items), 0)
            rows = row_numbers(pos[:room]) if room else []
            for p, r in zip(pos[:room], rows):
                h = hint(int(p)) if callable(hint) else hint
                self.items.append(Problem(file, message(int(p)), row=int(r), column=column, hint=h))
            self.count += len(pos)

    def extend(self, other: "LocatedProblems") -> None:
        """Add another collector's problems after this one's (slices of a chunk, in order)."""
        with self._lock:
            room = max(self.limit - len(self.items), 0)
            self.items.extend(other.items[:room])
            self.count += other.count

    def note(self, text: str) -> None:
        """Record a reading worth listing (once)."""
        with self._lock:
            if text not in self.notes:
                self.notes.append(text)

    def note_ignored(self, file: str, names: list[str]) -> None:
        """Record a file's columns that are not used ("ignored columns: ...")."""
        ignored = ignored_columns(names)
        if ignored:
            with self._lock:
                self.notes.append(f"{file}: ignored columns: {', '.join(ignored)}")

    def raise_if_any(self) -> None:
        if not self.count:
            return
        items = list(self.items)  # ValidationError orders them by file and row
        if self.count > len(items):
            items.append(Problem("(usage log)", f"{self.count:,} problems in all; the first {len(items)} "
                                 f"are listed, {self.count - len(items):,} more are not"))
        raise ValidationError(items, total=self.count)


# --- reading ---------------------------------------------------------------------------------

def _normalise(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").lstrip("\ufeff")


def log_files(source) -> list[Path]:
    """The files behind LOG: a CSV or Parquet file, a directory of Parquet (or CSV) files, a
    glob, or a list of any of these (what a shell expands ``usage/*.parquet`` into). Each is a
    regular file (no FIFO, device or link loop); the same file twice is read once."""
    return log_files_and_notes(source)[0]


def log_files_and_notes(source) -> tuple[list[Path], list[str]]:
    """``log_files`` and a note per file dropped as a repeat (a link, a hard link) or per
    linked folder not entered."""
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    if not sources:
        raise ValidationError([Problem("(usage log)", "no log files given")])
    found: list[Path] = []
    notes: list[str] = []
    for item in sources:
        text = str(item)
        p = Path(text)
        if p.is_dir():
            # Linked folders are not entered (loops, a link to '/'), each file checked once.
            try:
                files, more = find_inputs(text, p, suffixes=PARQUET_SUFFIXES)
            except ValidationError:
                files, more = find_inputs(text, p, suffixes=(".csv",))
            found += files
            notes += more
        elif any(ch in text for ch in "*?["):
            parts = Path(text).as_posix().split("/")
            fixed = next(i for i, part in enumerate(parts) if any(ch in part for ch in "*?["))
            base = "/".join(parts[:fixed]) or ("/" if text.startswith("/") else ".")
            files, more = find_inputs(text if text.startswith("/") else str(Path.cwd() / text), base)
            found += files
            notes += more
        else:
            found.append(resolve_input(p, p.parent, what="usage log", allow_outside=True))
    files, dup_notes = unique_log_files(found)
    return files, notes + dup_notes


def is_parquet(path: Path) -> bool:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    if path.suffix.lower() in (".csv", ".txt", ".gz", ".tsv"):
        return False
    with path.open("rb") as f:
        return f.read(4) == b"PAR1"


def ignored_columns(names: list[str]) -> list[str]:
    """The columns of a log that are not canonical columns (listed, never dropped silently)."""
    return [str(c) for c in names if _normalise(c) not in COLUMNS and str(c).strip()]


def header_problems(file: str, names: list[str]) -> tuple[dict[str, str], list[Problem]]:
    """Raw column name -> canonical name for the columns we use; missing required columns, and
    unknown columns whose name reads as a count or a weight (read past, a row standing for N
    requests would be taken for one)."""
    mapping: dict[str, str] = {}
    for raw in names:
        n = _normalise(raw)
        if n in COLUMNS and n not in mapping.values():
            mapping[raw] = n
    found = set(mapping.values())
    unknown = [_normalise(c) for c in names if _normalise(c) not in COLUMNS]
    problems = [Problem(file, "required column is missing", column=c,
                        hint=suggest(c, unknown) or f"a usage log needs {', '.join(REQUIRED)}")
                for c in REQUIRED if c not in found]
    problems += [Problem(file, "column is not understood, and its name reads as a count or a weight", column=str(c),
                         hint="a row standing for several requests gives their number in 'requests' (token columns "
                              "are then the row's totals); rename or remove the column, or import the export with "
                              "audit import-usage --from FORMAT")
                 for c in ignored_columns(names) if looks_like_count(c)]
    return mapping, problems


def _text_columns(schema, mapping: dict[str, str]) -> list[str]:
    import pyarrow as pa
    return [raw for raw, canon in mapping.items() if canon in STRING_COLUMNS
            and (pa.types.is_string(schema.field(raw).type) or pa.types.is_large_string(schema.field(raw).type))]


def parquet_meta(path: Path, read_dictionary: list[str] | None = None):
    import pyarrow.parquet as pq
    try:
        # pre_buffer=False: with pyarrow's default (True) each row group's raw bytes stay cached
        # while the file is read, so memory grew ~24 MB per million rows; without it Arrow's
        # memory stays flat in the log's length (benchmarks/bench_usage_memory.py).
        with system_allocator():  # the reader keeps the pool that is the default when it opens
            return pq.ParquetFile(str(path), read_dictionary=read_dictionary or None, pre_buffer=False)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise ValidationError([Problem(str(path), f"could not be read as Parquet: {exc}")]) from None


def _iter_parquet(path: Path, chunk_rows: int, problems: LocatedProblems) -> Iterator[tuple[pd.DataFrame, int]]:
    """(chunk, number of the chunk's first row) from one Parquet file, one batch at a time: the
    batches of ``iter_parquet_batches`` as pandas frames."""
    for chunk, first in iter_parquet_batches(path, chunk_rows, problems):
        yield chunk.to_pandas(), first


def iter_parquet_batches(path: Path, chunk_rows: int, problems: LocatedProblems) -> Iterator[tuple[ArrowChunk, int]]:
    """(the batch as Arrow arrays by canonical column name, number of its first row), one Parquet
    batch at a time; ``_iter_parquet`` converts the same batches to pandas, so a log is cut into
    the same chunks whichever reader is used. ``process_arrow_chunk`` estimates them."""
    pf = parquet_meta(path)
    mapping, header = header_problems(str(path), pf.schema_arrow.names)
    problems.note_ignored(str(path), pf.schema_arrow.names)
    if header:
        for p in header:
            problems.add(p)
        return
    # Text columns read dictionary-encoded: they arrive as categoricals, whose codes need no
    # hashing (4x faster to read and to factorize than plain strings).
    pf = parquet_meta(path, read_dictionary=_text_columns(pf.schema_arrow, mapping))
    offset = 0
    with system_allocator():  # also for what Arrow allocates while the batches are estimated
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=list(mapping)):
            yield ArrowChunk(batch, mapping), offset + 1
            offset += batch.num_rows


@contextmanager
def system_allocator():
    """Arrow's default memory pool set to the system allocator while a Parquet reader opens (it
    reads with the pool that was the default then) and while its batches are estimated, then
    put back.

    pyarrow's default (mimalloc) hands each batch's pages back to the OS and faults them in
    again for the next: 1.4-2.3 s of system CPU per 10M rows on the benchmark machine, against
    0.35-0.6 s with the system's malloc (jemalloc 0.4 s), memory flat either way
    (benchmarks/README.md, "Usage logs: time"). ParquetFile takes no pool argument; buffers keep
    the pool that allocated them, so switching back is safe."""
    import pyarrow as pa

    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


@dataclass
class ArrowChunk:
    """One Parquet batch as read (``iter_parquet_batches``) and its raw -> canonical column names."""

    batch: object  # pyarrow.RecordBatch (pyarrow is imported only for Parquet logs)
    mapping: dict[str, str]

    def __len__(self) -> int:
        return self.batch.num_rows

    def column(self, canonical: str):
        """The Arrow array of a canonical column, or None when the log has no such column."""
        raw = next((r for r, c in self.mapping.items() if c == canonical), None)
        return None if raw is None else self.batch.column(raw)

    def to_pandas(self) -> pd.DataFrame:
        """The chunk as ``_iter_parquet`` yields it (the general path, and the one that locates problems)."""
        return self.batch.to_pandas().rename(columns=self.mapping)


def _iter_csv(path: Path, chunk_rows: int, problems: LocatedProblems) -> Iterator[tuple[pd.DataFrame, int]]:
    """(chunk, row number of the chunk's first request) from one CSV; header is row 1."""
    name = str(path)
    # 0 bytes, UTF-16/32 (with or without a BOM), Windows-1252 or binary: named, with the log's name.
    unreadable = log_file_problem(path, file=name, header_only_ok=True)
    if unreadable:
        problems.add(unreadable)
        return
    try:
        head = pd.read_csv(path, nrows=0, encoding="utf-8-sig", skipinitialspace=True)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        problems.add(Problem(name, f"could not be read as a UTF-8 CSV: {type(exc).__name__}",
                             hint="re-save as 'CSV UTF-8'"))
        return
    mapping, header = header_problems(name, list(head.columns))
    problems.note_ignored(name, list(head.columns))
    if header:
        for p in header:
            problems.add(p)
        return
    # Text columns as categoricals (measured 1.6x faster than str for a 1M-row log: one string
    # per distinct value), timestamps as text, numbers inferred per chunk (a bad cell turns its
    # chunk's column into text and is then located by the validation below). The pyarrow
    # engine cannot stream (no chunksize), and pyarrow.csv's typed streaming reader, though
    # faster still, stops at the first bad cell instead of listing every problem.
    dtype = {raw: ("category" if canon in STRING_COLUMNS else str) for raw, canon in mapping.items()
             if canon in STRING_COLUMNS + ("timestamp",)}
    offset = 0
    try:
        reader = pd.read_csv(path, chunksize=chunk_rows, usecols=list(mapping), dtype=dtype, encoding="utf-8-sig",
                             skipinitialspace=True)
        for df in reader:
            yield df.rename(columns=mapping), offset + 2
            offset += len(df)
    except UnicodeDecodeError as exc:
        problems.add(Problem(name, f"is not UTF-8 text (bad byte at offset {exc.start} of a block after row "
                             f"{offset + 1})", hint="re-save as 'CSV UTF-8'"))
    except (pd.errors.ParserError, ValueError) as exc:
        problems.add(Problem(name, f"could not be read as CSV after row {offset + 1}: {exc}"))


# --- one chunk -------------------------------------------------------------------------------

def _labels(series: pd.Series | None, n: int, normalise: Callable[[str], str]) -> tuple[np.ndarray, list[str]]:
    """Row codes and normalised labels of a text column (blank and missing -> '')."""
    if series is None:
        return np.zeros(n, np.int64), [""]
    codes, uniq = pd.factorize(series, use_na_sentinel=True)
    labels = [normalise("" if (u is None or (isinstance(u, float) and math.isnan(u))) else str(u)) for u in uniq]
    labels.append("")
    # Normalising can merge labels ("OpenAI" and "openai"): re-code on the normalised text.
    merged, final = pd.factorize(pd.Index(labels))
    merged = np.asarray(merged, np.int64)
    # Missing cells (code -1) take the last entry of ``merged``, the blank label.
    return merged[codes], [str(x) for x in final]


def _numbers(series: pd.Series | None, n: int, default: float) -> tuple[np.ndarray, np.ndarray]:
    """Float values and a mask of cells that are present but not numbers."""
    if series is None:
        return np.full(n, default), np.zeros(n, bool)
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(float, na_value=np.nan), np.zeros(n, bool)
    text = series.astype("str").str.strip().str.replace(",", "", regex=False)
    blank = series.isna().to_numpy() | (text == "").to_numpy()
    num = pd.to_numeric(text.where(~blank, None), errors="coerce").to_numpy(float, na_value=np.nan)
    return num, np.isnan(num) & ~blank


@dataclass
class ChunkOut:
    partial: Partial | None  # sums by group (None when the log has problems)
    rows: pd.DataFrame | None  # per-request frame, when asked for


def _estimate_part(df: pd.DataFrame, res: Resolver, file: str, first_row: int, problems: LocatedProblems,
                   validate_only: bool, energy: bool = True) -> dict | None:
    """Validate a slice of a chunk and estimate its requests: row arrays (codes, numbers,
    kWh low/central/high), or None when it has problems or only validation was asked for.
    Slices are independent, so a chunk's slices run on threads (numpy and pyarrow release
    the GIL)."""
    n = len(df)

    def rows_of(pos):
        return np.asarray(pos) + first_row

    col = {c: (df[c] if c in df.columns else None) for c in COLUMNS}
    # Timestamps.
    # Years 9999, 1600 or 2262 are range problems, checked before the nanosecond conversion
    # that overflowed (OutOfBoundsDatetime tracebacks).
    ts = parse_timestamps(col["timestamp"], FIRST_YEAR, END_YEAR)
    ns, bad_ts = ts.ns, ts.unparsable | ts.out_of_range
    ts_text = col["timestamp"]
    problems.rows(file, bad_ts, rows_of, "timestamp",
                  lambda i: timestamp_problem(ts_text.iloc[i], FIRST_YEAR, END_YEAR)[0],
                  f"e.g. 2025-03-14T09:30:00Z, UTC if no offset, in the years {FIRST_YEAR} to {END_YEAR - 1}")
    # Numbers.
    out_tok, out_bad = _numbers(col["output_tokens"], n, np.nan)
    in_tok, in_bad = _numbers(col["input_tokens"], n, 0.0)
    lat, lat_bad = _numbers(col["latency_s"], n, np.nan)
    for name, values, bad in (("output_tokens", out_tok, out_bad), ("input_tokens", in_tok, in_bad),
                              ("latency_s", lat, lat_bad)):
        # Fast path: every value present and in range (NaN compares False, so it counts as bad
        # here and is looked at below: blank latency is allowed, blank output tokens are not).
        with np.errstate(invalid="ignore"):
            clean = (values > 0).all() if name == "latency_s" else (values >= 0).all()
        if clean and not bad.any() and np.isfinite(values.max()):
            continue
        raw = col[name]
        problems.rows(file, bad, rows_of, name, lambda i, raw=raw: f"'{raw.iloc[i]}' is not a number")
        finite = np.isfinite(values)
        problems.rows(file, ~np.isnan(values) & ~finite, rows_of, name, lambda i: "must be a finite number")
        if name != "latency_s":
            problems.rows(file, finite & (values < 0), rows_of, name,
                          lambda i, v=values: f"{v[i]:g} is negative", "token counts must be at least 0")
        else:
            problems.rows(file, finite & (values <= 0), rows_of, name,
                          lambda i, v=values: f"{v[i]:g} is out of range", "latency must be greater than 0 s")
    if np.isnan(out_tok.sum()):
        problems.rows(file, np.isnan(out_tok) & ~out_bad, rows_of, "output_tokens", lambda i: "is empty",
                      "output tokens per request are required")
    in_tok = np.where(np.isnan(in_tok), 0.0, in_tok)  # blank input tokens: no prefill, as llm_api
    requests, cached = _bucket_columns(col, n, out_tok, in_tok, file, rows_of, problems)
    # Text: provider/model pairs, regions and stages, each resolved once per distinct value.
    prov_codes, prov_labels = _labels(col["provider"], n, lambda s: s.strip().lower())
    model_codes, model_labels = _labels(col["model"], n, str.strip)
    pair_key = prov_codes * len(model_labels) + model_codes  # dense: few labels per chunk
    pair_of_key = np.full(len(prov_labels) * len(model_labels), -1, np.int64)
    for key in np.flatnonzero(np.bincount(pair_key, minlength=len(pair_of_key))).tolist():
        provider, model = prov_labels[key // len(model_labels)], model_labels[key % len(model_labels)]
        idx = res.pair(provider, model)
        if idx is None:
            msg, hint = res.pair_error(provider, model)
            column = "provider" if msg.startswith("unknown provider") else "model"
            problems.rows(file, pair_key == key, rows_of, column, lambda i, m=msg: m, hint)
        else:
            pair_of_key[key] = idx
            if (provider, model) in res.readings:  # a name read as another: listed for this log
                problems.note(res.readings[(provider, model)])
    reg_codes, reg_labels = _labels(col["region"], n, str.strip)
    reg_of_label = np.empty(len(reg_labels), np.int64)
    for j, raw in enumerate(reg_labels):
        if raw == "":
            reg_of_label[j] = -2  # the provider's data-centre region
            continue
        idx = res.region(raw)
        reg_of_label[j] = -1 if idx is None else idx
        if idx is None:
            msg, hint = res.region_error(raw)
            problems.rows(file, reg_codes == j, rows_of, "region", lambda i, m=msg: m, hint)
    if problems.count or validate_only:
        return None

    stage_codes, stage_labels = _labels(col["stage"], n, str.strip)
    stage = np.asarray([res.stage(s) for s in stage_labels], np.int64)[stage_codes]
    pair = pair_of_key[pair_key]
    region = reg_of_label[reg_codes]
    region = np.where(region == -2, res.pair_regions()[pair], region)
    # energy=False (validation): the rows are checked and summed, never estimated.
    kwh = dict(zip(("kwh", "kwh_low", "kwh_high"), request_energy_kwh(res, pair, out_tok, in_tok, lat, requests, cached))) \
        if energy else {}
    return {"ns": ns, "stage": stage, "pair": pair, "region": region, "input_tokens": in_tok,
            "output_tokens": out_tok, "latency_s": lat, **kwh,
            "requests": np.ones(n) if requests is None else requests,
            "cached_input_tokens": np.zeros(n) if cached is None else cached,
            "bucketed": np.full(n, requests is not None or cached is not None)}


def _bucket_columns(col: dict, n: int, out_tok: np.ndarray, in_tok: np.ndarray, file: str, rows_of,
                    problems: "LocatedProblems") -> tuple[np.ndarray | None, np.ndarray | None]:
    """``requests`` and ``cached_input_tokens`` of a slice, validated (None where the log has
    no such column: one request per row, no cached input)."""
    requests = cached = None
    if col["requests"] is not None:
        requests, bad = _numbers(col["requests"], n, 1.0)
        raw = col["requests"]
        problems.rows(file, bad, rows_of, "requests", lambda i: f"'{raw.iloc[i]}' is not a number")
        with np.errstate(invalid="ignore"):
            problems.rows(file, np.isnan(requests) & ~bad, rows_of, "requests", lambda i: "is empty",
                          "a row stands for this many requests; write 1 for a single request")
            problems.rows(file, (requests < 0) | (np.isfinite(requests) & (requests != np.floor(requests)))
                          | np.isinf(requests), rows_of, "requests",
                          lambda i: f"{requests[i]:g} is not a whole number of requests", "expected 0, 1, 2, ...")
            problems.rows(file, (requests == 0) & ((out_tok > 0) | (in_tok > 0)), rows_of, "requests",
                          lambda i: "is 0 but the row has tokens", "a row with tokens stands for at least 1 request")
        requests = np.where(np.isnan(requests), 1.0, requests)
    if col["cached_input_tokens"] is not None:
        cached, bad = _numbers(col["cached_input_tokens"], n, 0.0)
        raw = col["cached_input_tokens"]
        problems.rows(file, bad, rows_of, "cached_input_tokens", lambda i: f"'{raw.iloc[i]}' is not a number")
        cached = np.where(np.isnan(cached) & ~bad, 0.0, cached)
        with np.errstate(invalid="ignore"):
            problems.rows(file, (cached < 0) | np.isinf(cached), rows_of, "cached_input_tokens",
                          lambda i: f"{cached[i]:g} is out of range", "token counts must be at least 0")
            problems.rows(file, cached > in_tok, rows_of, "cached_input_tokens",
                          lambda i: f"{cached[i]:g} is more than input_tokens ({in_tok[i]:g})",
                          "cached_input_tokens is the part of input_tokens served from a cache")
    return requests, cached


#: A chunk is estimated in slices of at least MIN_SLICE_ROWS rows, at most MAX_SLICES of them,
#: on as many threads as there are CPUs (up to MAX_SLICES). The slicing depends on the chunk's
#: length only, never on the CPU count, so the problems listed are the same on every machine.
MAX_SLICES = 8
MIN_SLICE_ROWS = 125_000


def _slices(n: int) -> list[slice]:
    parts = max(1, min(MAX_SLICES, n // MIN_SLICE_ROWS))
    step = -(-n // parts)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def process_chunk(df: pd.DataFrame, res: Resolver, file: str, first_row: int, problems: LocatedProblems,
                  want_rows: bool = False, pool=None, energy: bool = True) -> ChunkOut:
    """Validate one chunk (columns already canonical) and estimate it.

    ``first_row`` is the row number of the chunk's first request as problems report it.
    Once any problem has been seen (in this chunk or an earlier one) chunks are only
    validated, so a bad log is read to the end for one complete list of problems.
    ``pool`` (a ``concurrent.futures`` executor) estimates slices of the chunk on threads;
    per-request figures are element-wise and the sums are taken over the whole chunk, so the
    result is the same bit for bit with or without it.

    ``energy=False`` validates and sums requests, tokens and latency by group without estimating
    anything (the intake's validation): the partial's kWh sums are NaN, never 0.
    """
    if want_rows and not energy:
        raise ValueError("per-request rows need the energy (energy=True)")
    n = len(df)
    if n == 0:
        return ChunkOut(Partial.empty(), empty_rows() if want_rows else None)
    validate_only = bool(problems.count)
    parts = _slices(n)
    if len(parts) == 1:
        pieces = [_estimate_part(df, res, file, first_row, problems, validate_only, energy)]
    else:
        # Each slice collects its own problems; they are merged in slice order, so the
        # problems listed do not depend on which thread finished first.
        own = [LocatedProblems(problems.limit) for _ in parts]
        mapper = pool.map if pool is not None else map
        pieces = list(mapper(lambda k: _estimate_part(df.iloc[parts[k]], res, file, first_row + parts[k].start,
                                                      own[k], validate_only, energy), range(len(parts))))
        for p in own:
            problems.extend(p)
            for text in p.notes:
                problems.note(text)
    if problems.count:
        return ChunkOut(None, None)
    r = pieces[0] if len(pieces) == 1 else {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    return _chunk_out(r, res, file, first_row, want_rows, pool, energy)


def process_arrow_chunk(chunk: ArrowChunk, res: Resolver, file: str, first_row: int, problems: LocatedProblems,
                        pool=None) -> ChunkOut:
    """``process_chunk`` for a Parquet batch read by ``iter_parquet_batches``, on its Arrow arrays.

    A clean batch (every value present where required and in range, every provider/model and
    region known, typed columns: timestamp, integer or float numbers, text) is read straight
    from Arrow's buffers: dictionary codes are mapped to the resolver's ids once per distinct
    value, numbers are viewed, not parsed (``_arrow_sums``). Any other batch, and every batch
    once a problem has been seen, goes through ``process_chunk`` on its pandas conversion, which
    locates each problem by row and column. Both apply the same functions to the same values
    and sum each group's rows in row order, so the sums are the same bit for bit either way
    (tests/test_usage.py checks it)."""
    if len(chunk) == 0:
        return ChunkOut(Partial.empty(), None)
    partial = None if problems.count else _arrow_sums(chunk, res, problems)
    if partial is None:
        return process_chunk(chunk.to_pandas(), res, file, first_row, problems, pool=pool)
    return ChunkOut(partial, None)


def _arrow_partial(chunk: ArrowChunk, res: Resolver, file: str, first_row: int) -> tuple[Partial | None, list[str]]:
    """The partial sums of a clean batch (None if it needs the general path) and the notes it
    made (names read as others), collected apart so that a worker thread adds nothing shared."""
    own = LocatedProblems()
    return (_arrow_sums(chunk, res, own) if len(chunk) else None), own.notes


def process_arrow_chunks(chunks: Iterable[tuple[ArrowChunk, int]], res: Resolver, file: str,
                         problems: LocatedProblems, pool, in_flight: int = 2) -> Iterator[tuple[ChunkOut, int]]:
    """``process_arrow_chunk`` over a file's batches, ``in_flight`` of them at a time on ``pool``
    (numpy's array loops, bincount included, and Arrow's reads release the GIL, so two batches
    use two cores): (output, rows) per batch, in file order.

    Only clean batches run on the pool, and they add nothing to ``problems``; a batch that needs
    the general path, and every batch after a problem, is processed here, in order, by
    ``process_chunk``. So the problems and notes listed, and the sums (added up by the caller
    in file order), are the same as one batch at a time, whatever thread finishes first."""
    pending: deque = deque()

    def finish(future, chunk: ArrowChunk, first: int) -> tuple[ChunkOut, int]:
        partial, notes = future.result()
        for text in notes:
            problems.note(text)
        if len(chunk) == 0:
            return ChunkOut(Partial.empty(), None), 0
        if partial is None:  # the general path locates what is wrong (or finds nothing: a type we do not view)
            return process_chunk(chunk.to_pandas(), res, file, first, problems, pool=pool), len(chunk)
        # A clean batch has no problems to list; after an earlier batch's problems its sums are not used.
        return ChunkOut(None if problems.count else partial, None), len(chunk)

    try:
        for chunk, first in chunks:
            if in_flight <= 1 or pool is None:
                # One at a time: on this thread (a hand-off to a worker and back costs two waits
                # for a CPU per batch, seconds in all on a loaded machine).
                done: Future = Future()
                done.set_result(_arrow_partial(chunk, res, file, first))
                yield finish(done, chunk, first)
                continue
            pending.append((pool.submit(_arrow_partial, chunk, res, file, first), chunk, first))
            while len(pending) >= in_flight:
                yield finish(*pending.popleft())
        while pending:
            yield finish(*pending.popleft())
    finally:
        release_buffers()


def release_buffers() -> None:
    """Free this thread's per-row arrays (``_buffer``) once a log is estimated: a long-lived
    thread (the caller's, when batches run on it) would otherwise keep ~80 MB per 1M-row chunk."""
    _BUFFERS.__dict__.pop("arrays", None)


# Days from 1970-01-01 to the first and the end year of plausible request times.
_TS_BOUNDS_DAYS = (np.datetime64(f"{FIRST_YEAR:04d}-01-01", "D").astype(np.int64),
                   np.datetime64(f"{END_YEAR:04d}-01-01", "D").astype(np.int64))
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _arrow_timestamps(arr) -> tuple[np.ndarray, int] | None:
    """(the times as integers in the column's unit, nanoseconds per unit) of an Arrow timestamp
    column with no nulls and every time in [FIRST_YEAR, END_YEAR), else None; times x ns per
    unit are what ``parse_timestamps`` gives such a column. Arrow stores an aware time as UTC
    and a naive one as written, which the toolkit reads as UTC."""
    import pyarrow as pa  # noqa: PLC0415 - pyarrow only for Parquet logs

    if not pa.types.is_timestamp(arr.type) or arr.null_count or arr.type.unit not in _NS_PER_UNIT:
        return None
    per_unit = _NS_PER_UNIT[arr.type.unit]
    raw = arr.to_numpy(zero_copy_only=False).view(np.int64)
    lo, hi = (d * 86_400_000_000_000 // per_unit for d in _TS_BOUNDS_DAYS)
    if not len(raw) or raw.min() < lo or raw.max() >= hi:
        return None
    return raw, per_unit


def _arrow_numbers(arr) -> np.ndarray | None:
    """The values of an integer or float Arrow column, viewed where Arrow allows (no nulls),
    else as floats with NaN where null; converted to float block by block as ``_numbers``
    converts the pandas column. None for any other type (text, booleans, decimals)."""
    import pyarrow as pa  # noqa: PLC0415 - pyarrow only for Parquet logs

    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        return None
    if arr.null_count:
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=float)
    return arr.to_numpy(zero_copy_only=False)


def _arrow_labels(arr, n: int, normalise: Callable[[str], str]) -> tuple[np.ndarray, list[str]] | None:
    """Row codes into a list of normalised labels (null -> the last label, ''), from a
    dictionary-encoded text column's indices: no text is hashed per row. Plain text columns are
    dictionary-encoded by Arrow first. None for a column that is not text."""
    import pyarrow as pa  # noqa: PLC0415 - pyarrow only for Parquet logs
    import pyarrow.compute as pc  # noqa: PLC0415 - pyarrow only for Parquet logs

    if arr is None:
        return np.zeros(n, np.int64), [""]
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.dictionary_encode(arr)
    if not pa.types.is_dictionary(arr.type) or not (pa.types.is_string(arr.type.value_type)
                                                    or pa.types.is_large_string(arr.type.value_type)):
        return None
    words = arr.dictionary
    if words.null_count:
        return None
    labels = [normalise(w) for w in words.to_pylist()] + [""]
    idx = arr.indices
    if idx.null_count:
        idx = pc.fill_null(idx, len(words))
    return idx.to_numpy(zero_copy_only=False), labels


def _used(codes: np.ndarray, size: int) -> list[int]:
    """The codes that occur (dictionaries may hold values no row of this batch uses)."""
    return np.flatnonzero(np.bincount(codes, minlength=size)).tolist()


@dataclass
class _ArrowColumns:
    """A clean batch's columns as ``_arrow_sums`` reads them: numbers viewed from Arrow (NaN
    where null), text as dictionary codes with the resolver id of each code."""

    ts: np.ndarray  # int64 in the column's unit
    per_unit: int  # nanoseconds per unit
    out_tok: np.ndarray
    in_tok: np.ndarray | None
    lat: np.ndarray | None
    requests: np.ndarray | None
    cached: np.ndarray | None
    prov_codes: np.ndarray
    model_codes: np.ndarray
    n_models: int  # labels in the model dictionary (+1 for null): the pair key is provider code x n_models + model code
    pair_of_key: np.ndarray
    reg_codes: np.ndarray
    reg_of_label: np.ndarray  # -2: the pair's data-centre region
    stage_codes: np.ndarray
    stage_of_label: np.ndarray


def _arrow_columns(chunk: ArrowChunk, res: Resolver, problems: LocatedProblems) -> _ArrowColumns | None:
    """A batch's columns, validated as ``_estimate_part`` validates them, or None when the batch
    needs the general path (a type not read here, a value missing or out of range, a name the
    resolver does not know): that path then locates the problem. Only names are resolved here
    (``problems`` receives the notes of names read as others); no per-row array is made."""
    n = len(chunk)
    arr = chunk.column("timestamp")
    ts = _arrow_timestamps(arr)
    if ts is None:
        return None
    nums = {}
    for name in ("output_tokens", "input_tokens", "latency_s", "requests", "cached_input_tokens"):
        arr = chunk.column(name)
        nums[name] = None if arr is None else _arrow_numbers(arr)
        if arr is not None and nums[name] is None:
            return None
    out_tok, in_tok, lat = nums["output_tokens"], nums["input_tokens"], nums["latency_s"]
    requests, cached = nums["requests"], nums["cached_input_tokens"]
    with np.errstate(invalid="ignore"):
        # min/max are NaN when a value is (fmin/fmax skip NaN): blank output tokens and request
        # counts are problems; blank input tokens, cached tokens and latency are not.
        if not (out_tok.min() >= 0 and out_tok.max() < np.inf):
            return None
        if in_tok is not None and (np.fmin.reduce(in_tok) < 0 or np.fmax.reduce(in_tok) == np.inf):
            return None
        if lat is not None and (np.fmin.reduce(lat) <= 0 or np.fmax.reduce(lat) == np.inf):
            return None
        if requests is not None:
            if not (requests.min() >= 0 and requests.max() < np.inf and (requests == np.floor(requests)).all()):
                return None
            zero = requests == 0
            if zero.any():  # a row of 0 requests may have no tokens
                tokens = out_tok[zero] > 0
                if in_tok is not None:
                    tokens |= np.nan_to_num(in_tok[zero]) > 0
                if tokens.any():
                    return None
        if cached is not None:
            if np.fmin.reduce(cached) < 0 or np.fmax.reduce(cached) == np.inf:
                return None
            if (np.nan_to_num(cached) > (np.nan_to_num(in_tok) if in_tok is not None else 0.0)).any():
                return None
    text = {}
    for name, normalise in (("provider", lambda s: s.strip().lower()), ("model", str.strip),
                            ("region", str.strip), ("stage", str.strip)):
        text[name] = _arrow_labels(chunk.column(name), n, normalise)
        if text[name] is None:
            return None
    (prov_codes, prov_labels), (model_codes, model_labels) = text["provider"], text["model"]
    size = len(prov_labels) * len(model_labels)
    if size > max(4 * n, 1 << 20):
        return None  # many distinct names: the general path's hashing suits them better
    pair_key = prov_codes.astype(np.int64) * len(model_labels) + model_codes
    pair_of_key = np.full(size, -1, np.int64)
    for key in _used(pair_key, size):
        provider, model = prov_labels[key // len(model_labels)], model_labels[key % len(model_labels)]
        idx = res.pair(provider, model)
        if idx is None:
            return None
        pair_of_key[key] = idx
        if (provider, model) in res.readings:  # a name read as another: listed for this log
            problems.note(res.readings[(provider, model)])
    reg_codes, reg_labels = text["region"]
    reg_of_label = np.full(len(reg_labels), -1, np.int64)
    for j in _used(reg_codes, len(reg_labels)):
        if reg_labels[j] == "":
            reg_of_label[j] = -2  # the provider's data-centre region
            continue
        idx = res.region(reg_labels[j])
        if idx is None:
            return None
        reg_of_label[j] = idx
    stage_codes, stage_labels = text["stage"]
    stage_of_label = np.zeros(len(stage_labels), np.int64)
    for j in _used(stage_codes, len(stage_labels)):
        stage_of_label[j] = res.stage(stage_labels[j])
    return _ArrowColumns(ts[0], ts[1], out_tok, in_tok, lat, requests, cached, prov_codes, model_codes,
                         len(model_labels), pair_of_key, reg_codes, reg_of_label, stage_codes, stage_of_label)


_BUFFERS = threading.local()  # per worker thread: the chunk-long arrays the group sums are taken over


def _buffer(name: str, n: int, dtype) -> np.ndarray:
    """A reusable array of ``n`` values for this thread (filled before it is read): a chunk writes
    its per-row figures into the same memory as the chunk before, instead of new pages each time."""
    store = _BUFFERS.__dict__.setdefault("arrays", {})
    a = store.get(name)
    if a is None or len(a) < n or a.dtype != dtype:
        a = store[name] = np.empty(n, dtype)
    return a[:n]


def _hour_table(ns_first: int, ns_last: int) -> tuple[int, int, np.ndarray]:
    """(first UTC hour since 1970, first month since 2000-01, table) where table[h - first hour]
    = (month - first month) x 24 + hour of day, for every hour from the first to the last time:
    month and hour of a request from one integer division and one look-up."""
    h0, h1 = ns_first // 3_600_000_000_000, ns_last // 3_600_000_000_000
    hours = np.arange(h0, h1 + 1, dtype=np.int64)
    months = _months_since_2000(hours * 3_600_000_000_000)
    m0 = int(months[0])
    return int(h0), m0, (months - m0) * 24 + hours % 24


def _blank_as_zero(values: np.ndarray) -> np.ndarray:
    """Token counts as floats, blank (NaN) as 0, as ``_estimate_part`` reads input and cached
    tokens; an integer column has no blanks to replace."""
    if values.dtype.kind in "iu":
        return values.astype(float)
    values = values.astype(float, copy=False)
    return np.where(np.isnan(values), 0.0, values)


def _arrow_sums(chunk: ArrowChunk, res: Resolver, problems: LocatedProblems) -> Partial | None:
    """Partial sums of a clean Parquet batch, or None when it needs the general path.

    Each block of BLOCK_ROWS rows gets its ids, per-request energy (``request_energy_kwh``,
    the function the general path uses) and group number, written into chunk-long arrays that
    this thread reuses; the groups are then summed over the whole chunk with bincount, as
    ``_chunk_sums`` does. The per-row values and the order of the rows in each sum are those
    of the general path, so the sums are identical to the last bit."""
    c = _arrow_columns(chunk, res, problems)
    if c is None:
        return None
    n = len(chunk)
    a = res.arrays()
    bucketed = c.requests is not None or c.cached is not None
    # Dimensions of the chunk's dense group space: ids in use, and the months the chunk spans.
    used_pairs = c.pair_of_key[c.pair_of_key >= 0]
    used_regions = c.reg_of_label[c.reg_of_label >= 0]
    blank_region = bool((c.reg_of_label == -2).any())
    d_stage = int(c.stage_of_label.max()) + 1
    d_pair = int(used_pairs.max()) + 1
    d_region = max(int(used_regions.max()) + 1 if len(used_regions) else 0,
                   int(a["pair_region"][used_pairs].max()) + 1 if blank_region else 0)
    h0, m0, hour_table = _hour_table(int(c.ts.min()) * c.per_unit, int(c.ts.max()) * c.per_unit)
    d_month_hour = (int(hour_table[-1]) // 24 + 1) * 24
    size = d_stage * d_pair * d_region * d_month_hour
    dense = size <= max(4 * n, 1 << 20)  # else packed keys and hashing, as _chunk_sums does
    names = ["requests", "kwh", "kwh_low", "kwh_high", "input_tokens", "output_tokens", "latency_sum", "latency_n"]
    names += ["cached_input_tokens"] if bucketed else []
    w = {k: _buffer(k, n, np.float64) for k in names}
    key = _buffer("key", n, np.int64)
    for s in range(0, n, BLOCK_ROWS):
        b = slice(s, min(s + BLOCK_ROWS, n))
        out_tok = c.out_tok[b].astype(float, copy=False)
        in_tok = np.zeros(b.stop - s) if c.in_tok is None else _blank_as_zero(c.in_tok[b])
        lat = np.full(b.stop - s, np.nan) if c.lat is None else c.lat[b].astype(float, copy=False)
        requests = None if c.requests is None else c.requests[b].astype(float, copy=False)
        cached = None if c.cached is None else _blank_as_zero(c.cached[b])
        pair = c.pair_of_key[c.prov_codes[b].astype(np.int64) * c.n_models + c.model_codes[b]]
        region = c.reg_of_label[c.reg_codes[b]]
        if blank_region:
            region = np.where(region == -2, a["pair_region"][pair], region)
        stage = c.stage_of_label[c.stage_codes[b]]
        kwh, kwh_lo, kwh_hi = request_energy_kwh(res, pair, out_tok, in_tok, lat, requests, cached)
        month_hour = hour_table[c.ts[b] * c.per_unit // 3_600_000_000_000 - h0]
        if dense:
            key[b] = ((stage * d_pair + pair) * d_region + region) * d_month_hour + month_hour
        else:
            key[b] = _pack(stage, pair, region, month_hour // 24 + m0, month_hour % 24)
        has_lat = ~np.isnan(lat)
        w["kwh"][b], w["kwh_low"][b], w["kwh_high"][b] = kwh, kwh_lo, kwh_hi
        w["input_tokens"][b], w["output_tokens"][b] = in_tok, out_tok
        if bucketed:  # latency_s is a per-request mean: its sums weigh each row by its requests
            r = np.ones(b.stop - s) if requests is None else requests
            w["requests"][b] = r
            w["latency_sum"][b] = np.where(has_lat, lat * r, 0.0)
            w["latency_n"][b] = np.where(has_lat, r, 0.0)
            w["cached_input_tokens"][b] = np.zeros(b.stop - s) if cached is None else cached
        else:
            w["latency_sum"][b] = np.where(has_lat, lat, 0.0)
            w["latency_n"][b] = has_lat
    if not dense:
        if not bucketed:
            w["requests"][:] = 1.0
        partial = _group_sums(key, [w[k] for k in names])
        if not bucketed:  # no cached input in this chunk: its sum is 0 in every group
            partial = Partial(partial.keys, np.vstack([partial.sums, np.zeros((1, len(partial.keys)))]))
        return partial
    counts = np.bincount(key, minlength=size)
    nz = np.flatnonzero(counts)
    sums = np.zeros((len(SUMS), len(nz)))  # rows in SUMS order; cached input stays 0 unless bucketed
    for i, k in enumerate(names):
        sums[i] = counts[nz] if k == "requests" and not bucketed else np.bincount(key, w[k], size)[nz]
    stage, pair, region, month_hour = np.unravel_index(nz, (d_stage, d_pair, d_region, d_month_hour))
    return Partial(_pack(stage, pair, region, month_hour // 24 + m0, month_hour % 24), sums)


def _chunk_out(r: dict, res: Resolver, file: str, first_row: int, want_rows: bool, pool,
               energy: bool = True) -> ChunkOut:
    """A validated chunk's row arrays (``_estimate_part``'s dict) reduced to partial sums by
    group, and its per-request frame when asked for; without ``energy`` the kWh sums are NaN."""
    n = len(r["pair"])
    ns, stage, pair, region = r["ns"], r["stage"], r["pair"], r["region"]
    in_tok, out_tok, lat = r["input_tokens"], r["output_tokens"], r["latency_s"]
    bucketed = bool(np.any(r["bucketed"]))
    # One request per row and no cached input when the reader left them out (None).
    requests, cached = r["requests"], r["cached_input_tokens"]
    if requests is None and (bucketed or want_rows):
        requests = np.ones(n)
    if cached is None and (bucketed or want_rows):
        cached = np.zeros(n)
    energy_sums = [r["kwh"], r["kwh_low"], r["kwh_high"]] if energy else []
    month = _months_since_2000(ns)
    hour = (ns // 3_600_000_000_000) % 24
    has_lat = ~np.isnan(lat)
    if bucketed:  # latency_s is a per-request mean: its sums weigh each row by its requests
        sums = [requests, *energy_sums, in_tok, out_tok, np.where(has_lat, lat * requests, 0.0),
                np.where(has_lat, requests, 0.0), cached]
    else:
        sums = [None, *energy_sums, in_tok, out_tok, np.where(has_lat, lat, 0.0), has_lat.astype(float)]
    partial = _chunk_sums(stage, pair, region, month, hour, sums, pool=pool)
    if not energy:  # kWh, low, high: not computed (NaN, so a sum of them can never pass for 0 kWh)
        partial = Partial(partial.keys, np.vstack([partial.sums[:1], np.full((3, len(partial.keys)), np.nan),
                                                   partial.sums[1:]]))
    if not bucketed:  # no cached input in this chunk: its sum is 0 in every group
        partial = Partial(partial.keys, np.vstack([partial.sums, np.zeros((1, len(partial.keys)))]))
    rows = None
    if want_rows:
        a = res.arrays()
        kwh, kwh_lo, kwh_hi = energy_sums
        ci = a["ci"][region]
        prof = a["profile"][region]
        ih = np.full(n, np.nan)
        covered = prof >= 0
        if covered.any():
            ih[covered] = res.profiles[prof[covered], month[covered] % 12, hour[covered]]
        rows = pd.DataFrame({
            "file": file, "row": np.arange(first_row, first_row + n),
            "timestamp": pd.DatetimeIndex(ns.astype("datetime64[ns]"), tz="UTC"),
            "stage": np.asarray(res.stages, dtype=object)[stage],
            "provider": np.asarray([p.provider for p in res.pairs], dtype=object)[pair],
            "model": np.asarray([p.model for p in res.pairs], dtype=object)[pair],
            "region": np.asarray(res.regions, dtype=object)[region],
            "country": np.asarray(res.region_country, dtype=object)[region],
            "requests": requests.astype(np.int64), "input_tokens": in_tok, "cached_input_tokens": cached,
            "output_tokens": out_tok, "latency_s": lat,
            "kwh": kwh, "kwh_low": kwh_lo, "kwh_high": kwh_hi, "intensity_g_per_kwh": ci,
            "kgco2e": emissions_kg(kwh, ci), "kgco2e_low": emissions_kg(kwh_lo, ci),
            "kgco2e_high": emissions_kg(kwh_hi, ci),
            "intensity_hourly_g_per_kwh": ih, "kgco2e_hourly": emissions_kg(kwh, ih),
        })
    return ChunkOut(partial, rows)


ROW_COLUMNS = ["file", "row", "timestamp", "stage", "provider", "model", "region", "country", "requests",
               "input_tokens", "cached_input_tokens", "output_tokens", "latency_s", "kwh", "kwh_low", "kwh_high", "intensity_g_per_kwh", "kgco2e",
               "kgco2e_low", "kgco2e_high", "intensity_hourly_g_per_kwh", "kgco2e_hourly"]


def empty_rows() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in ROW_COLUMNS})


# --- the result -------------------------------------------------------------------------------

@dataclass
class UsageResult:
    """Totals and groups of a usage log; per-request figures on demand (``per_request``)."""

    groups: pd.DataFrame  # one row per stage × provider × model × region × month × UTC hour
    sources: list[str]
    default_region: str = DEFAULT_REGION
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    seconds: float = 0.0
    factor_ids: list[str] = field(default_factory=list)
    frame: pd.DataFrame | None = field(default=None, repr=False)  # the log, when given in memory
    # SHA-256 of each source file (by its entry in ``sources``), for an engagement's logs
    # (``engagement_usage``): the intake fingerprints them without reading them again.
    sha256: dict[str, str] = field(default_factory=dict, repr=False)
    # What a consultant should read besides the figures: columns ignored, formats read, names read as others.
    notes: list[str] = field(default_factory=list)
    # Image/video usage read from provider exports (audit.inventory.usage_import's media log), for
    # an engagement to list as image_generation / video_generation activities; None when there is none.
    media: pd.DataFrame | None = field(default=None, repr=False)

    # --- aggregates ---
    def _sum(self, keys: list[str]) -> pd.DataFrame:
        cols = ["requests", "kwh", "kwh_low", "kwh_high", "kgco2e", "kgco2e_low", "kgco2e_high"]
        return self.groups.groupby(keys, sort=True, as_index=False)[cols].sum()

    @property
    def totals(self) -> dict:
        g = self.groups
        return {"requests": int(g["requests"].sum()), "kwh": float(g["kwh"].sum()),
                "kgco2e": float(g["kgco2e"].sum()), "kgco2e_low": float(g["kgco2e_low"].sum()),
                "kgco2e_high": float(g["kgco2e_high"].sum()), "kwh_low": float(g["kwh_low"].sum()),
                "kwh_high": float(g["kwh_high"].sum())}

    @property
    def hourly(self) -> dict:
        """The hour-aware figure (GBR/FRA/DEU requests only), beside the annual figure for the same requests."""
        g = self.groups[self.groups["kgco2e_hourly"].notna()]
        return {"kgco2e": float(g["kgco2e_hourly"].sum()) if len(g) else None,
                "kgco2e_annual_same_requests": float(g["kgco2e"].sum()),
                "requests": int(g["requests"].sum()), "kwh": float(g["kwh"].sum()),
                "countries": sorted(set(g["country"])), "basis": HOURLY_NOTE}

    def by(self, *keys: str) -> pd.DataFrame:
        """Sums by any of stage, provider, model, region, country, month, hour."""
        return self._sum(list(keys))

    def by_model_frame(self) -> pd.DataFrame:
        """Sums by provider and model, the largest emitter first (ties by provider, then model)."""
        return self._sum(["provider", "model"]).sort_values(["kgco2e", "provider", "model"],
                                                            ascending=[False, True, True])

    @property
    def by_model(self) -> list[dict]:
        df = self.by_model_frame()
        return [{"provider": r.provider, "model": r.model, "requests": int(r.requests), "kwh": float(r.kwh),
                 "kgco2e": float(r.kgco2e), "kgco2e_low": float(r.kgco2e_low), "kgco2e_high": float(r.kgco2e_high)}
                for r in df.itertuples(index=False)]

    def _records(self, key: str) -> list[dict]:
        df = self._sum([key])
        hourly = self.groups.groupby(key, sort=True)["kgco2e_hourly"].sum(min_count=1)
        # The hour-aware figure covers only requests in countries with a shipped profile: beside
        # it, the annual-factor figure of those same requests, so the two compare like for like.
        covered = self.groups[self.groups["kgco2e_hourly"].notna()]
        annual_same = covered.groupby(key, sort=True)["kgco2e"].sum()
        out = []
        for r in df.to_dict("records"):
            h = hourly.get(r[key])
            has_hourly = h is not None and not pd.isna(h)
            out.append({key: r[key] if key != "hour" else int(r[key]), "requests": int(r["requests"]),
                        "kwh": float(r["kwh"]), "kgco2e": float(r["kgco2e"]), "kgco2e_low": float(r["kgco2e_low"]),
                        "kgco2e_high": float(r["kgco2e_high"]),
                        "kgco2e_hourly": float(h) if has_hourly else None,
                        "kgco2e_annual_same_requests": float(annual_same.get(r[key], 0.0)) if has_hourly else None})
        return out

    @property
    def by_hour(self) -> list[dict]:
        """Records by UTC hour of day (results.json's ``by_hour_utc``): requests, kWh, kgCO2e
        with low/high, and the hour-aware figure beside the annual figure of the same requests
        (None for an hour without requests in a country with an hourly profile)."""
        return self._records("hour")

    def to_json_dict(self) -> dict:
        t = self.totals
        out = {"requests": t["requests"], "kwh": t["kwh"], "kgco2e": t["kgco2e"], "kgco2e_low": t["kgco2e_low"],
               "kgco2e_high": t["kgco2e_high"], "by_model": self.by_model}
        h = self.hourly
        out.update({
            "kwh_low": t["kwh_low"], "kwh_high": t["kwh_high"],
            "kgco2e_hourly": h["kgco2e"],
            "hourly": h,
            "by_stage": self._records("stage"), "by_month": self._records("month"),
            "by_hour_utc": self.by_hour, "by_region": self._records("region"),
            "method": METHOD, "factor_ids": self.factor_ids, "sources": self.sources,
            "seconds": self.seconds,
        })
        return out

    # --- per request ---
    def iter_per_request(self, chunk_rows: int | None = None) -> Iterator[pd.DataFrame]:
        """Per-request frames, chunk by chunk (the log is read again)."""
        res = resolver(self.default_region)
        problems = LocatedProblems()
        for path in [self.frame] if self.frame is not None else [Path(p) for p in self.sources]:
            name = "<data frame>" if isinstance(path, pd.DataFrame) else str(path)
            for df, first in iter_chunks(path, chunk_rows or self.chunk_rows, problems):
                out = process_chunk(df, res, name, first, problems, want_rows=True)
                problems.raise_if_any()
                yield out.rows

    def per_request(self, limit: int | None = None) -> pd.DataFrame:
        """Per-request figures as one frame (the first ``limit`` requests; all if None)."""
        frames, n = [], 0
        for f in self.iter_per_request(chunk_rows=min(self.chunk_rows, limit) if limit else None):
            frames.append(f)
            n += len(f)
            if limit is not None and n >= limit:
                break
        df = pd.concat(frames, ignore_index=True) if frames else empty_rows()
        return df.head(limit) if limit is not None else df

    # --- files a consultant opens (atomic; text a spreadsheet would run as a formula is neutralised) ---
    def write_by_hour(self, path: str | Path) -> None:
        """The groups as CSV: stage × provider × model × region × month × UTC hour, with
        requests, tokens, kWh and kgCO2e (low/high) and the hour-aware figure apart."""
        _write_csv(self.groups, path)

    def write_activities(self, path: str | Path, prefix: str = "USG") -> None:
        """``to_activities`` as a CSV an engagement can list (the intake reads it back as written)."""
        _write_csv(self.to_activities(prefix), path)

    # --- feeding the engagement pipeline ---
    def to_activities(self, prefix: str = "USG") -> pd.DataFrame:
        """An ``llm_api`` activities table aggregated by stage × provider/model × region × month.

        quantity = requests; input/output tokens = means per request. Energy is linear in
        tokens for a given model, so ``audit estimate`` of this table reproduces the central
        kWh and kgCO2e of the log exactly, EXCEPT where a logged latency caps the generation
        time (EcoLogits takes min(modelled, measured latency) per request; a mean of minima is
        not the minimum of means, so a capped group is approximated) and for low/high, whose
        data-quality widening is applied per line rather than per request. latency_s is the
        mean over the requests that logged one (blank if none did).

        Cached input tokens pay no prefill in the central estimate (``CACHED_PREFILL_SHARE``), and an
        ``llm_api`` line has no cached-token column: ``input_tokens`` is the mean of the input that
        pays prefill (input minus cached), and the line's notes give the cached tokens left out. The
        central figure is reproduced; the high bound of this line omits the cached tokens' prefill.
        """
        keys = ["stage", "provider", "model", "region", "month"]
        g = self.groups.groupby(keys, sort=True, as_index=False)[
            ["requests", "input_tokens", "output_tokens", "latency_sum", "latency_n", "cached_input_tokens"]].sum()
        n = g["requests"].to_numpy(float)
        lat = np.where(g["latency_n"] > 0, g["latency_sum"] / g["latency_n"].where(g["latency_n"] > 0, 1), np.nan)
        src = ", ".join(Path(s).name for s in self.sources[:3]) + (" …" if len(self.sources) > 3 else "")
        return pd.DataFrame({
            "activity_id": [f"{prefix}-{i + 1:05d}" for i in range(len(g))],
            "stage": g["stage"], "description": g["model"] + " via " + g["provider"] + ", " + g["month"],
            "kind": "llm_api", "quantity": g["requests"].astype(np.int64), "unit": "request",
            "region": g["region"], "provider": g["provider"], "model": g["model"],
            "input_tokens": (g["input_tokens"] - g["cached_input_tokens"]) / n, "output_tokens": g["output_tokens"] / n,
            "latency_s": lat,
            "notes": [f"{int(r):,} request{'s' if r != 1 else ''} aggregated from usage log {src}; tokens are "
                      "means per request" + (f"; {c / r:,.1f} cached input tokens per request left out of "
                                             "input_tokens (a cache hit pays no prefill, stated assumption)"
                                             if c > 0 else "")
                      for r, c in zip(g["requests"], g["cached_input_tokens"])],
        })


def _write_csv(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        neutralise_frame(df).to_csv(tmp, index=False)


def finalise(partial: Partial, res: Resolver, sources: list[str], chunk_rows: int, seconds: float,
             energy: bool = True) -> UsageResult:
    """The groups frame: labels, sums, and carbon per group (annual factor of the group's
    region; hourly factor of its country, month and UTC hour where a profile is shipped).
    ``energy=False`` (validation's sums, ``process_chunk(energy=False)``): labels and sums only."""
    # Sorted by stage, provider, model, region, month, hour labels, whatever order ids were made in.
    k = _unpack(partial.keys)
    rank = {name: np.argsort(np.argsort(np.asarray(labels + ["~"], dtype=object), kind="stable"))
            for name, labels in (("stage", res.stages), ("pair", [f"{x.provider}\x00{x.model}" for x in res.pairs]),
                                 ("region", res.regions))}
    order = np.argsort(_pack(rank["stage"][k["stage"]], rank["pair"][k["pair"]], rank["region"][k["region"]],
                             k["month"], k["hour"]), kind="stable")
    partial = Partial(partial.keys[order], partial.sums[:, order])
    k = _unpack(partial.keys)

    def text(labels, codes):  # object columns: no per-row conversion to a string array
        return pd.Series(np.asarray(labels + [""], dtype=object)[codes], dtype=object, copy=False)

    ci = np.asarray(res.region_ci + [np.nan], float)[k["region"]]
    prof = np.asarray(res.region_profile + [-1], np.int64)[k["region"]]
    ih = np.full(len(partial.keys), np.nan)
    covered = prof >= 0
    if covered.any():
        ih[covered] = res.profiles[prof[covered], k["month"][covered] % 12, k["hour"][covered]]
    sums = dict(zip(SUMS, partial.sums))
    columns = {
        "stage": text(res.stages, k["stage"]),
        "provider": text([x.provider for x in res.pairs], k["pair"]),
        "model": text([x.model for x in res.pairs], k["pair"]),
        "region": text(res.regions, k["region"]), "country": text(res.region_country, k["region"]),
        "month": pd.Series(_month_labels(k["month"]), dtype=object, copy=False), "hour": k["hour"].astype(np.int64),
        **{name: np.rint(v).astype(np.int64) if name in ("requests", "latency_n") else v for name, v in sums.items()},
    }
    if energy:
        columns.update({
            "intensity_g_per_kwh": ci,
            **{f"kgco2e{x}": emissions_kg(sums[f"kwh{x}"], ci) for x in ("", "_low", "_high")},
            "intensity_hourly_g_per_kwh": ih, "kgco2e_hourly": emissions_kg(sums["kwh"], ih),
        })
    else:
        columns = {c: v for c, v in columns.items() if not c.startswith("kwh")}
    g = pd.DataFrame(columns, copy=False)  # at once: inserting column by column copies the frame each time
    used_pairs, used_regions = (set(np.flatnonzero(np.bincount(k[x])).tolist()) for x in ("pair", "region"))
    fids = {f for i in used_pairs for f in res.pairs[i].factor_ids if not f.startswith("model size")}
    fids |= {res.region_fid[i] for i in used_regions}
    if len(g):
        fids |= set(llm_coefficient_factor_ids())
    return UsageResult(g, sources, res.default_region, chunk_rows, seconds, sorted(fids))


# --- reading a log chunk by chunk ------------------------------------------------------------------

def iter_chunks(path: Path, chunk_rows: int, problems: LocatedProblems):
    if isinstance(path, pd.DataFrame):
        yield from iter_frame_chunks(path, chunk_rows, problems)
    elif is_parquet(path):
        yield from _iter_parquet(path, chunk_rows, problems)
    else:
        yield from _iter_csv(path, chunk_rows, problems)


def iter_frame_chunks(df: pd.DataFrame, chunk_rows: int, problems: LocatedProblems):
    mapping, header = header_problems("<data frame>", list(df.columns))
    problems.note_ignored("<data frame>", list(df.columns))
    if header:
        for p in header:
            problems.add(p)
        return
    df = df[list(mapping)].rename(columns=mapping)
    for start in range(0, len(df), chunk_rows):
        yield df.iloc[start:start + chunk_rows], start + 1
