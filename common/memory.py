"""Memory the process holds but no longer uses, given back to the system."""

import ctypes
import ctypes.util


def heap_release() -> None:
    """Give the C heap's free memory back to the system (glibc's `malloc_trim`; elsewhere,
    nothing). glibc keeps freed blocks of a few MiB in the heap once they fall under its
    adaptive mmap threshold, so work that frees many such arrays leaves the process's resident
    size at its peak until the heap is trimmed."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass
