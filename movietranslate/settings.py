"""Settings from the environment (``MOVIETRANSLATE_*``) or a settings file outside the
workspace (``~/.config/movietranslate/settings.env``, or the file named by
``MOVIETRANSLATE_SETTINGS_FILE``).

Secrets (API keys) are read from here only; they are never written into a workspace,
a notebook's parameters, a log or a report.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _user_dir(kind: str) -> Path:
    import platformdirs

    fn = {"cache": platformdirs.user_cache_dir, "data": platformdirs.user_data_dir,
          "config": platformdirs.user_config_dir}[kind]
    return Path(fn("movietranslate", appauthor=False))


def settings_file() -> Path:
    return Path(os.environ.get("MOVIETRANSLATE_SETTINGS_FILE")
                or _user_dir("config") / "settings.env")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOVIETRANSLATE_", extra="ignore")

    cache_dir: Path = Field(default_factory=lambda: _user_dir("cache"),
                            description="where bundled models are assembled")
    data_dir: Path = Field(default_factory=lambda: _user_dir("data"),
                           description="the character library and the global glossary")
    whisper_model: str = Field("base", description="'base' (bundled) or a faster-whisper model folder")
    asr_threads: int = Field(2, ge=1)
    asr_compute_type: str = "int8"
    max_file_mb: float = Field(20_000, gt=0, description="largest media file accepted, MB")
    max_duration_s: float = Field(6 * 3600, gt=0, description="longest media accepted, seconds")
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, read once per process (call ``get_settings.cache_clear()`` to re-read)."""
    f = settings_file()
    return Settings(_env_file=f if f.is_file() else None)
