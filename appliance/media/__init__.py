"""The MP4 files the appliance writes and reads, all by stream copy (no re-encode).

``segment`` writes a recording segment (fragmented MP4) and recovers one a crash left
open; ``header`` patches its length into the header once closed; ``fragments`` reads a
fragmented MP4's layout from its boxes; ``stream_copy`` makes the output stream a packet
is copied into on every supported PyAV; ``progressive`` serves a clip or an incident as
one ordinary MP4 that is never written; ``joined`` writes an incident as one plain MP4
with its evidence (what :mod:`appliance.export_service` hands out).
"""
