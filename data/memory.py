"""Handing memory back to the operating system after a large file has been read.

Reading an export parses it several times over (text, typed columns, the validated tidy table);
once only the tidy table is kept, the rest is garbage that Python, pyarrow's memory pool and the
C allocator hold on to as free space. A command-line run that goes on to compute every figure
would otherwise carry that free space in its peak memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc

import pyarrow as pa


def return_freed_memory() -> None:
    """Collect Python's garbage, then release pyarrow's unused pool memory and the C
    allocator's free pages (glibc ``malloc_trim``; skipped where the C library has none)."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(AttributeError, OSError):  # not glibc
        ctypes.CDLL(None).malloc_trim(0)
