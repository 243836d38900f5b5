"""The card's folders, health and sequence numbers; the small-file helpers under them."""

from __future__ import annotations

import errno
import os

import pytest

from appliance.card.files import read_small_file, write_atomic
from appliance.card.volume import Card
from appliance.errors import StorageFull
from appliance.ports import DiskUsage, FileSystem


def disk(path: str) -> DiskUsage:
    return DiskUsage(1000, 1000)


class FullCard(FileSystem):
    """A card that fills up on demand: the sync reports ENOSPC."""

    def __init__(self) -> None:
        self.full = False

    def sync(self, fd: int) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().sync(fd)


@pytest.fixture
def fs() -> FullCard:
    return FullCard()


@pytest.fixture
def card(tmp_path, fs) -> Card:
    card = Card(str(tmp_path / "card"), fs, disk)
    card.identity = card.make_layout()
    return card


def test_numbers_are_persisted_before_use_and_never_go_back(tmp_path, card, fs):
    assert card.resume_sequence(-1) == 1
    assert [card.allocate() for _ in range(3)] == [1, 2, 3]
    assert read_small_file(card.sequence_path) == "4\n"
    again = Card(card.root, fs, disk)
    again.make_layout()
    assert again.resume_sequence(highest_seen=2) == 4  # the file wins over the card
    assert again.resume_sequence(highest_seen=9) == 10  # a higher number on the card wins
    (tmp_path / "card" / "DCIM" / "SEQUENCE").write_text("garbage")
    assert again.resume_sequence(highest_seen=0) == 10  # never back, even with a bad file


def test_a_full_card_refuses_a_number_and_keeps_it(card, fs):
    card.resume_sequence(-1)
    fs.full = True
    with pytest.raises(StorageFull):
        card.allocate()
    fs.full = False
    assert card.allocate() == 1


def test_a_swapped_folder_is_noticed(tmp_path, card):
    card.check_same()
    assert card.is_same()
    os.rename(card.dcim_dir, tmp_path / "old")
    os.mkdir(card.dcim_dir)
    assert not card.is_same()
    with pytest.raises(OSError, match="changed"):
        card.check_same()


def test_a_photo_that_fails_leaves_nothing(card, fs):
    folder = os.path.join(card.photo_dir, "2024-05-01")
    card.mkdir_day(folder)
    final = os.path.join(folder, "00000001_20240501-120000.jpg")
    fs.full = True
    with pytest.raises(StorageFull):
        card.write_photo(final + ".partial", final, b"jpeg", card.thumb_path(1), b"thumb")
    assert os.listdir(folder) == [] and os.listdir(card.thumb_dir) == []


def test_a_day_folder_replaces_a_planted_link(tmp_path, card):
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = os.path.join(card.loop_dir, "2024-05-01")
    os.symlink(outside, folder)
    card.mkdir_day(folder)
    assert os.path.isdir(folder) and not os.path.islink(folder)


@pytest.mark.parametrize("content", [b"x" * 70_000, "é".encode()])
def test_a_small_file_too_large_or_not_ascii_is_refused(tmp_path, content):
    path = tmp_path / "f"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        read_small_file(str(path))


def test_an_atomic_write_never_writes_through_a_link(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("keep")
    path = tmp_path / "f"
    os.symlink(outside, str(path) + ".tmp")
    os.symlink(outside, path)
    write_atomic(FileSystem(), str(path), b"new")
    assert outside.read_text() == "keep"
    assert not path.is_symlink() and path.read_bytes() == b"new"
