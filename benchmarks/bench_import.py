"""Start-up time, whole processes: our typical import and ``--help`` vs ``l0.monitoring``.

Each case is a fresh ``python -c ...`` process (interpreter start included, as a
user waits for it), run in alternating rounds so drifting machine load hits every
case alike; the figures are the minimum over the rounds of the wall time and of
the process's CPU time (user + system, which other load on a shared machine
disturbs less). ``python -c pass`` is shown for scale.

Every case runs with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed
from the children's environment), as an installed package runs: the reference
is installed with its ``.pyc`` files, and the warm-up run writes ours, so
neither side is timed compiling its source.

Run: ``python benchmarks/bench_import.py [--rounds 15]``
"""

from __future__ import annotations

import argparse
import json
import os
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


# Bytecode caches on (see the module docstring); everything else as the caller has it.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_once(code: str) -> tuple[float, float]:
    """Wall time and CPU time (user + system, from the child's rusage) of one process."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{code!r} exited with {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    wall = dict.fromkeys(CASES, float("inf"))
    cpu = dict.fromkeys(CASES, float("inf"))
    for code in CASES.values():  # warm the bytecode caches once
        run_once(code)
    for _ in range(args.rounds):
        for name, code in CASES.items():
            w, c = run_once(code)
            wall[name] = min(wall[name], w)
            cpu[name] = min(cpu[name], c)
    ref = "reference: from l0.monitoring import Monitor, MonitoringConfig, Telemetry"
    for name in CASES:
        print(
            json.dumps(
                {
                    "case": name,
                    "wall_min_s": round(wall[name], 4),
                    "wall_ratio": round(wall[name] / wall[ref], 3),
                    "cpu_min_s": round(cpu[name], 4),
                    "cpu_ratio": round(cpu[name] / cpu[ref], 3),
                }
            )
        )


if __name__ == "__main__":
    main()
