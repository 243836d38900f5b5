"""The parking pre-roll: a RAM ring of encoded packets, whole GOPs, with a hard bound.

While the car is parked nothing is written; the camera's packets go into a
:class:`PacketRing`. It keeps the packets from the newest keyframe that is at least
``keep_s`` older than the newest packet (so a clip can start ``keep_s`` before now, at a
keyframe), and never more than ``max_bytes`` or ``max_packets``: past either bound whole
GOPs go from the front. A GOP that alone passes the bound (no keyframe for long) is dropped
whole, and packets are then skipped until the next keyframe: the ring always starts at a
keyframe, so whatever it hands out decodes.

Not thread-safe: one owner (the parking gate, under its lock).
"""

from __future__ import annotations

import math
from collections import deque

from appliance.ports import PTS_PER_SECOND, EncodedPacket

#: Seconds kept on top of the pre-roll in the byte and packet bounds (a keyframe interval
#: or two, and the time a trigger takes to reach the camera thread).
BOUND_MARGIN_S = 3.0
#: The byte bound allows the encoder this many times its target bit rate (a busy scene,
#: keyframes).
BITRATE_HEADROOM = 2.0


def ring_bounds(
    preroll_s: float, bitrate: int, fps: int, margin_s: float = BOUND_MARGIN_S
) -> tuple[int, int]:
    """The ``(max_bytes, max_packets)`` of a ring holding ``preroll_s`` at ``bitrate`` (bit/s)
    and ``fps``, with ``margin_s`` and :data:`BITRATE_HEADROOM` to spare."""
    span_s = preroll_s + margin_s
    max_bytes = int(bitrate / 8 * span_s * BITRATE_HEADROOM)
    max_packets = math.ceil(fps * span_s * BITRATE_HEADROOM)
    return max_bytes, max_packets


class PacketRing:
    """The newest packets, from a keyframe, within a byte and a packet bound.

    Args:
        keep_s: Keep the packets from the newest keyframe at least this much older than
            the newest packet.
        max_bytes: Most payload bytes held (see :func:`ring_bounds`).
        max_packets: Most packets held.

    Raises:
        ValueError: A bound is not positive, or ``keep_s`` is negative.
    """

    def __init__(self, keep_s: float, max_bytes: int, max_packets: int) -> None:
        if keep_s < 0 or max_bytes < 1 or max_packets < 1:
            raise ValueError(
                f"keep_s >= 0 and positive bounds wanted, got {keep_s!r}, {max_bytes!r}, "
                f"{max_packets!r}"
            )
        self.keep_us = int(keep_s * PTS_PER_SECOND)
        self.max_bytes = max_bytes
        self.max_packets = max_packets
        self._gops: deque[list[EncodedPacket]] = deque()
        self._gop_bytes: deque[int] = deque()
        self.bytes = 0
        self.packets = 0
        #: Packets dropped because a bound was reached before ``keep_s`` was held (a busy
        #: scene over the budget, or no keyframe for long): the pre-roll is shorter then.
        self.dropped_early = 0

    def __len__(self) -> int:
        return self.packets

    @property
    def span_s(self) -> float:
        """Seconds from the first packet held to the newest (0 when empty)."""
        if not self._gops:
            return 0.0
        return (self._gops[-1][-1].pts_us - self._gops[0][0].pts_us) / PTS_PER_SECOND

    def push(self, packet: EncodedPacket) -> None:
        """Add the newest packet, then drop whole GOPs from the front as the bounds say."""
        size = len(packet.data)
        if packet.keyframe:
            self._gops.append([packet])
            self._gop_bytes.append(size)
        elif self._gops:
            self._gops[-1].append(packet)
            self._gop_bytes[-1] += size
        else:
            return  # no keyframe to start from: nothing before one decodes
        self.bytes += size
        self.packets += 1
        self._trim(packet.pts_us)

    def _trim(self, newest_us: int) -> None:
        gops = self._gops
        # Time: the second GOP's keyframe is old enough alone; the first is not needed.
        while len(gops) > 1 and newest_us - gops[1][0].pts_us >= self.keep_us:
            self._drop_front(early=False)
        # Bounds: whole GOPs from the front, the newest too if it alone is too large.
        while gops and (self.bytes > self.max_bytes or self.packets > self.max_packets):
            self._drop_front(early=True)

    def _drop_front(self, early: bool) -> None:
        gop = self._gops.popleft()
        self.bytes -= self._gop_bytes.popleft()
        self.packets -= len(gop)
        if early:
            self.dropped_early += len(gop)

    def clear(self) -> None:
        """Forget every packet."""
        self._gops.clear()
        self._gop_bytes.clear()
        self.bytes = 0
        self.packets = 0

    def since(self, anchor_us: int | None, before_s: float) -> list[EncodedPacket]:
        """The packets from the newest keyframe at least ``before_s`` before ``anchor_us``
        (the oldest keyframe held if none is that old), to the newest packet.

        ``anchor_us`` None: the newest packet's time.
        """
        if not self._gops:
            return []
        if anchor_us is None:
            anchor_us = self._gops[-1][-1].pts_us
        limit_us = anchor_us - int(before_s * PTS_PER_SECOND)
        start = 0
        for n, gop in enumerate(self._gops):
            if gop[0].pts_us <= limit_us:
                start = n
            else:
                break
        return [p for gop in list(self._gops)[start:] for p in gop]

    def held(self) -> list[EncodedPacket]:
        """Every packet held, oldest first (from a keyframe)."""
        return [p for gop in self._gops for p in gop]

    def from_last_keyframe(self) -> list[EncodedPacket]:
        """The packets from the newest keyframe held to the newest packet."""
        return list(self._gops[-1]) if self._gops else []
