"""Keeping freed memory in the process, so that large numpy temporaries do not cost page faults each time.

glibc's malloc serves a large request (above a threshold that grows up to 32 MB) with a fresh `mmap` and gives it
back with `munmap` when freed, and trims the top of its heap when more than a threshold is free there. A loop whose
every batch-sized temporary (a 5,000 x 100 float64 array is 4 MB; 50,000 x 100 is 40 MB) is such a request then
touches new pages on every operation: the kernel zeroes them and maps them in, one fault per page. On this
repository's virtual machines that costs milliseconds per array: `1.0 - h ** 2` on a 5,000 x 100 array took 3 ms
where the same arithmetic into a reused buffer took 0.07 ms, and GAIL's classic-control iteration spent half its time
so (papers/ho2016_gail/README.md, Speed).

`keep_freed_memory()` tells malloc to serve every request from its heap (no `mmap`) and never to trim it, so freed
blocks are reused by the next temporaries of the same size. Nothing about the arithmetic changes: the same
operations on the same numbers give the same bits (the on-policy loops' runs were checked byte for byte). The cost is
that the process keeps the largest memory it has used until it exits.
"""
from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

_applied = False


def keep_freed_memory() -> bool:
    """Set glibc's malloc to keep freed memory for reuse (module docstring), once per process; True when it is set
    (also on later calls), False where the C library is not glibc (nothing changes there)."""
    global _applied
    if _applied:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # no mmap for any request; trim the heap only above 2^31 - 1 bytes free at its top (in effect never)
    _applied = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _applied
