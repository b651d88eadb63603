"""The command line tunes glibc malloc to keep freed array memory (cohortsim.allocator)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from cohortsim.allocator import keep_freed_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_keep_freed_memory_applies_on_glibc() -> None:
    assert keep_freed_memory() is True


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_freed_arrays_are_reused_without_page_faults() -> None:
    # A block's worth of 400 kB arrays held at once, then freed, again and again: by default
    # glibc trims the freed heap (or unmaps) and every round faults ~100 pages per array back
    # in; tuned, the pages are reused. Counted in a subprocess (the setting is process-wide).
    code = (
        "import resource, sys, numpy as np\n"
        "from cohortsim.allocator import keep_freed_memory\n"
        "if sys.argv[1] == '1': keep_freed_memory()\n"
        "x = np.ones((256, 200))\n"
        "def rounds(k):\n"
        "    for _ in range(k): held = [x + 1.0 for _ in range(16)]\n"
        "rounds(2)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "rounds(20)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    faults = {
        flag: int(subprocess.run([sys.executable, "-c", code, flag], capture_output=True,
                                 text=True, check=True).stdout)
        for flag in ("0", "1")
    }
    # 20 rounds × 16 arrays × 100 pages = 32,000 faults when nothing is reused.
    assert faults["1"] < 1_000 < 10_000 < faults["0"]
