"""Pruning prefers loop clips already uploaded (safe at home): they go first, oldest first,
then the other loop clips oldest first as before. Pure choices, then a real tmpfs card
filled by a recording appliance."""

from __future__ import annotations

import pytest

from appliance.items import Kind
from appliance.library import NotFound
from appliance.pruning import choose_loop_victims
from appliance.states import State
from appliance.uploader import UploadLog
from hw.camera.replay import ReplayCamera
from tests.harness import Appliance, tmpfs, wait_until
from tests.test_card_full import noise_mp4  # noqa: F401 - the fixture
from tests.test_pruning import index_of

CARD_BYTES = 24 * 1024 * 1024
RESERVE_BYTES = 4 * 1024 * 1024


def loop_of(n: int):
    return index_of(*((seq, Kind.LOOP, 100) for seq in range(1, n + 1)))


def test_uploaded_loop_clips_go_first_oldest_first_then_the_oldest_others():
    choice = choose_loop_victims(
        loop_of(6), free_bytes=0, reserve_bytes=300, quota_bytes=None, keep=(), prefer={5, 3}
    )
    assert choice.seqs == [3, 5, 1] and choice.ok


def test_only_as_many_uploaded_clips_go_as_the_reserve_needs():
    choice = choose_loop_victims(
        loop_of(6), free_bytes=0, reserve_bytes=100, quota_bytes=None, keep=(), prefer={4, 6}
    )
    assert choice.seqs == [4]


def test_a_kept_clip_is_kept_even_if_uploaded():
    choice = choose_loop_victims(
        loop_of(4), free_bytes=0, reserve_bytes=200, quota_bytes=None, keep={4}, prefer={4, 2}
    )
    assert choice.seqs == [2, 1]


def test_the_loop_quota_takes_the_uploaded_first_too():
    choice = choose_loop_victims(
        loop_of(5), free_bytes=10**9, reserve_bytes=0, quota_bytes=300, keep=(), prefer={5, 4}
    )
    assert choice.seqs == [4, 5]


def test_nothing_to_free_deletes_nothing_whatever_is_uploaded():
    choice = choose_loop_victims(
        loop_of(3), free_bytes=500, reserve_bytes=100, quota_bytes=None, keep=(), prefer={1, 2}
    )
    assert (choice.seqs, choice.ok) == ([], True)


@pytest.fixture
def card(tmp_path):
    with tmpfs(tmp_path / "card", CARD_BYTES) as mount:
        yield mount


def test_a_full_card_deletes_the_uploaded_loop_clips_before_older_ones(card, noise_mp4):  # noqa: F811
    with Appliance(card, camera=ReplayCamera(noise_mp4), min_free_bytes=RESERVE_BYTES) as app:
        lib = app.library
        first, second, third = (s.seq for s in app.wait_segments(3)[:3])
        log = UploadLog(card / "DCIM" / "UPLOADED")
        log.add(second)
        log.add(third)
        lib.uploaded = log  # as the App sets it

        def present(seq: int) -> bool:
            try:
                lib.get(seq)
            except NotFound:
                return False
            return True

        seen = {"first kept, uploaded gone": False, "wrong order": False}

        def look() -> bool:
            one, two, three = present(first), present(second), present(third)
            if not one and (two or three):
                seen["wrong order"] = True
            if one and not two and not three:
                seen["first kept, uploaded gone"] = True
            return not one

        assert wait_until(look, timeout_s=60, interval_s=0.002), "the card never wrapped"
        assert not seen["wrong order"], "an older clip went while an uploaded one stayed"
        assert seen["first kept, uploaded gone"]
        assert app.controller.state is State.RECORDING
        assert log.done() == {second, third}  # the log stays: the seqs are never reused
