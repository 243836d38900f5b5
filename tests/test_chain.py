"""Tamper-evident clips: each closed segment hashed, chained and signed off the recorder's
thread, and ``dashcam verify`` says offline whether files are unchanged, in order and from
which device, naming the file and what broke: a changed byte, a dropped segment, a
reordered pair. A power cut leaves the chain whole: a recovered clip is chained, marked
recovered; a clip closed but not sealed before the cut is sealed at the next start."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from appliance.chain import (
    CHAIN_FILE,
    ChainFile,
    create_key,
    file_sha256,
    load_key,
    make_link,
    parse_link,
    public_path,
    read_links,
    signature_ok,
)
from appliance.states import Event, State
from tests.harness import Appliance, PowerCutModel, camera_packets, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def verify(*paths, key=None) -> subprocess.CompletedProcess:
    """``dashcam verify`` in a child process, as a third party runs it."""
    args = [sys.executable, "-m", "hw.cli", "verify", *map(str, paths)]
    if key is not None:
        args += ["--key", str(key)]
    return subprocess.run(
        args, capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ}
    )


def record(root, key, segments: int) -> list:
    """Record ``segments`` one-second clips, each sealed; returns them (closed, in order)."""
    with Appliance(root, segment_seconds=1.0, seal_key=key, provenance=False) as app:
        assert app.controller.wait_for_state(State.RECORDING)
        app.wait_segments(segments)
        app.controller.post(Event.STOP_RECORDING)
        assert app.controller.wait_for_state(State.IDLE)
        assert app.sealer.wait_idle(20)
    return app.segments


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    folder = tmp_path_factory.mktemp("key")
    return create_key(str(folder / "device-key.pem"))


@pytest.fixture(scope="module")
def sealed_card(tmp_path_factory, device):
    root = tmp_path_factory.mktemp("sealed") / "card"
    clips = record(root, device, 4)
    return root, [c.path for c in clips]


def copy_card(sealed_card, tmp_path):
    root, paths = sealed_card
    dest = tmp_path / "card"
    shutil.copytree(root, dest)
    return dest, [str(dest / os.path.relpath(p, root)) for p in paths]


def test_the_key_is_the_service_users_alone_and_its_public_half_is_exported(tmp_path) -> None:
    path = str(tmp_path / "keys" / "device-key.pem")
    key = create_key(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(public_path(path)).st_mode & 0o777 == 0o644
    assert load_key(path).id == key.id
    with pytest.raises(FileExistsError):
        create_key(path)  # never over a device's key
    link = make_link(key, {"n": 1, "seq": 1, "sha256": "00" * 32})
    assert signature_ok(link.fields)
    forged = dict(link.fields, sha256="11" * 32)
    assert not signature_ok(forged)


def test_every_closed_clip_is_chained_signed_and_its_link_lies_beside_it(sealed_card) -> None:
    root, paths = sealed_card
    links = list(read_links(str(root / "DCIM" / CHAIN_FILE)))
    assert [link.fields["file"] for link in links] == [os.path.basename(p) for p in paths]
    assert [link.fields["n"] for link in links] == list(range(1, len(paths) + 1))
    assert links[0].fields["prev"] == "0" * 64
    for before, after in zip(links, links[1:], strict=False):
        assert after.fields["prev"] == before.hash
    for path, link in zip(paths, links, strict=True):
        assert signature_ok(link.fields)
        with open(os.path.splitext(path)[0] + ".chain", "rb") as fh:
            assert parse_link(fh.read()).line == link.line
        assert not link.fields.get("recovered")


def test_verify_passes_on_untouched_files_and_names_the_device(sealed_card, device) -> None:
    _, paths = sealed_card
    done = verify(*paths)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("OK  ") == len(paths)
    assert f"signed by device {device.id}" in done.stdout
    assert "all unchanged and in order" in done.stdout


def test_verify_fails_on_one_changed_byte_naming_the_file(sealed_card, tmp_path) -> None:
    _, paths = copy_card(sealed_card, tmp_path)
    changed = paths[1]
    size = os.path.getsize(changed)
    with open(changed, "r+b") as fh:  # one byte in the middle of the video
        fh.seek(size // 2)
        byte = fh.read(1)
        fh.seek(size // 2)
        fh.write(bytes([byte[0] ^ 0x01]))
    done = verify(*paths)
    assert done.returncode == 1
    assert f"FAIL {changed}" in done.stdout
    assert "CHANGED" in done.stdout
    assert "NOT VERIFIED" in done.stdout
    for other in (paths[0], paths[2], paths[3]):
        assert f"OK   {other}" in done.stdout


def test_verify_fails_on_a_dropped_segment_naming_it(sealed_card) -> None:
    _, paths = sealed_card
    done = verify(paths[0], paths[1], paths[3])  # the third left out
    assert done.returncode == 1
    assert f"FAIL {paths[3]}" in done.stdout
    assert "DROPPED SEGMENT" in done.stdout
    assert os.path.basename(paths[2]) in done.stdout  # the one missing, named


def test_verify_fails_on_a_reordered_pair(sealed_card) -> None:
    _, paths = sealed_card
    done = verify(paths[0], paths[2], paths[1], paths[3])
    assert done.returncode == 1
    assert f"FAIL {paths[1]}" in done.stdout
    assert "REORDERED" in done.stdout


def test_a_forged_link_or_another_devices_key_fails(sealed_card, tmp_path, device) -> None:
    root, paths = copy_card(sealed_card, tmp_path)
    # Someone edits a clip and rewrites its link to match: the signature no longer holds.
    with open(paths[0], "ab") as fh:
        fh.write(b"\0")
    sidecar = os.path.splitext(paths[0])[0] + ".chain"
    with open(sidecar, "rb") as fh:
        link = parse_link(fh.read())
    digest, size = file_sha256(paths[0])
    forged = dict(link.fields, sha256=digest, bytes=size)
    with open(sidecar, "wb") as fh:
        fh.write(json.dumps(forged, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    os.unlink(root / "DCIM" / CHAIN_FILE)
    done = verify(paths[0])
    assert done.returncode == 1 and "no valid signature" in done.stdout
    # The right files, but checked against another device's key.
    other = create_key(str(tmp_path / "other.pem"))
    done = verify(paths[2], key=public_path(str(tmp_path / "other.pem")))
    assert done.returncode == 1 and "not a trusted key" in done.stdout
    assert other.id != device.id


def test_a_recovered_clip_is_chained_marked_recovered_and_the_chain_goes_on(
    sealed_card, tmp_path, device
) -> None:
    """A power cut left a partial (what fdatasync had made durable 2.5 s into it): at the
    next start it is recovered, chained after the clips before it and marked recovered,
    and the clips recorded after it follow it in the chain."""
    root, paths = copy_card(sealed_card, tmp_path)
    info, packets = camera_packets(3.0)
    model = PowerCutModel(tmp_path, info, packets)
    with open(root / "DCIM" / "SEQUENCE") as fh:
        seq = int(fh.read())
    day = os.path.basename(os.path.dirname(paths[-1]))
    partial = root / "DCIM" / "LOOP" / day / f"{seq:08d}_20261122-081500.mp4.partial"
    partial.write_bytes(model.durable_at(model.written_at(2.5)))
    with open(root / "DCIM" / "SEQUENCE", "w") as fh:
        fh.write(f"{seq + 1}\n")
    later = record(root, device, 2)
    recovered = str(partial)[: -len(".partial")]
    assert os.path.exists(recovered)
    links = list(read_links(str(root / "DCIM" / CHAIN_FILE)))
    names = [link.fields["file"] for link in links]
    assert names[len(paths)] == os.path.basename(recovered)
    assert links[len(paths)].fields["recovered"] is True
    assert names[len(paths) + 1 :][:2] == [os.path.basename(c.path) for c in later][:2]
    done = verify(*paths, recovered, *[c.path for c in later])
    assert done.returncode == 0, done.stdout
    assert "recovered after a power cut" in done.stdout


def test_a_clip_closed_but_not_sealed_before_a_cut_is_sealed_late(
    sealed_card, tmp_path, device
) -> None:
    root, paths = copy_card(sealed_card, tmp_path)
    # Recorded with no sealer running: closed, indexed, never sealed (a cut right after).
    with Appliance(root, segment_seconds=1.0, provenance=False) as app:
        assert app.controller.wait_for_state(State.RECORDING)
        app.wait_segments(1)
        app.controller.post(Event.STOP_RECORDING)
        assert app.controller.wait_for_state(State.IDLE)
    unsealed = [c.path for c in app.segments]
    assert not any(os.path.exists(os.path.splitext(p)[0] + ".chain") for p in unsealed)
    with Appliance(root, autostart=False, seal_key=device) as again:
        assert wait_until(lambda: os.path.exists(os.path.splitext(unsealed[-1])[0] + ".chain"))
    links = list(read_links(str(root / "DCIM" / CHAIN_FILE)))[len(paths) :]
    assert [link.fields["file"] for link in links] == [os.path.basename(p) for p in unsealed]
    assert all(link.fields["late"] is True for link in links)
    assert again.sealer.sealed == len(unsealed)
    done = verify(*paths, *unsealed)
    assert done.returncode == 0, done.stdout
    assert "sealed at a later start" in done.stdout


def test_a_torn_last_line_of_the_chain_is_cut_and_the_chain_goes_on(tmp_path, device) -> None:
    path = str(tmp_path / CHAIN_FILE)
    chain = ChainFile(path)
    chain.load()
    first = make_link(device, {"n": chain.next_n, "seq": 1, "prev": chain.prev})
    chain.append(first)
    with open(path, "ab") as fh:
        fh.write(b'{"n":2,"seq":2,"pre')  # a power cut in the middle of the next append
    again = ChainFile(path)
    assert again.load().line == first.line
    assert again.next_n == 2 and again.prev == first.hash
    with open(path, "rb") as fh:
        assert fh.read() == first.line + b"\n"


def test_the_sidecars_and_links_go_with_a_protected_clip(sealed_card, tmp_path) -> None:
    from appliance.library import Library

    root, paths = copy_card(sealed_card, tmp_path)
    library = Library(root, min_free_bytes=0, min_free_percent=0.0)
    library.scan()
    seq = int(os.path.basename(paths[1])[:8])
    moved = library.protect(seq)
    assert os.path.exists(moved.sidecar(".chain"))
    assert not glob.glob(os.path.splitext(paths[1])[0] + ".*")
    done = verify(paths[0], moved.path, paths[2])
    assert done.returncode == 0, done.stdout
