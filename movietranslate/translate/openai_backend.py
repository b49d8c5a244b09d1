"""Any OpenAI-compatible endpoint through the ``openai`` package.

Presets fill in the base URL, a default model, where the key comes from and how JSON is
asked for: DeepSeek, GLM (Zhipu), OpenAI, Ollama, vLLM and a llama.cpp server. The key is
read from the environment or the settings file (a ``SecretStr``) and is never written
anywhere. Requests time out; HTTP 429 and 5xx, timeouts and lost connections are retried
with exponential backoff and jitter (honouring ``Retry-After``); a wrong key, an unknown
model or an unreachable host end the run with a one-line message that says which.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass

from ..errors import BadInputError, MissingBackendError, MovieTranslateError
from .base import TranslationOptions
from .llm import LLMTranslator

logger = logging.getLogger("movietranslate")


@dataclass(frozen=True)
class Preset:
    name: str
    base_url: str
    model: str | None
    key_env: tuple[str, ...] = ()
    needs_key: bool = True
    schema_mode: str = "json_object"   # "schema": llama.cpp's {"type":"json_object","schema":...}
    batch_size: int = 8
    few_shot: bool = False
    compact: bool = False
    note: str = ""


PRESETS: dict[str, Preset] = {
    "openai": Preset("openai", "https://api.openai.com/v1", "gpt-4o-mini", ("OPENAI_API_KEY",)),
    "deepseek": Preset("deepseek", "https://api.deepseek.com/v1", "deepseek-chat",
                       ("DEEPSEEK_API_KEY",)),
    "glm": Preset("glm", "https://open.bigmodel.cn/api/paas/v4", "glm-4-flash",
                  ("ZHIPUAI_API_KEY", "GLM_API_KEY")),
    "ollama": Preset("ollama", "http://127.0.0.1:11434/v1", None, (), needs_key=False),
    "vllm": Preset("vllm", "http://127.0.0.1:8000/v1", None, ("VLLM_API_KEY",), needs_key=False),
    "llamacpp": Preset("llamacpp", "http://127.0.0.1:8080/v1", "local", (), needs_key=False,
                       schema_mode="schema", batch_size=1, few_shot=True, compact=True,
                       note="llama.cpp / llama-cpp-python server; JSON constrained by a schema"),
}


def _guess_preset(base_url: str | None) -> Preset | None:
    if not base_url:
        return None
    u = base_url.lower()
    for key, name in (("deepseek", "deepseek"), ("bigmodel", "glm"), ("api.openai.com", "openai"),
                      (":11434", "ollama")):
        if key in u:
            return PRESETS[name]
    return None


def resolve_key(preset: Preset | None, api_key=None):
    """The API key (a SecretStr or None): explicit, then MOVIETRANSLATE_OPENAI_API_KEY /
    the settings file, then the preset's usual variable (e.g. DEEPSEEK_API_KEY)."""
    from pydantic import SecretStr

    if api_key is not None:
        return api_key if isinstance(api_key, SecretStr) else SecretStr(str(api_key))
    from ..settings import get_settings

    s = get_settings()
    if s.openai_api_key is not None and s.openai_api_key.get_secret_value():
        return s.openai_api_key
    for env in (preset.key_env if preset else ()):
        if os.environ.get(env):
            return SecretStr(os.environ[env])
    return None


