"""The running settings, published once to the parts that follow them live.

The settings change (:mod:`appliance.settings_change`) and the card fit at start
(``hw/app.py``) publish a config here, through :meth:`LiveSettings.publish` (so does
:meth:`appliance.controller.Controller.apply_config`); the parts that apply a live key
subscribe and take what they need from it themselves: the controller and its recorder
(``segment_seconds``), the library's storage policy (the reserve and the quotas), the
panel's LED (``led_brightness``) and the preview hub (``preview_max_viewers``). No part
sets another part's fields.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

from appliance.config import Config, settable

log = logging.getLogger(__name__)

#: A part that follows the live settings: called with each running config published.
Follower = Callable[[Config], None]


class LiveSettings:
    """The running config and the parts that follow it.

    Args:
        config: The config the appliance started with.
    """

    def __init__(self, config: Config) -> None:
        self._current = config
        self._lock = threading.Lock()  # the current config and the followers
        self._publishing = threading.Lock()  # one publication at a time, in order
        self._followers: list[Follower] = []

    @property
    def current(self) -> Config:
        """The running config (the last one published)."""
        with self._lock:
            return self._current

    def subscribe(self, follower: Follower) -> Callable[[], None]:
        """Call ``follower`` with every config published from now on, in subscription order.

        It is not called now: a part takes its first values from :attr:`current` (or its
        constructor's arguments). It may raise (a part that cannot apply a value): see
        :meth:`publish`.

        Returns:
            A function that unsubscribes.
        """
        with self._lock:
            self._followers.append(follower)

        def unsubscribe() -> None:
            with self._lock:
                if follower in self._followers:
                    self._followers.remove(follower)

        return unsubscribe

    def live_part(self, config: Config) -> Config:
        """The running config with ``config``'s live keys (:func:`appliance.config.settable`);
        every other key keeps its running value until the next start."""
        live = {key: getattr(config, key) for key, now in settable().items() if now}
        return dataclasses.replace(self.current, **live)

    def publish(self, config: Config) -> Config:
        """Make the live keys of ``config`` the running ones and hand the result to every
        follower, in order.

        Returns:
            The running config now.

        Raises:
            Exception: the first follower's error; the followers after it are not called
                and the new config stays the current one: the caller puts the old one back
                with :meth:`restore`.
        """
        with self._publishing:
            running = self.live_part(config)
            with self._lock:
                self._current = running
                followers = list(self._followers)
            for follower in followers:
                follower(running)
            return running

    def restore(self, config: Config) -> None:
        """Put ``config`` back after a publication failed: every follower is called, each
        on its own (one that fails again is logged, the others still follow)."""
        with self._publishing:
            with self._lock:
                self._current = config
                followers = list(self._followers)
            for follower in followers:
                try:
                    follower(config)
                except Exception:  # noqa: BLE001 - the rest is still put back
                    log.exception("putting back the settings failed in %r", follower)
