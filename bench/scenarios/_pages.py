"""What the page scenarios share (event_page, home_page): a client that GETs pages back to back and
checks each answer, and the share of the `SELECT 1` floor their targets are stated in.

Imported by the load generator too: nothing here imports the app.
"""
from __future__ import annotations

import time
from collections import Counter

FLOOR = "floor select1"


def floor_share_pct(env, requests_per_s: float, floor: str = FLOOR) -> float:
    """requests/s as a percentage of the floor's requests/s measured last in this session (NaN when
    the floors did not run). The floors run first in every round, so this is the same round's."""
    floor_rps = env.shared.get(f"{floor} requests_per_s")
    return requests_per_s / floor_rps * 100 if floor_rps else float("nan")


def client(http, params: dict, index: int) -> dict:
    """GET `paths` (in turn, from a per-client offset) back to back for `seconds`, each as a new
    visitor (empty cookie jar). An answer is right when it is 200, contains every string of `expect`
    and, when `marker` is given, contains it exactly `marker_count` times."""
    end = time.perf_counter() + params["seconds"]
    paths = params["paths"]
    counts: Counter[str] = Counter()
    i = index
    while time.perf_counter() < end:
        path = paths[i % len(paths)]
        i += 1
        http.new_visitor()
        answer = http.get(path, label=params.get("label", "GET"))
        if answer.status != 200:
            counts[f"status {answer.status}"] += 1
            continue
        text = answer.text
        if any(e not in text for e in params.get("expect", [])):
            counts["body without the expected text"] += 1
        elif params.get("marker") and text.count(params["marker"]) != params["marker_count"]:
            counts["wrong number of items"] += 1
        else:
            counts["right"] += 1
    return dict(counts)