class OpenAITranslator(LLMTranslator):
    """``get_translator("openai", preset="deepseek")`` or ``base_url=..., model=...``."""

    name = "openai"

    def __init__(self, *, preset: str | None = None, base_url: str | None = None,
                 model: str | None = None, api_key=None, schema_mode: str | None = None,
                 batch_size: int | None = None, few_shot: bool | None = None,
                 compact: bool | None = None,
                 backoff: float = 1.0, max_backoff: float = 30.0, client=None):
        try:
            import openai  # noqa: F401
        except ImportError:
            raise MissingBackendError("The 'openai' package is not installed.", backend="openai",
                                      extra="llm") from None
        if preset is not None and preset not in PRESETS:
            raise BadInputError(f"Unknown preset '{preset}'.", accepted=", ".join(PRESETS))
        if base_url is None and preset is None:
            from ..settings import get_settings
            base_url = get_settings().openai_base_url
        p = PRESETS[preset] if preset else _guess_preset(base_url)
        self.preset = p
        self.base_url = (base_url or (p.base_url if p else None) or PRESETS["openai"].base_url).rstrip("/")
        model = model or (p.model if p else None)
        if not model:
            raise BadInputError("Name the model to use (--model) for this endpoint.",
                                accepted="the model name the server serves, e.g. qwen2.5:7b")
        super().__init__(model)
        self.schema_mode = schema_mode or (p.schema_mode if p else "json_object")
        self.batch_size = batch_size or (p.batch_size if p else 8)
        self.few_shot = few_shot if few_shot is not None else (p.few_shot if p else False)
        self.compact = compact if compact is not None else (p.compact if p else False)
        self.summarizes = not self.compact
        self._key = resolve_key(p, api_key)
        if self._key is None and p is not None and p.needs_key:
            raise BadInputError(
                f"No API key for {p.name}: set MOVIETRANSLATE_OPENAI_API_KEY or "
                f"{' / '.join(p.key_env)} in the environment or the settings file.")
        self.backoff, self.max_backoff = backoff, max_backoff
        self._client = client
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        return f"openai:{self.base_url}:{self.model}"

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAITranslator(base_url={self.base_url!r}, model={self.model!r})"

    def client(self, timeout: float = 120.0):
        with self._lock:
            if self._client is None:
                import openai
                key = self._key.get_secret_value() if self._key is not None else "none"
                self._client = openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=0,
                                             timeout=timeout)
            return self._client

    # --- one request with retries
    def complete(self, prompt, *, schema, max_tokens, options: TranslationOptions) -> str:
        """One chat completion (the prompt as the user's message); the reply's text."""
        kwargs = dict(model=self.model, messages=[{"role": "user", "content": prompt}],
                      max_tokens=max_tokens, temperature=options.temperature)
        if self.schema_mode == "schema" and schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        elif self.schema_mode == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        return self._request(lambda c: c.chat.completions.create(**kwargs),
                             lambda ch: ch.message.content, options)

    def complete_text(self, prompt: str, *, max_tokens: int, options: TranslationOptions,
                      stop: list[str] | None = None) -> str:
        """One plain text completion (``/completions``: the prompt continued, as a base model
        is meant to be used); the continuation."""
        kwargs = dict(model=self.model, prompt=prompt, max_tokens=max_tokens,
                      temperature=options.temperature, stop=stop)
        return self._request(lambda c: c.completions.create(**kwargs), lambda ch: ch.text, options)

    def _request(self, send, text_of, options: TranslationOptions) -> str:
        import openai

        client = self.client(options.timeout)
        attempt = 0
        while True:
            try:
                r = send(client.with_options(timeout=options.timeout))
                u = getattr(r, "usage", None)
                self.usage.add(getattr(u, "prompt_tokens", 0) or 0, getattr(u, "completion_tokens", 0) or 0,
                               requests=1)
                if not r.choices:
                    return ""
                return text_of(r.choices[0]) or ""
            except openai.AuthenticationError:
                self.usage.add(failed_requests=1)
                raise BadInputError(f"The API key was rejected by {self.base_url} (HTTP 401): check "
                                    "MOVIETRANSLATE_OPENAI_API_KEY or the provider's key variable.") from None
            except openai.PermissionDeniedError as exc:
                self.usage.add(failed_requests=1)
                raise BadInputError(f"{self.base_url} refused the request (HTTP 403): "
                                    f"{_short(exc)}") from None
            except openai.NotFoundError as exc:
                self.usage.add(failed_requests=1)
                raise BadInputError(f"{self.base_url} does not know the model '{self.model}' "
                                    f"(HTTP 404): {_short(exc)}") from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                    openai.APIConnectionError) as exc:
                status = getattr(exc, "status_code", None)
                if isinstance(exc, openai.RateLimitError) and "insufficient_quota" in str(exc):
                    raise MovieTranslateError(f"{self.base_url}: the account has no quota left "
                                              "(HTTP 429 insufficient_quota).") from None
                if attempt >= options.max_retries:
                    self.usage.add(failed_requests=1)
                    what = f"HTTP {status}" if status else exc.__class__.__name__
                    raise ConnectionError(f"{self.base_url} failed after {attempt + 1} tries "
                                          f"({what}): {_short(exc)}") from None
                delay = self._delay(attempt, exc)
                logger.info("translate: %s (%s); retrying in %.1f s", self.base_url,
                            status or exc.__class__.__name__, delay)
                self.usage.add(retries=1)
                time.sleep(delay)
                attempt += 1
            except openai.BadRequestError as exc:
                self.usage.add(failed_requests=1)
                raise BadInputError(f"{self.base_url} rejected the request (HTTP 400): {_short(exc)}") from None

    def _delay(self, attempt: int, exc) -> float:
        retry_after = None
        resp = getattr(exc, "response", None)
        if resp is not None:
            try:
                retry_after = float(resp.headers.get("retry-after"))
            except (TypeError, ValueError):
                retry_after = None
        base = min(self.max_backoff, self.backoff * (2 ** attempt))
        d = base / 2 + random.uniform(0, base / 2)  # "equal jitter"
        if retry_after is not None:
            d = max(d, min(retry_after, self.max_backoff))
        return d

    def check(self, timeout: float = 60.0) -> str:
        """Test the connection: list models, then a one-token request. Returns a summary;
        raises with a clear message for a wrong key, an unreachable host, an unknown model."""
        import openai

        client = self.client(timeout).with_options(timeout=timeout, max_retries=0)
        try:
            models = [m.id for m in client.models.list()]
        except openai.AuthenticationError:
            raise BadInputError(f"Wrong API key for {self.base_url} (HTTP 401).") from None
        except openai.APIConnectionError as exc:
            raise MovieTranslateError(f"Cannot reach {self.base_url}: {_short(exc)}") from None
        except openai.APIStatusError:
            models = []
        opts = TranslationOptions(max_retries=0, timeout=timeout)
        try:
            self.complete('Reply with JSON {"ok": "yes"}.', schema={"type": "object", "properties": {
                "ok": {"type": "string", "maxLength": 3}}, "required": ["ok"]}, max_tokens=12, options=opts)
        except BadInputError as exc:
            if models and self.model not in models:
                raise BadInputError(f"{self.base_url} does not serve the model '{self.model}'.",
                                    accepted=", ".join(models[:10])) from None
            raise exc
        except ConnectionError as exc:
            raise MovieTranslateError(f"{self.base_url} did not answer a test request: {exc}") from None
        note = "" if not models or self.model in models else f" (not in its model list: {', '.join(models[:3])})"
        return f"{self.base_url} answers; model {self.model}{note}"


def _short(exc) -> str:
    msg = " ".join(str(exc).split())
    return msg[:200]
