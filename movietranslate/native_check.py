"""Check that native code compiled at install time runs on this CPU.

llama-cpp-python compiles llama.cpp when it is installed. Built with native CPU flags on a
Xeon with AMX it enables ``AMX_INT8`` and dies with a segmentation fault on its first decode,
so set-up builds it with portable flags (``scripts/llama-cmake-args``: AVX2, FMA, F16C; no
AVX-512, no AMX) and then runs this check: in a child process (a crash must not take the
caller down), import the library, read its system info, load a GGUF (the bundled Gemma by
default) and decode one token.

    python -m movietranslate.native_check            # set-up runs this; exit code 0 or 1
    python -m movietranslate.native_check --model x.gguf
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass, field

__all__ = ["LlamaCheck", "check_llama", "NOT_PORTABLE_FLAGS"]

# Features a portable x86-64 build must not switch on (system info reports "NAME = 1").
NOT_PORTABLE_FLAGS = ("AMX_INT8", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16")

_CHILD = r"""
import json, sys
out = {}
import llama_cpp
out["version"] = llama_cpp.__version__
out["system_info"] = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
path = sys.argv[1]
if not path:
    from movietranslate.translate.local_backend import bundled_gguf
    path = str(bundled_gguf())
out["model"] = path
print(json.dumps(out), flush=True)
llm = llama_cpp.Llama(model_path=path, n_ctx=64, n_threads=1, n_threads_batch=1, verbose=False, seed=0)
toks = llm.tokenize(b"Hello")
llm.eval(toks)
tok = llm.sample(temp=0.0)
out["token"] = int(tok)
out["text"] = llm.detokenize([tok]).decode("utf-8", "replace")
print(json.dumps(out), flush=True)
"""


@dataclass(frozen=True)
class LlamaCheck:
    """What the check found. ``ok`` is True when a token was decoded (and, if required, the
    build is portable)."""

    ok: bool
    message: str
    flags: dict[str, int] = field(default_factory=dict)  # system info "NAME = 0/1"
    version: str = ""
    model: str = ""
    token_text: str = ""

    @property
    def portable(self) -> bool:
        return not any(self.flags.get(f) == 1 for f in NOT_PORTABLE_FLAGS)


def _parse_flags(info: str) -> dict[str, int]:
    flags: dict[str, int] = {}
    for part in info.replace("|", "\n").splitlines():
        name, sep, value = part.partition("=")
        value = value.strip()
        if sep and value in ("0", "1"):
            flags[name.strip()] = int(value)
    return flags


def check_llama(model: str | None = None, *, require_portable: bool = False,
                timeout: float = 300.0) -> LlamaCheck:
    """Load ``model`` (default: the bundled Gemma GGUF) in a child process and decode one token."""
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, model or ""], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return LlamaCheck(False, f"llama-cpp-python did not decode a token within {timeout:.0f} s.")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    info = json.loads(lines[-1]) if lines else {}
    flags = _parse_flags(info.get("system_info", ""))
    common = dict(flags=flags, version=info.get("version", ""), model=info.get("model", ""))
    rebuild = ("Rebuild it portably: CMAKE_ARGS=\"$(cat scripts/llama-cmake-args)\" pip install "
               "--force-reinstall --no-cache-dir --no-binary llama-cpp-python llama-cpp-python")
    if proc.returncode < 0:
        sig = signal.Signals(-proc.returncode).name
        hot = [f for f in NOT_PORTABLE_FLAGS if flags.get(f) == 1]
        why = (f" Its system info reports {', '.join(f'{f} = 1' for f in hot)}: it was compiled "
               "with native CPU flags." if hot else "")
        stage = "loading the model" if "token" not in info and info else "starting"
        return LlamaCheck(False, f"llama-cpp-python crashed ({sig}) while {stage} or decoding its "
                          f"first token.{why} {rebuild}", **common)
    if proc.returncode != 0 or "token" not in info:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return LlamaCheck(False, f"llama-cpp-python could not decode a token: {tail}", **common)
    result = LlamaCheck(True, f"llama-cpp-python {info['version']} decoded a token "
                        f"({info['text']!r}) from {info['model']}", token_text=info["text"], **common)
    if require_portable and not result.portable:
        hot = [f for f in NOT_PORTABLE_FLAGS if flags.get(f) == 1]
        return LlamaCheck(False, "llama-cpp-python was compiled with CPU-specific flags "
                          f"({', '.join(hot)}); it will crash on other CPUs. {rebuild}", **common)
    return result


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m movietranslate.native_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="a GGUF file (default: the bundled Gemma)")
    ap.add_argument("--allow-native", action="store_true",
                    help="accept a build with CPU-specific flags (AVX-512, AMX)")
    a = ap.parse_args(argv)
    res = check_llama(a.model, require_portable=not a.allow_native)
    print(("ok: " if res.ok else "FAILED: ") + res.message, file=sys.stdout if res.ok else sys.stderr)
    shown = {k: v for k, v in res.flags.items() if k in ("AVX", "AVX2", "FMA", "F16C") + NOT_PORTABLE_FLAGS}
    if shown:
        print("system info: " + ", ".join(f"{k} = {v}" for k, v in shown.items()))
    return 0 if res.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
