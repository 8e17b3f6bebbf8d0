"""Pausing Python's cycle collector around work that makes many objects and no cycles."""

import gc
from contextlib import contextmanager


@contextmanager
def cycle_collection_paused():
    """Pause Python's cycle collector while the block runs.

    A batch (of decisions, or of leads) allocates many small objects without cycles, and the
    collector's passes over them cost a twentieth to a fifth of the batch while freeing
    nothing. Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
