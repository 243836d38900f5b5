"""The appliance as a whole: its clock, restart and shutdown, the login session."""

from __future__ import annotations

import logging
import math

import falcon

from appliance.clock_policy import forward_step
from appliance.states import PowerRequest
from web.security import SESSION_COOKIE
from web.spec import ACCEPTED, Deps, Reply, operation

log = logging.getLogger(__name__)

#: Earliest and latest clock a phone may set (2020-01-01, 2100-01-01).
CLOCK_RANGE_MS = (1_577_836_800_000, 4_102_444_800_000)
SET_CLOCK = {
    "type": "object",
    "required": ["epoch_ms"],
    "additionalProperties": False,
    "properties": {
        "epoch_ms": {"type": "integer", "minimum": CLOCK_RANGE_MS[0], "maximum": CLOCK_RANGE_MS[1]}
    },
}
LOGIN = {
    "type": "object",
    "additionalProperties": False,
    # Any value is taken: one that is not the password (a number too) is a wrong password,
    # counted by the login throttle like any other.
    "properties": {"password": {"description": "The access password (a string)"}},
}

SESSION = {
    "type": "object",
    "required": ["password"],
    "properties": {
        "password": {"type": "boolean", "description": "True if logging in is needed (and done)"}
    },
}


class Clock:
    """``/api/system/clock``: move the appliance's clock forward to the phone's.

    A Pi has no real-time clock; without network time it boots with an old date. The
    clock policy (:func:`appliance.clock_policy.forward_step`, the GPS's too) says whether
    the phone's clock is taken: only ahead, never back, so names and days stay in order.
    """

    def __init__(self, deps: Deps) -> None:
        self.controller = deps.controller
        self.set_clock = deps.set_clock

    @operation(
        "Move the clock forward to the phone's (never back)",
        {200: Reply("Done (or not needed)", {"type": "object"})},
        body=SET_CLOCK,
        errors=(500, 501),
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        epoch_ms = req.context.body["epoch_ms"]
        if self.set_clock is None:
            raise falcon.HTTPNotImplemented(description="this appliance cannot set its clock")
        now_s = self.controller.clock.wall()
        behind_s = epoch_ms / 1000 - now_s
        changed = forward_step(epoch_ms / 1000, now_s) is not None
        if changed:
            log.info("clock set forward by %.1f s from the dashboard", behind_s)
            try:
                self.set_clock(epoch_ms / 1000)
            except Exception as exc:  # noqa: BLE001 - reported to the phone, not fatal
                log.error("setting the clock failed: %s", exc)
                raise falcon.HTTPInternalServerError(
                    description=f"the clock could not be set: {exc}"
                ) from None
        resp.media = {
            "changed": changed,
            "behind_s": round(behind_s, 3),
            "clock_ms": int(self.controller.clock.wall() * 1000),
        }


class Power:
    """``/api/system/restart`` and ``/api/system/shutdown``: a safe shutdown, then the action.

    One event to the controller, the request its detail
    (:meth:`Controller.request_power`): its power-off step performs it once the open
    segment is closed and synced. The answer does not wait for it.
    """

    def __init__(self, deps: Deps) -> None:
        self.controller = deps.controller
        self.power = deps.power

    def _go(self, resp: falcon.Response, action: str) -> None:
        if not self.power:
            raise falcon.HTTPNotImplemented(description=f"this appliance cannot {action}")
        self.controller.request_power(PowerRequest(action))
        resp.status = falcon.HTTP_202
        resp.media = {"action": action}

    @operation("Safe shutdown, then restart", {202: ACCEPTED}, errors=(501,))
    def on_post_restart(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._go(resp, "restart")

    @operation("Safe shutdown, then power off", {202: ACCEPTED}, errors=(501,))
    def on_post_shutdown(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._go(resp, "shutdown")


class Session:
    """``/api/session``: log in with the access password (POST), log out (DELETE), whether a
    password is set (GET).

    Wrong passwords from one address are slowed down (the guard's login throttle): past
    the free tries the answer is 429 with Retry-After, and the password is not even
    looked at until the wait is over.
    """

    def __init__(self, deps: Deps) -> None:
        self.guard = deps.guard

    @operation(
        "Log in with the access password",
        {204: Reply("Logged in; the session cookie is set")},
        body=LOGIN,
        errors=(401, 429),  # 401: a wrong password
        public=True,
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        client = req.remote_addr or ""
        throttle = self.guard.throttle
        wait_s = throttle.wait_s(client)
        if wait_s > 0:
            raise _too_many(wait_s)
        password = self.guard.password
        if not self.guard.check_password(req.context.body.get("password")):
            wait_s = throttle.failed(client)
            if wait_s > 0:
                raise _too_many(wait_s, "wrong password; ")
            raise falcon.HTTPUnauthorized(
                description="wrong password", challenges=['Cookie realm="dashcam"']
            )
        throttle.succeeded(client)
        resp.set_cookie(
            SESSION_COOKIE,
            self.guard.sessions.new(password),
            max_age=int(self.guard.sessions.max_s),
            secure=False,  # plain HTTP on the car's Wi-Fi; the cookie is HttpOnly + Strict
            http_only=True,
            same_site="Strict",
            path="/",
        )
        resp.status = falcon.HTTP_204

    @operation(
        "Whether a password guards the dashboard (then this session is logged in)",
        {200: Reply("The session", SESSION)},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"password": self.guard.password is not None}
        resp.cache_control = ["no-store"]

    @operation("Log out", {204: Reply("Logged out")})
    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        token = (req.get_cookie_values(SESSION_COOKIE) or [None])[0]
        self.guard.sessions.drop(token)
        resp.unset_cookie(SESSION_COOKIE, path="/", same_site="Strict")
        resp.status = falcon.HTTP_204


def _too_many(wait_s: float, prefix: str = "") -> falcon.HTTPTooManyRequests:
    retry_s = max(1, math.ceil(wait_s))
    return falcon.HTTPTooManyRequests(
        description=f"{prefix}too many wrong passwords: try again in {retry_s} s",
        retry_after=retry_s,
    )
