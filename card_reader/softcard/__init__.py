"""The software My Number Card: a card OS answering APDUs, its issuer, and a vpcd bridge.

- ``card.SoftCard``: the card (``execute(apdu) -> response``), in memory or behind vpcd;
- ``profile``: the holder's profile (JSON) and the card's persistent state file;
- ``issuer.DevCardIssuer``: the development card-issuer CA that personalizes cards;
- ``faults.FaultyCard``: removal, delays and garbage answers for tests;
- ``quirks.QuirkyCard``: named ways a card may differ (``QUIRKS``), for the conformance probe;
- ``vpcd.VpcdBridge``: puts a card into pcscd's "Virtual PCD" reader;
- ``replay.ReplayCard``: answers as an APDU trace (``card_reader.trace``) says the card did.

Every behaviour the reference leaves open is decided in README.md, one place.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .card import ATR, CardOS, SoftCard, SwError
from .faults import FaultyCard
from .issuer import DevCardIssuer
from .profile import CardState, Profile, ProfileError
from .quirks import QUIRKS, QuirkyCard
from .replay import ReplayCard
from .vpcd import VPCD_PORT, EndReason, VpcdBridge

log = logging.getLogger(__name__)


def run_emulator(
    profile_path: Path | None,
    state_path: Path | None,
    instance_dir: Path,
    host: str = "127.0.0.1",
    port: int = VPCD_PORT,
    stop_event: threading.Event | None = None,
    on_ready: Callable[[Profile], None] | None = None,
    *,
    retry_interval: float = 0.5,
    quirks: Sequence[str] = (),
    wrap: Callable[[SoftCard], CardOS] | None = None,
) -> None:
    """Keeps the software card inserted in vpcd until ``stop_event`` is set.

    The issuer is the instance's (``DevCardIssuer.of_instance``, created on first run,
    with its trust store); ``profile_path`` None means the demo holder and
    ``state_path`` None a throw-away card state. vpcd is retried until it
    answers, and the card is re-inserted whenever vpcd drops the link (pcscd
    restarted). ``on_ready(profile)`` is called after every insertion. ``quirks``
    names the ``quirks.QUIRKS`` the card shows (a card that differs, on purpose);
    ``wrap``: what is inserted instead of the software card itself (a ``ReplayCard``
    around it).
    """
    issuer = DevCardIssuer.of_instance(Path(instance_dir))
    profile = Profile.load(profile_path) if profile_path is not None else Profile.demo()
    soft = SoftCard.personalized(profile, issuer, CardState.load_or_create(state_path))
    card: CardOS = QuirkyCard(soft, quirks) if quirks else soft
    stop = stop_event or threading.Event()
    bridge = VpcdBridge(card if wrap is None else wrap(soft), host, port)
    waiting_logged = False
    try:
        while not stop.is_set():
            try:
                bridge.connect(timeout=max(retry_interval, 1.0))
            except OSError as exc:
                if not waiting_logged:
                    log.info("waiting for vpcd at %s:%d (%s)", host, port, exc)
                    waiting_logged = True
                stop.wait(retry_interval)
                continue
            waiting_logged = False
            if on_ready is not None:
                on_ready(profile)
            if bridge.serve(stop) is EndReason.STOPPED:
                break
            stop.wait(retry_interval)  # vpcd went away: insert again once it is back
    finally:
        bridge.remove()


__all__ = [
    "ATR",
    "QUIRKS",
    "VPCD_PORT",
    "CardOS",
    "CardState",
    "DevCardIssuer",
    "EndReason",
    "FaultyCard",
    "Profile",
    "ProfileError",
    "QuirkyCard",
    "ReplayCard",
    "SoftCard",
    "SwError",
    "VpcdBridge",
    "run_emulator",
]
