"""Small timing and memory helpers shared by the benchmarks."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


def best_of(function: Callable[[], object], repeats: int = 3) -> float:
    """Smallest wall-clock time of ``repeats`` calls, seconds (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


@dataclass(frozen=True)
class ProcessRun:
    """A command run in a fresh process: wall time, the CPU time of it and its children (user +
    system, every worker process included), and the peak resident memory (the largest single
    process, as the kernel reports ``ru_maxrss``)."""

    seconds: float
    peak_mib: float
    stdout: str
    cpu_seconds: float


def _byte_compile() -> None:
    """Compile cohortsim's sources to ``__pycache__`` once, as installing the package (or its
    first run) does. Processes only read bytecode that exists: with ``PYTHONDONTWRITEBYTECODE``
    set (as on the VM of docs/performance.md) and none compiled, every measured process would
    recompile every module (≈ 60–80 ms), a cost no installed copy pays."""
    import compileall

    compileall.compile_dir(ROOT / "cohortsim", quiet=1)


def run_process(args: list[str]) -> ProcessRun:
    """Run ``python -c``-style measured child: time it and read its peak memory (cohortsim
    byte-compiled first, see :func:`_byte_compile`)."""
    _byte_compile()
    probe = (
        "import json, resource, subprocess, sys, time; "
        "start = time.perf_counter(); "
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "seconds = time.perf_counter() - start; "
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "peak = usage.ru_maxrss / 1024; cpu = usage.ru_utime + usage.ru_stime; "
        "print(json.dumps({'seconds': seconds, 'peak_mib': peak, 'cpu': cpu, "
        "'code': done.returncode, "
        "'stdout': done.stdout, 'stderr': done.stderr}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    record = json.loads(out.stdout)
    if record["code"] != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{record['stderr']}")
    return ProcessRun(record["seconds"], record["peak_mib"], record["stdout"], record["cpu"])


def self_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cohortsim_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cohortsim", *args]


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A Markdown table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    def line(row: tuple[str, ...]) -> str:
        cells = (str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        return "| " + " | ".join(cells) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in rows])
