"""The TTS backends, one module each. Every module here (not starting with ``_``) is imported
by the registry (:mod:`movietranslate.voices.base`) the first time a backend is asked for,
and registers its class with ``@register_tts(name)``: a new backend is one new file here.

Heavy libraries (onnxruntime, piper-tts, coqui-tts, Praat) are imported inside the
backends' methods, never when a module is imported."""
