"""Which clips go when room is short: pure choices over the index, no file touched.

The loop is pruned oldest first (those already uploaded before the others) until the
reserve holds and the loop quota is met; the protected clips past their quota go oldest
first too, except those of an incident in progress. The library removes what these
return from its index and deletes the files.
"""

from __future__ import annotations

import itertools
from collections.abc import Container
from dataclasses import dataclass

from appliance.items import Index, Kind


def reserve_bytes(total_bytes: int, min_free_bytes: int, min_free_percent: float) -> int:
    """Bytes the pruner keeps free on a card of ``total_bytes``."""
    return max(min_free_bytes, int(total_bytes * min_free_percent / 100.0))


@dataclass(frozen=True, slots=True)
class LoopChoice:
    """The loop clips to delete, oldest first, and whether the reserve then holds."""

    seqs: list[int]
    ok: bool
    free_after: int


def choose_loop_victims(
    index: Index,
    *,
    free_bytes: int,
    reserve_bytes: int,
    quota_bytes: int | None,
    keep: Container[int],
    prefer: Container[int] = (),
) -> LoopChoice:
    """The oldest loop clips to delete until ``free_bytes`` reaches ``reserve_bytes`` and
    loop clips use at most ``quota_bytes`` (None: no quota); never a seq in ``keep``.

    The clips in ``prefer`` (those already uploaded: safe at home) go first, oldest first;
    then the others, oldest first. Each deletion is counted as freeing the clip's size.
    """
    free = free_bytes
    loop_bytes = index.bytes[Kind.LOOP]
    chosen: list[int] = []

    def enough() -> bool:
        return free >= reserve_bytes and (quota_bytes is None or loop_bytes <= quota_bytes)

    if enough():  # the common case: no walk over the loop at all
        return LoopChoice(chosen, True, free)
    loop = index.by_kind[Kind.LOOP]
    order = itertools.chain(
        (seq for seq in loop if seq in prefer), (seq for seq in loop if seq not in prefer)
    )
    for seq in order:
        if enough():
            break
        if seq in keep:
            continue
        size = index.items[seq].size
        chosen.append(seq)
        free += size
        loop_bytes -= size
    return LoopChoice(chosen, free >= reserve_bytes, free)


def choose_protected_victims(index: Index, limit_bytes: int, shield: Container[int]) -> list[int]:
    """The oldest protected clips to delete until they use at most ``limit_bytes``; never
    a seq in ``shield``."""
    over = index.bytes[Kind.PROTECTED] - limit_bytes
    chosen: list[int] = []
    for seq in index.by_kind[Kind.PROTECTED]:
        if over <= 0:
            break
        if seq not in shield:
            chosen.append(seq)
            over -= index.items[seq].size
    return chosen
