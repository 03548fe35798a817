"""The console's heap, settled once its first screen is shown (``settle``).

A full collection of Python's cyclic garbage collector walks every object the process holds:
about 150,000 once the console shows (the modules, Textual's and SQLAlchemy's classes and caches,
the widgets), 90 to 230 ms on a shared 2-core machine, taken on whichever thread allocates at that
moment, the UI thread mostly. At a key that was the key's wait, every ten seconds or so. Those
objects live as long as the process: ``gc.freeze`` moves them out of the collector's sight, so
later collections walk only what was made since (a few milliseconds). Objects are still freed
when no longer referenced; only cycles among the frozen ones are never collected, and those are
collected once, just before.
"""

from __future__ import annotations

import gc

_settled = False


def settle() -> None:
    """Collect once, then freeze what is left; once per process (later calls do nothing)."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
