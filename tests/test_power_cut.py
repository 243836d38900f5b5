"""A power cut, modelled by what ``fdatasync`` made durable, loses at most one keyframe
interval (plus a frame), at 50+ random moments; with late keyframes, at most the longest
fragment. A SIGKILL cannot show this: the kernel keeps what was written, synced or not."""

import random

import pytest

from tests.harness import PowerCutModel, camera_packets

CUTS = 60


@pytest.fixture(scope="module")
def one_second_gop():
    return camera_packets(8.0, keyframe_interval_s=1.0)


def test_a_power_cut_loses_at_most_one_keyframe_interval(tmp_path, one_second_gop):
    info, packets = one_second_gop
    model = PowerCutModel(tmp_path, info, packets)
    assert len(model.syncs) >= 7  # one per fragment
    span_s = (packets[-1].pts_us - packets[0].pts_us) / 1e6
    rng = random.Random(8)
    moments = [rng.uniform(0, span_s) for _ in range(CUTS)]
    # The worst moments too: just before each keyframe is written.
    moments += [(p.pts_us - packets[0].pts_us) / 1e6 - 1e-6 for p in packets if p.keyframe][1:]
    losses = [model.loss_s(t) for t in moments]
    worst = max(losses)
    print(f"power cut: {len(losses)} cuts, loss max {worst:.3f} s")
    assert worst <= 1.0 + model.frame_s + 1e-9, f"a cut lost {worst:.3f} s"
    # Cuts late in a fragment lose most of it: the model really does cut.
    assert worst >= 1.0 - 2 * model.frame_s


def test_late_keyframes_are_bounded_by_the_longest_fragment(tmp_path):
    info, packets = camera_packets(9.0, keyframe_interval_s=3.0)
    model = PowerCutModel(tmp_path, info, packets, max_fragment_s=1.5)
    span_s = (packets[-1].pts_us - packets[0].pts_us) / 1e6
    rng = random.Random(9)
    losses = [model.loss_s(rng.uniform(0, span_s)) for _ in range(CUTS)]
    assert max(losses) <= 1.5 + model.frame_s + 1e-9, f"a cut lost {max(losses):.3f} s"
