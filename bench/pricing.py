"""Quotes per second for a 5-tier graduated price: the library and the JSON-lines CLI.

    .venv/bin/python bench/pricing.py [--n 100000]

Measured in the same run, for scale: a plain Decimal multiply loop (the floor any
Decimal rating pays). Library figures are the best of 3 runs. The CLI figure is a
real subprocess of `aforo price quote` reading N lines on stdin; its start-up time
(importing every stage's commands) is measured apart and reported too.
Target: 100,000 library ratings a second on one core.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from aforo.pricing import parse_price, rate, rate_increment

PRICE = {
    "model": "graduated",
    "tiers": [
        {"up_to": "1000", "unit_amount": "0.01"},
        {"up_to": "10000", "unit_amount": "0.008"},
        {"up_to": "100000", "unit_amount": "0.006"},
        {"up_to": "1000000", "unit_amount": "0.004"},
        {"up_to": None, "unit_amount": "0.002"},
    ],
}
AFORO = Path(sys.executable).with_name("aforo")


def per_second(n: int, run: Callable[[], object], repeat: int = 3) -> tuple[float, float]:
    """(operations per second, seconds) for `run`, which does n operations: the best
    of `repeat` runs, so a busy machine's noise counts as little as it can."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return n / best, best


def quantities(n: int, seed: int = 7) -> list[tuple[Decimal, Decimal]]:
    """(period-to-date, hour) pairs spread over all five tiers."""
    rng = random.Random(seed)
    return [(Decimal(rng.randrange(0, 3_000_000)), Decimal(rng.randrange(0, 5_000)))
            for _ in range(n)]


def bench_library(n: int) -> dict[str, tuple[float, float]]:
    price = parse_price(PRICE)
    pairs = quantities(n)
    unit = Decimal("0.004")

    def baseline() -> None:
        for before, _ in pairs:
            _ = before * unit

    def increments() -> None:
        for before, hour in pairs:
            rate_increment(price, before, hour)

    def ratings() -> None:
        for before, _ in pairs:
            rate(price, before)

    return {
        "baseline: Decimal multiply": per_second(n, baseline),
        "library: rate_increment": per_second(n, increments),
        "library: rate (with breakdown)": per_second(n, ratings),
    }


def bench_cli(n: int) -> dict[str, tuple[float, float]]:
    price_text = json.dumps(PRICE)
    lines = "".join(
        f'{{"price": {price_text}, "quantity": "{before}"}}\n' for before, _ in quantities(n)
    )
    start = time.perf_counter()
    subprocess.run([str(AFORO), "price", "quote"], input="", capture_output=True, check=True)
    startup = time.perf_counter() - start
    start = time.perf_counter()
    done = subprocess.run([str(AFORO), "price", "quote"], input=lines, capture_output=True,
                          text=True, check=True)
    seconds = time.perf_counter() - start
    answers = done.stdout.splitlines()
    if len(answers) != n or any('"amount"' not in a for a in answers[:100]):
        raise SystemExit(f"the CLI answered {len(answers)} lines of {n}: {answers[:3]}")
    expected = rate(parse_price(PRICE), quantities(1)[0][0]).amount
    if json.loads(answers[0])["amount"] != format(expected.normalize(), "f"):
        raise SystemExit(f"the CLI's first answer {answers[0]} is not {expected}")
    return {
        "cli: JSON lines, wall clock": (n / seconds, seconds),
        "cli: JSON lines, minus start-up": (n / (seconds - startup), seconds - startup),
        "cli: start-up alone (s)": (startup, startup),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    print(f"graduated, 5 tiers; {args.n:,} quotes each; one core (python {sys.version.split()[0]})")
    results = {**bench_library(args.n), **bench_cli(args.n)}
    width = max(map(len, results))
    for name, (rate_, seconds) in results.items():
        if name.endswith("(s)"):
            print(f"  {name:<{width}}  {seconds:>12.3f} s")
        else:
            print(f"  {name:<{width}}  {rate_:>12,.0f} /s  ({seconds:.3f} s)")
    for name in ("library: rate_increment", "library: rate (with breakdown)"):
        verdict = "met" if results[name][0] >= 100_000 else "MISSED"
        print(f"target 100,000 ratings/s, {name.split(': ')[1]}: {verdict}")


if __name__ == "__main__":
    main()
