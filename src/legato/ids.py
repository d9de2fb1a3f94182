"""Run ids: UUIDv7-shaped strings, so ids sort by creation time.

Sorting by id then gives "newest first" without a second index, and new rows land
at the end of the primary-key index instead of at random places in it.
"""

from __future__ import annotations

import os
import random
import time

# Our own generator, seeded from the OS and reseeded in forked children, so that a
# user's random.seed() never makes ids repeat; os.urandom per id would cost a system
# call, which dominated the cost of tracking a task.
_rng = random.Random()
os.register_at_fork(after_in_child=_rng.seed)


def new_id() -> str:
    """A 36-character UUIDv7 string (RFC 9562): 48 bits of milliseconds, then random bits."""
    ms = time.time_ns() // 1_000_000
    rand = _rng.getrandbits(80)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
