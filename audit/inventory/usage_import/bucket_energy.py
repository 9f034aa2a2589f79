"""How the usage estimator must read a canonical row that stands for several requests
(``requests``) and whose input is partly served from a prompt cache (``cached_input_tokens``).

These are the equations for audit/usage.py (``energy_range_kwh``) to adopt; they take the same
per-pair coefficient arrays the Resolver already builds (``res.arrays()``), so they can be
called there unchanged. Kept here, tested, because usage.py is not edited in this phase.

Per request, usage.py computes (EcoLogits 0.11.3 LLM model, as ``audit.estimate.method_llm_api``)::

    latency   = min(output_tokens x s_per_token + ttft, logged latency)             (1)
    E_request = kwh_per_output_token x output_tokens + kwh_per_second x latency
                + kwh_per_input_token x input_tokens                                 (2)

A bucket row (``requests`` = R, token columns = totals O, I, C) is R identical mean requests:

    o = O / R,  i = I / R,  c = C / R                                                (3)
    E_row = R x E_request(o, i - s x c, latency_s)                                   (4)

where ``latency_s`` is already a per-request mean (canonical definition) and s is the prefill
share of a cached token (``cached_prefill_share``):

* central and low: s = 0 -- a cache hit skips the prefill compute of the cached prefix (the
  KV cache is reused; reading it from memory is neglected). EcoLogits' prefill term prices
  fresh input only, so a cached token adds no prefill energy.
* high: s = 1 -- the cached tokens priced as fresh input, so the upper bound does not depend on
  the provider's cache being as effective as it reports.

Because (2) is affine in tokens except for the per-request TTFT and the latency cap, (4) equals
the sum over R identical requests exactly, and R=1, C=0 reduces to (2): a canonical
one-request-per-row log gives the same kWh as before. Sums the estimator keeps per group change
accordingly: ``requests`` += R (not 1 per row); ``input_tokens``/``output_tokens`` += the row's
totals; ``latency_sum`` += latency_s x R and ``latency_n`` += R where latency is logged.
"""
from __future__ import annotations

import numpy as np


def mean_per_request(total: np.ndarray, requests: np.ndarray) -> np.ndarray:
    """Equation (3): a bucket total divided by its requests (0 where requests is 0)."""
    requests = np.asarray(requests, float)
    return np.divide(np.asarray(total, float), requests, out=np.zeros(len(requests)), where=requests > 0)


def prefill_input_tokens(input_tokens: np.ndarray, cached_input_tokens: np.ndarray,
                         cached_prefill_share: float) -> np.ndarray:
    """Input tokens that pay prefill energy: fresh ones, plus share s of the cached ones."""
    return np.asarray(input_tokens, float) - (1.0 - cached_prefill_share) * np.asarray(cached_input_tokens, float)


def generation_latency_s(output_tokens: np.ndarray, s_per_token: np.ndarray, ttft: np.ndarray,
                         latency_s: np.ndarray) -> np.ndarray:
    """Equation (1), per mean request; NaN latency means not logged (fmin skips NaN)."""
    return np.fmin(output_tokens * s_per_token + ttft, latency_s)


def request_kwh(output_tokens, input_tokens, latency, kwh_per_output_token, kwh_per_second, kwh_per_input_token):
    """Equation (2) for one (mean) request."""
    return kwh_per_output_token * output_tokens + kwh_per_second * latency + kwh_per_input_token * input_tokens


def row_kwh(requests, output_tokens, input_tokens, cached_input_tokens, latency_s, *, kwh_per_output_token,
            kwh_per_second, kwh_per_input_token, s_per_token, ttft, cached_prefill_share: float = 0.0) -> np.ndarray:
    """Equation (4): kWh of canonical rows (each row = ``requests`` identical mean requests).

    Coefficient arrays are per row (gathered by pair code, as usage.py does)."""
    r = np.asarray(requests, float)
    o = mean_per_request(output_tokens, r)
    i = mean_per_request(prefill_input_tokens(input_tokens, cached_input_tokens, cached_prefill_share), r)
    lat = generation_latency_s(o, s_per_token, ttft, np.asarray(latency_s, float))
    return r * request_kwh(o, i, lat, kwh_per_output_token, kwh_per_second, kwh_per_input_token)
