"""Summarise a py-spy collapsed-stack profile (`python -m bench --profile` writes one to bench/out/).

    .venv/bin/python -m bench.profile bench/out/profile-....txt [--top 40] [--match eventsite]

Prints the functions with the largest inclusive share of the samples (a function counted once per
sample however deep it recurses), and the largest self share.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter


def summarise(path: str, *, top: int = 40, match: str = "") -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            total += n
            for frame in set(frames):
                inclusive[frame] += n
            own[frames[-1]] += n
    if not total:
        return "no samples"
    out = [f"{total} samples", "", "inclusive:"]
    shown = 0
    for frame, n in inclusive.most_common():
        if match and match not in frame:
            continue
        out.append(f"{n / total:6.1%}  {frame}")
        shown += 1
        if shown >= top:
            break
    out += ["", "self:"]
    for frame, n in own.most_common(top // 2):
        out.append(f"{n / total:6.1%}  {frame}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default="", help="only frames containing this text in the inclusive list")
    args = parser.parse_args(argv)
    try:
        print(summarise(args.path, top=args.top, match=args.match))
    except BrokenPipeError:  # piped into head
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
