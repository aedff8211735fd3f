"""One operation of the differential test (test_differential.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Op:
    args: list
    kind: str = "exact"        # how to compare the replies
    tiny_ttl: bool = False     # may set a 1-5 ms TTL: the batch ends here
    compound: str | None = None  # "scan" or "randomkey": run on its own
    mutable: bool = True       # False: never given junk or fewer arguments (see Generator.mutate)

    @property
    def name(self) -> str:
        return self.args[0].decode("latin-1").upper() if self.args else ""
