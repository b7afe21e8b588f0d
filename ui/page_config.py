"""The page config with current data in it: every page load embeds the Blocks' config (components and
their initial values), so a value placed there is drawn with the page, without waiting for a load event's
round trip. Gradio builds that config once at start-up; :class:`LiveConfigBlocks` gives components new
initial values and rebuilds it on the first read after its source reports new ones (new data)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import gradio as gr

log = logging.getLogger(__name__)

__all__ = ["InitialValues", "LiveConfigBlocks", "set_initial_values"]

InitialValues = dict[Any, Any]  # {component: value or component update}, as an event handler returns


def set_initial_values(values: InitialValues) -> None:
    """Make each value (or component update) its component's initial value and props, as Gradio applies
    an update: the arguments are merged into the component's own and a new instance computes the
    attributes (postprocessed value, normalised choices), which the component takes."""
    for block, update in values.items():
        if isinstance(update, gr.components.Component):
            args = {k: v for k, v in update.constructor_args.items() if k != "render"}
        else:
            args = {"value": update}
        fresh = type(block)(**{**block.constructor_args, **args, "render": False})
        for name in args:
            setattr(block, name, getattr(fresh, name))
        block.constructor_args.update(args)  # a session's later updates start from these


class LiveConfigBlocks(gr.Blocks):
    """A Blocks whose ``config`` (what ``/`` embeds and ``/config`` serves) follows its source of initial
    values: every read asks ``source()`` (so it must be cheap when nothing changed), which returns the
    new values or None. A source that fails leaves the previous config (the page's load event still draws
    the data)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._config: Any = None
        self._source: Callable[[], InitialValues | None] | None = None
        self._given: set[int] = set()  # ids of components given a value here: kept even when None
        self._refreshing = threading.Lock()
        super().__init__(*args, **kwargs)

    def initial_values_from(self, source: Callable[[], InitialValues | None]) -> None:
        self._source = source

    @property
    def config(self) -> Any:
        if self._source is not None and self._config is not None:
            with self._refreshing:
                try:
                    values = self._source()
                    if values:
                        set_initial_values(values)
                        self._given |= {block._id for block in values}
                        self._config = self.get_config_file()
                except Exception:  # noqa: BLE001 - a page must still load with the config it had
                    log.exception("could not refresh the page config")
        return self._config

    @config.setter
    def config(self, value: Any) -> None:
        self._config = value

    def get_config_file(self) -> Any:
        """Gradio's config, except that a value given here stays even when it is None: Gradio drops None
        props, and a Number without a value starts at 0 in the browser (an empty range filter must not)."""
        config = super().get_config_file()
        for comp in config["components"]:
            if comp["id"] in self._given:
                comp["props"].setdefault("value", None)
        return config
