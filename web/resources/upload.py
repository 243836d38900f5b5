"""``/api/upload``: the upload at home, as the dashboard shows it, and its "upload now"."""

from __future__ import annotations

from typing import Any

import falcon

from web.spec import Deps, Reply, operation

STATES = ["off", "waiting", "uploading", "idle", "error"]
_TEXT = {"type": ["string", "null"]}
_COUNT = {"type": "integer", "minimum": 0}
UPLOAD = {
    "type": "object",
    "required": ["state", "remote", "device", "current", "sent_bytes", "total_bytes"]
    + ["pending", "uploaded", "last_error", "last_success_wall"],
    "properties": {
        "state": {"enum": STATES},
        "remote": {**_TEXT, "description": "The rclone remote and path (no secrets)"},
        "device": {**_TEXT, "description": "This camera's folder on the remote"},
        "current": {**_TEXT, "description": "The file being sent (its remote path)"},
        "sent_bytes": _COUNT,
        "total_bytes": _COUNT,
        "pending": {**_COUNT, "description": "Files still to send, at the last look"},
        "uploaded": {**_COUNT, "description": "Files sent in all"},
        "last_error": _TEXT,
        "last_success_wall": {
            "type": ["number", "null"],
            "description": "When the last file arrived (epoch seconds)",
        },
    },
}
_STATUS = Reply("The upload's state", UPLOAD)


class Upload:
    """``/api/upload``: the state; ``/api/upload/now``: look for files to send at once.

    Off (``upload_remote`` empty, or no rclone) reads as state ``off``; asking it to upload
    is then 409. The remote is shown as the config names it (``nas:dashcam/``): its
    secrets stay in rclone's own config file.
    """

    def __init__(self, deps: Deps) -> None:
        self.uploader = deps.upload
        self.controller = deps.controller

    @operation("The upload at home: state and progress", {200: _STATUS})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._status()
        resp.cache_control = ["no-store"]

    @operation("Upload now (look for files to send at once)", {202: _STATUS}, errors=(409,))
    def on_post_now(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.uploader is None:
            raise falcon.HTTPConflict(
                description="upload is off: set upload_remote in the config file and restart"
            )
        self.uploader.upload_now()
        resp.media = self._status()
        resp.status = falcon.HTTP_202

    def _status(self) -> dict[str, Any]:
        if self.uploader is None:
            return {
                "state": "off",
                "remote": self.controller.config.upload_remote or None,
                "device": None,
                "current": None,
                "sent_bytes": 0,
                "total_bytes": 0,
                "pending": 0,
                "uploaded": 0,
                "last_error": None,
                "last_success_wall": None,
            }
        s = self.uploader.status
        return {
            "state": s.state,
            "remote": self.controller.config.upload_remote,
            "device": self.uploader.prefix,
            "current": s.current,
            "sent_bytes": s.sent_bytes,
            "total_bytes": s.total_bytes,
            "pending": s.pending,
            "uploaded": s.uploaded,
            "last_error": s.last_error,
            "last_success_wall": s.last_success_wall,
        }
