"""Vision Model Leaderboard: ``python app.py`` reads the settings, seeds an empty local board, starts the
in-process worker and serves the UI built by :mod:`ui`. Wiring only: the logic lives in leaderboard/,
submissions/, eval_queue/, harness/ and store/; every environment variable is declared in settings.py.

Locally the server listens on 127.0.0.1 (``GRADIO_SERVER_NAME`` to change it), on a Space on 0.0.0.0.
"""

from __future__ import annotations

import logging

import settings
import store
from eval_queue import auth, scheduler
from eval_queue.seed import seed_reference_suite
from store import StoreError
from ui import resources, state

log = logging.getLogger("leaderboard.app")

CONCURRENCY = 4  # requests served at once; the filter path is bounded, so a slow one cannot stall the rest


def listen_address() -> str:
    """``GRADIO_SERVER_NAME`` if set; else every interface on a Space (it routes to us), else loopback."""
    name = settings.get("GRADIO_SERVER_NAME")
    if name:
        return name
    return "0.0.0.0" if settings.on_space() else "127.0.0.1"


def announce_admin_token() -> str | None:
    """On a local board without ``LEADERBOARD_ADMIN_TOKEN``, make the Review tab usable from the first
    start: a token is generated once into the data folder and printed that one time. Returns the line
    printed (None when nothing new was made: a configured token, the Hub, or a token made earlier)."""
    try:
        token, created = auth.local_admin_token()
    except (auth.AdminTokenError, OSError) as exc:  # an unusable token file: review stays off, said why
        log.warning("no admin token: %s", exc)
        return None
    if not created:
        return None
    where = store.data_dir() / auth.ADMIN_TOKEN_FILE
    line = f"Review tab token: {token} (saved in {where}; set LEADERBOARD_ADMIN_TOKEN to choose your own)"
    print(line, flush=True)
    return line


def startup(st: state.AppState) -> None:
    """Give a local board its admin token, warn when review is off, seed an empty board and start the
    worker, as the settings ask."""
    announce_admin_token()
    reason = auth.review_disabled_reason()
    if reason:
        log.warning("review is disabled: %s", reason)
    if state.seeding_wanted(st.stores):
        n = seed_reference_suite(st.stores)
        if n:
            log.info("empty store: seeded %d reference models", n)
    if settings.get("LEADERBOARD_WORKER"):
        scheduler.start_background_worker(st.stores, settings.get("LEADERBOARD_WORKER_INTERVAL"))


def main() -> None:
    """Serve; a malformed setting or store configuration ends it with one line naming the problem."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        for setting in settings.SETTINGS:  # all of them, before Gradio reads GRADIO_SERVER_PORT on import
            settings.get(setting.name)
        serve()
    except (settings.SettingError, StoreError) as exc:
        raise SystemExit(f"app.py: {exc}") from None


def serve() -> None:
    from ui.blocks import build_demo, page_head  # imports Gradio: only once the settings are known good

    st = state.current()
    startup(st)
    snap = st.snapshot()  # load before the first visitor arrives
    log.info("leaderboard: %d rows loaded in %.2f s", len(snap.wide), snap.load_s)
    demo = build_demo()
    demo.queue(default_concurrency_limit=CONCURRENCY)
    demo.launch(
        server_name=listen_address(),
        server_port=settings.get("GRADIO_SERVER_PORT"),
        css=resources.text("style.css"),
        head=page_head(),
        allowed_paths=[str(st.export_dir)],
        ssr_mode=False,
    )


if __name__ == "__main__":
    main()
