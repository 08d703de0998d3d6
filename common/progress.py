"""How long work reports how far it has got: one type for imports, exports, indexing, training
data. A tqdm bar is one (commands pass theirs as it is); work may set `total` once it knows."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    total: float | None  # how many units in all, when known

    def update(self, n: float = 1) -> object:
        """`n` more units are done."""
        ...
