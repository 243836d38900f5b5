"""Motion while parked: block differencing that ignores noise, flicker and the bonnet."""

import time

import numpy as np
import pytest

from appliance.motion import MotionDetector

H, W = 90, 160


def scene(rng):
    """A still street: a gradient with some structure (a building, a kerb)."""
    y = np.linspace(40, 200, H, dtype=np.float32)[:, None]
    x = np.linspace(-20, 20, W, dtype=np.float32)[None, :]
    base = y + x
    base[20:50, 100:140] = 90  # a building
    base[70:74, :] = 220  # a kerb
    return base


def frame(base, rng, *, gain=1.0, offset=0.0, noise=4.0):
    picture = base * gain + offset + rng.normal(0.0, noise, base.shape)
    return np.clip(picture, 0, 255).astype(np.uint8)


def run(detector, frames):
    return [detector.feed(f) for f in frames]


def test_a_still_noisy_scene_triggers_nothing():
    rng = np.random.default_rng(1)
    base = scene(rng)
    for sensitivity in (0.0, 0.5, 1.0):
        detector = MotionDetector(sensitivity)
        assert not any(run(detector, (frame(base, rng, noise=6.0) for _ in range(300))))


def test_a_flickering_light_and_exposure_steps_trigger_nothing():
    rng = np.random.default_rng(2)
    base = scene(rng)
    detector = MotionDetector(1.0)  # the most sensitive
    frames = []
    for n in range(300):
        gain = 1.0 + 0.25 * np.sin(n * 1.3)  # a light flickering with the mains, aliased
        offset = 15.0 if (n // 40) % 2 else -15.0  # the exposure stepping
        frames.append(frame(base, rng, gain=gain, offset=offset))
    assert not any(run(detector, frames))


def test_motion_in_the_masked_bonnet_band_triggers_nothing():
    rng = np.random.default_rng(3)
    base = scene(rng)
    detector = MotionDetector(1.0, mask_bottom_percent=25.0)
    frames = []
    for n in range(200):  # a bright reflection sweeping along the bonnet (bottom 20 %)
        picture = base.copy()
        x = (n * 3) % (W - 30)
        picture[H - 18 :, x : x + 30] = 250
        frames.append(frame(picture, rng))
    assert not any(run(detector, frames))
    # The same movement above the band is seen.
    unmasked = MotionDetector(1.0)
    assert any(run(unmasked, frames))


@pytest.mark.parametrize("sensitivity", [0.0, 0.5, 1.0])
def test_an_object_entering_triggers_after_it_persists(sensitivity):
    rng = np.random.default_rng(4)
    base = scene(rng)
    detector = MotionDetector(sensitivity)
    results = run(detector, (frame(base, rng) for _ in range(50)))
    assert not any(results)
    seen = []
    for n in range(30):  # a person (dark, 24 x 40 px) walking in from the left
        picture = base.copy()
        x = n * 4
        picture[30:70, x : x + 24] = 20
        seen.append(detector.feed(frame(picture, rng)))
    first = seen.index(True)
    assert 1 <= first <= 6, seen  # not on the first frame (it must persist), but soon


def test_a_small_object_triggers_only_a_sensitive_detector():
    rng = np.random.default_rng(5)
    base = scene(rng)
    calm, keen = MotionDetector(0.0), MotionDetector(1.0)
    frames = [frame(base, rng) for _ in range(20)]
    for n in range(20):  # a cat: 12 x 10 px, moving slowly
        picture = base.copy()
        picture[55:65, 20 + n : 32 + n] = picture[55:65, 20 + n : 32 + n] - 60
        frames.append(frame(picture, rng))
    assert not any(run(calm, frames))
    assert any(run(keen, frames))


def test_a_bad_frame_is_refused():
    with pytest.raises(ValueError):
        MotionDetector().feed(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError):
        MotionDetector(sensitivity=2.0)


def test_cost_per_frame_at_160x90(record_property):
    rng = np.random.default_rng(6)
    base = scene(rng)
    frames = [frame(base, rng) for _ in range(50)]
    detector = MotionDetector(0.5)
    run(detector, frames)  # warm up
    start = time.perf_counter()
    for _ in range(10):
        run(detector, frames)
    per_frame_us = (time.perf_counter() - start) / 500 * 1e6
    record_property("motion_us_per_frame", round(per_frame_us, 1))
    print(f"motion detector: {per_frame_us:.1f} us per 160x90 frame")
    assert per_frame_us < 5000  # well under a frame interval even on a slow machine
