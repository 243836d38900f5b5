"""Which clips go when room is short: the pure choices over an index."""

from __future__ import annotations

from appliance.items import Index, Item, Kind
from appliance.pruning import choose_loop_victims, choose_protected_victims, reserve_bytes


def index_of(*rows: tuple[int, Kind, int]) -> Index:
    index = Index()
    for seq, kind, size in rows:
        index.add(Item(seq, kind, f"/card/{seq:08d}", size, "2024-05-01", "20240501-120000"))
    return index


def test_reserve_is_the_larger_of_bytes_and_percent():
    assert reserve_bytes(1000, 100, 5.0) == 100
    assert reserve_bytes(10_000, 100, 5.0) == 500


def test_loop_victims_oldest_first_until_the_reserve_holds():
    index = index_of(
        (1, Kind.LOOP, 100), (2, Kind.PROTECTED, 100), (3, Kind.LOOP, 100), (4, Kind.LOOP, 100)
    )
    choice = choose_loop_victims(index, free_bytes=50, reserve_bytes=220, quota_bytes=None, keep=())
    assert (choice.seqs, choice.ok, choice.free_after) == ([1, 3], True, 250)


def test_loop_victims_skip_what_is_kept_and_say_when_the_reserve_cannot_hold():
    index = index_of((1, Kind.LOOP, 100), (2, Kind.LOOP, 100), (3, Kind.PHOTO, 900))
    choice = choose_loop_victims(index, free_bytes=0, reserve_bytes=500, quota_bytes=None, keep={1})
    assert (choice.seqs, choice.ok, choice.free_after) == ([2], False, 100)


def test_loop_quota_deletes_even_with_room_to_spare():
    index = index_of(*((seq, Kind.LOOP, 100) for seq in range(1, 6)))
    choice = choose_loop_victims(index, free_bytes=10**9, reserve_bytes=0, quota_bytes=250, keep=())
    assert choice.seqs == [1, 2, 3] and choice.ok


def test_nothing_goes_when_all_holds():
    index = index_of((1, Kind.LOOP, 100))
    assert (
        choose_loop_victims(index, free_bytes=100, reserve_bytes=100, quota_bytes=100, keep=()).seqs
        == []
    )
    assert choose_protected_victims(index_of((1, Kind.PROTECTED, 100)), 100, ()) == []


def test_protected_victims_oldest_first_never_the_shielded():
    index = index_of(
        (1, Kind.PROTECTED, 100),
        (2, Kind.PROTECTED, 100),
        (3, Kind.LOOP, 500),
        (4, Kind.PROTECTED, 100),
    )
    assert choose_protected_victims(index, 150, shield={1}) == [2, 4]
    assert choose_protected_victims(index, 0, shield={1, 2, 4}) == []
