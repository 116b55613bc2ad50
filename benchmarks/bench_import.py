"""Start-up time, whole processes: our typical import and ``--help`` vs ``l0.monitoring``.

Each case is a fresh ``python -c ...`` process (interpreter start included, as a
user waits for it), run in alternating rounds so drifting machine load hits every
case alike; the figure is the minimum over the rounds. ``python -c pass`` is
shown for scale.

Run: ``python benchmarks/bench_import.py [--rounds 15]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CASES = {
    "python -c pass": "pass",
    "reference: from l0.monitoring import Monitor, MonitoringConfig, Telemetry": (
        "from l0.monitoring import Monitor, MonitoringConfig, Telemetry"
    ),
    "ours: from l0_monitoring import Monitor, MonitoringConfig, Telemetry": (
        "from l0_monitoring import Monitor, MonitoringConfig, Telemetry"
    ),
    # What the console script does (see its entry point), output discarded.
    "ours: l0-monitoring --help": (
        "import sys; from l0_monitoring.cli import main; sys.exit(main(['--help']))"
    ),
}


def run_once(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    best = dict.fromkeys(CASES, float("inf"))
    for code in CASES.values():  # warm the bytecode caches once
        run_once(code)
    for _ in range(args.rounds):
        for name, code in CASES.items():
            best[name] = min(best[name], run_once(code))
    ref = best["reference: from l0.monitoring import Monitor, MonitoringConfig, Telemetry"]
    for name, seconds in best.items():
        print(
            json.dumps({"case": name, "min_s": round(seconds, 4), "ratio": round(seconds / ref, 3)})
        )


if __name__ == "__main__":
    main()
