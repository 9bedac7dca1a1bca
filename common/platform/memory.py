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

Where it is applied and where it was measured not to help (2026-11-27, this 2-core machine about half busy with
other work, one BLAS and one torch thread, the loop as it is and with the setting in separate processes alternating
A B A B; the numbers are in each paper's README under Speed, the others here):
- applied, each at the start of its loop: GAIL (papers/ho2016_gail/gail.py, about 2x on classic control), GAE
  (papers/schulman2016_gae/gae.py), PPO (papers/schulman2017_ppo/ppo.py: 1.03x on Hopper-v5, horizon 2,048),
  SAC (papers/haarnoja2018_sac/sac.py: 1.05x at batch 256), CQL and offline SAC (papers/kumar2020_cql/cql.py:
  1.03x on CQL(H)'s update), DQN (papers/mnih2013_dqn/dqn.py: 1.16-1.30x on Breakout at a steady load); every one
  checked byte for byte (tables and saved agents of quick runs before and after, torch's included, and a test per
  loop in a process with and without it).
- measured not to help, left alone: TRPO's Figure 4 (papers/schulman2015_trpo/trpo.py; its time is sampling:
  Hopper-v5 single path, one iteration of 200,000 steps, 11,315 and 11,311 env-steps/s without, 11,352 and 11,323
  with; of 50,000 steps 1.01-1.04x, not held at the larger batch), PPO's Figure 3 comparison methods
  (fig3_baselines.py: TRPO on batches of 1,024, vanilla PG, A2C; small arrays that malloc already reuses; wall time
  of 150,000-step runs equal within their spread), DDPG (TD3's "Our DDPG" on Hopper-v5, batch 100: 164-233
  env-steps/s without, 178-227 with, over 5 rounds).
- applied later: TRPO's Atari loop (papers/schulman2015_trpo/trpo_atari.py) and PPO's
  (papers/schulman2017_ppo/ppo_atari.py), measured by `repro bench PAPER EXPERIMENT --kept-memory`
  (common/platform/kept_memory.py: one whole run in fresh processes with the setting off and on in turn, recorded
  in results/<paper>/kept_memory.json; 2026-11-29, two other runs keeping both cores busy): TRPO single path on
  Pong, one iteration of 10,000 agent steps, 63-70 s off, 34 s on, 1.97x, its system time 33-37 s down to 5 s; vine
  1.31x; peak memory a third higher; PPO on Pong, 8,192 agent steps, 1.20x; both checked byte for byte by a test in
  two processes.
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
    (also on later calls), False where the C library is not glibc or REPRO_KEEP_FREED_MEMORY is 0 (nothing changes
    then: `repro bench --kept-memory` times runs so, common/platform/kept_memory.py)."""
    global _applied
    if _applied:
        return True
    from common.platform.validate import env_setting

    if env_setting("REPRO_KEEP_FREED_MEMORY", "1") == "0":
        return False
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
