"""Keep freed array memory in the process instead of handing it back to the kernel.

The vectorised engine works on many short-lived arrays of a few hundred kilobytes (a block of
256 trials × a few hundred patients of float64). With glibc's default settings most of them are
fresh ``mmap`` regions or freshly trimmed heap, so every new array page-faults its way in: on
the reference design about a third of the simulation time was the kernel zeroing pages that the
previous array had just given back. Raising the mmap and trim thresholds lets ``malloc`` reuse
those pages. Numbers are unaffected; only where the bytes live changes. Peak memory is bounded
by what the run holds at its peak plus the retained :data:`TRIM_THRESHOLD_BYTES`.

Called by the command-line entry points and by spawned workers, never on import: a library
should not change its host process's allocator unasked.
"""

from __future__ import annotations

import ctypes
import sys

MMAP_THRESHOLD_BYTES = 32 * 2**20
"""Allocations below this come from the heap (glibc's largest allowed value on 64-bit)."""

TRIM_THRESHOLD_BYTES = 256 * 2**20
"""Free memory at the top of the heap kept for reuse rather than returned to the kernel."""

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Tune glibc ``malloc`` to reuse freed array memory; return whether it applied.

    Does nothing (returns ``False``) where the C library is not glibc (macOS, Windows, musl).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The running interpreter's own symbols include its C library's: no library search
        # (ctypes.util.find_library runs ldconfig in a subprocess, ~20 ms per process).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on error.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
