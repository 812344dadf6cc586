"""Percentiles of one run, and the median, min and max of a figure over several runs."""
from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_ms(durations: Sequence[float], prefix: str) -> dict[str, float]:
    """{prefix_p50_ms, prefix_p90_ms, prefix_p99_ms, prefix_max_ms} from durations in seconds."""
    ms = [d * 1000 for d in durations]
    if not ms:
        return {}
    return {
        f"{prefix}_p50_ms": percentile(ms, 50),
        f"{prefix}_p90_ms": percentile(ms, 90),
        f"{prefix}_p99_ms": percentile(ms, 99),
        f"{prefix}_max_ms": max(ms),
    }


def status_counts(samples: Iterable[Sequence]) -> dict[str, int]:
    """{"<label> <status>": count}; status 0 is a request that got no answer."""
    counts = Counter(f"{label} {status if status else 'no answer'}" for label, status, *_ in samples)
    return dict(sorted(counts.items()))


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max) of one figure over the runs."""
    clean = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not clean:
        return (float("nan"),) * 3
    return statistics.median(clean), min(clean), max(clean)
