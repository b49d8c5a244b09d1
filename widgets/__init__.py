"""The ipywidgets workbench: each widget is usable alone in a notebook and only calls
movietranslate's public API. Import the widgets from here::

    from widgets import FilmPicker, LineTable, Timeline, Library, StageProgress
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "StageProgress": "progress", "FilmPicker": "picker", "LineTable": "lines",
    "Timeline": "timeline", "Library": "library", "DubbingApp": "app",
    "CastPanel": "cast_panel", "SpeakerMap": "cast_panel", "TranslationPanel": "translation_panel",
    "DubPanel": "dub_panel",
}

__all__ = ["CastPanel", "DubPanel", "DubbingApp", "FilmPicker", "Library", "LineTable", "SpeakerMap",
           "StageProgress", "Timeline", "TranslationPanel"]


def __getattr__(name):  # lazy: importing the package does not import ipywidgets
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)
