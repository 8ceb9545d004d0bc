"""Keep freed memory in the process instead of handing it back to the system after every step (glibc).

A forward pass, or a training step, frees tensors of the same sizes it will ask for again a moment
later. glibc's malloc gives a block of 32 MiB or more (and a smaller one, until its adaptive threshold
has risen past that size) a mapping of its own and unmaps it when it is freed, and it returns the top
of the heap to the system once more than its trim threshold is free there. The next step then touches
fresh pages, and the kernel stops the thread on each 4 KiB page to zero it: on this project's 2-core VM
a MiniLM training step on 32 reviews made 4,900-12,000 page faults (bench/heap_cost.py), each a few
microseconds.

`keep_freed_memory()` asks glibc (through `mallopt`) to serve every block from its heaps and to keep
up to `TRIM_THRESHOLD` of free memory at a heap's top, so the same pages are used again: a training
step then makes almost no page faults, and ran 1.00-1.23x as fast, median 1.04x (twelve pairs of
processes, BENCHMARKS.md). The cost is that memory the process has used stays with it until it
exits, which suits a training process. The app's server does not use it: sentiment requests
measured alike lost their page faults but gained no time that the pairs could tell from noise.
Other C libraries (musl, macOS) have no such switch; there it does nothing and says so.

It changes a setting of the whole process, so an entry point calls it (the training process, in
`finetune/train.py`), not library code. ``STUDIO_KEEP_FREED_MEMORY=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import functools
import platform

from pipelines import settings

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

# A heap's top is returned to the system only once more than this is free there: larger than a
# step's working set here (a MiniLM training step at batch 32 frees a few hundred MiB), small next to
# the machine, so a one-off spike (a long batch) does not stay with the process for good.
TRIM_THRESHOLD = 1 << 30


@functools.cache
def keep_freed_memory() -> bool:
    """Serve blocks from the heap and keep freed memory for reuse; True where glibc took the settings.

    The first call decides for the process; later ones return its answer.
    """
    return _apply()


def _apply() -> bool:
    if not settings.env_flag("STUDIO_KEEP_FREED_MEMORY", default=True):
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success. No mappings of their own: blocks come from the heaps, whose
    # freed space is reused (a thread's arena still maps a block too large for its 64 MiB heaps).
    return mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
