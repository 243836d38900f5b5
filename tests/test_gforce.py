"""An impact's G-force record: its samples (10 s before to 5 s after) beside the clip it
happened in, as CSV on the clip's time base, travelling with the clip and merged into an
incident's export on the export's time line."""

from __future__ import annotations

import os

import pytest

from appliance.gforce import HEADER, GForceRecorder, merged_csv, read_rows
from appliance.impact import SAMPLES_AFTER_S, ImpactDetector, ImpactWatcher
from appliance.incident import IncidentKind
from appliance.states import Event
from hw.gsensor import TraceAccelerometer
from tests.harness import Appliance, wait_until


def test_an_impacts_samples_lie_beside_its_clip_on_the_clips_time_base(tmp_path) -> None:
    with Appliance(tmp_path / "card") as app:
        ctl = app.controller
        app.wait_segments(1)
        gforce = GForceRecorder(app.library, ctl.recorder, ctl.clock).start()
        ctl.subscribe(gforce.on_status)
        impacts = []

        def on_impact(impact) -> None:
            rec = ctl.recorder.status
            impacts.append((impact, rec.seq, rec.segment_started_mono))
            ctl.post(Event.IMPACT, impact)

        source = TraceAccelerometer()
        watcher = ImpactWatcher(
            source, ImpactDetector(1.5), on_impact, on_samples=gforce.on_samples
        ).start()
        try:
            assert wait_until(lambda: watcher.detector.calibrated, timeout_s=10)
            source.play("crash")
            assert wait_until(lambda: gforce.written, timeout_s=SAMPLES_AFTER_S + 20)
        finally:
            watcher.close()
            gforce.close()
        (impact, seq, started), *_ = impacts
        (path,) = gforce.written
        item = app.library.get(seq)
        assert path == item.sidecar(".csv")  # beside the clip of the moment
        incident = app.library.incidents()[0]
        assert incident.kind is IncidentKind.IMPACT and seq in incident.clips
        with open(path, encoding="ascii") as fh:
            text = fh.read()
    assert text.startswith(HEADER)
    rows = read_rows(text)
    assert len(rows) >= SAMPLES_AFTER_S * 100 * 0.8  # 100 Hz
    times = [float(r[0]) for r in rows]
    assert times == sorted(times) and times[-1] >= impact.t_s - started + SAMPLES_AFTER_S - 0.1
    # The peak sits where the impact was, on the clip's time base (its first frame at 0).
    peak = max(rows, key=lambda r: float(r[5] or 0))
    assert float(peak[5]) == pytest.approx(impact.peak_g, abs=0.01)
    assert impact.t_s - started <= float(peak[0]) <= impact.t_s - started + 1.0
    assert rows[0][1].endswith("Z") and "T" in rows[0][1]  # its UTC time too
    assert os.path.basename(path) == os.path.splitext(item.name)[0] + ".csv"


def test_an_export_merges_the_records_on_its_time_line() -> None:
    first = HEADER + "-0.500,2026-11-22T07:15:00.000Z,0.0,0.0,1.0,0.01\n"
    second = HEADER + "0.250,2026-11-22T07:16:00.250Z,2.0,0.0,1.0,2.2\n"
    merged = merged_csv([(0.0, first), (60.0, second)])
    assert read_rows(merged) == [
        ["-0.500", "2026-11-22T07:15:00.000Z", "0.0", "0.0", "1.0", "0.01"],
        ["60.250", "2026-11-22T07:16:00.250Z", "2.0", "0.0", "1.0", "2.2"],
    ]
    assert merged_csv([]) is None
