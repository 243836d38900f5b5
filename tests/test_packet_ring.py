"""The parking pre-roll ring: whole GOPs, the pre-roll kept, never past its bound."""

import random

import pytest

from appliance.packet_ring import PacketRing, ring_bounds
from appliance.ports import PTS_PER_SECOND, EncodedPacket


def feed(fps, seconds, *, gop_s=1.0, size=lambda n: 500, keyframe=None, start_index=0):
    """Packets of a stream at ``fps``: a keyframe every ``gop_s`` unless ``keyframe(n)`` says."""
    gop = max(1, round(gop_s * fps))
    for n in range(start_index, start_index + int(seconds * fps)):
        kf = (n % gop == 0) if keyframe is None else keyframe(n)
        yield EncodedPacket(b"x" * size(n), n * PTS_PER_SECOND // fps, kf, n)


def test_the_ring_never_grows_past_its_bound():
    rng = random.Random(23)
    max_bytes, max_packets = ring_bounds(preroll_s=10.0, bitrate=1_000_000, fps=5)
    ring = PacketRing(11.0, max_bytes, max_packets)

    def size(n):  # mostly on budget; spikes of 20x for a few seconds now and then
        base = 1_000_000 // 8 // 5
        spike = 20 if (n // 50) % 7 == 3 else 1
        return int(base * spike * rng.uniform(0.2, 1.8))

    def keyframe(n):  # a keyframe a second, but none at all from 3000 to 4000
        return n % 5 == 0 and not 3000 <= n < 4000

    most_bytes = most_packets = 0
    for packet in feed(5, 1200, size=size, keyframe=keyframe):
        ring.push(packet)
        most_bytes, most_packets = max(most_bytes, ring.bytes), max(most_packets, len(ring))
        held = ring.held()
        assert not held or held[0].keyframe, "the ring must start at a keyframe"
        assert sum(len(p.data) for p in held) == ring.bytes and len(held) == len(ring)
    assert most_bytes <= max_bytes
    assert most_packets <= max_packets
    assert ring.dropped_early > 0  # the spikes and the long GOP did reach the bound


def test_the_packet_bound_holds_with_tiny_packets():
    ring = PacketRing(10.0, 10**9, 40)
    most = 0
    for packet in feed(30, 60, size=lambda n: 1):
        ring.push(packet)
        most = max(most, len(ring))
    assert most <= 40
    assert len(ring) > 0


def test_the_ring_keeps_the_preroll_from_a_keyframe_and_drops_the_rest():
    max_bytes, max_packets = ring_bounds(10.0, 1_000_000, 5)
    ring = PacketRing(10.0, max_bytes, max_packets)
    for packet in feed(5, 60, size=lambda n: 2000):
        ring.push(packet)
    held = ring.held()
    newest = held[-1]
    assert held[0].keyframe
    assert newest.pts_us - held[0].pts_us >= 10 * PTS_PER_SECOND
    assert newest.pts_us - held[0].pts_us < 11 * PTS_PER_SECOND  # one GOP more at most
    assert [p.frame_index for p in held] == list(range(held[0].frame_index, newest.frame_index + 1))
    assert ring.dropped_early == 0


def test_since_starts_at_the_newest_keyframe_old_enough_for_the_anchor():
    ring = PacketRing(16.0, 10**9, 10**6)
    for packet in feed(10, 30):
        ring.push(packet)
    anchor_us = 25_300_000  # a trigger at 25.3 s: 10 s before it is 15.3 s -> keyframe 15 s
    held = ring.since(anchor_us, 10.0)
    assert held[0].keyframe and held[0].pts_us == 15 * PTS_PER_SECOND
    assert held[-1].frame_index == 299
    last = ring.from_last_keyframe()
    assert last[0].pts_us == 29 * PTS_PER_SECOND and last[0].keyframe and len(last) == 10


def test_packets_before_the_first_keyframe_are_not_kept():
    ring = PacketRing(5.0, 10**6, 100)
    for packet in feed(5, 2, keyframe=lambda n: n == 7):
        ring.push(packet)
    held = ring.held()
    assert [p.frame_index for p in held] == [7, 8, 9]


def test_bounds_are_checked():
    with pytest.raises(ValueError):
        PacketRing(10.0, 0, 10)
