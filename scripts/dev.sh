#!/usr/bin/env bash
# Set up everything volviz needs in .venv/ (idempotent), then run one job:
#   bash scripts/dev.sh demo   -> volviz demo (embedded EfficientNet-Lite0 on bundled photos)
#   bash scripts/dev.sh test   -> ruff (lint + format), mypy, and the whole pytest suite
#   bash scripts/dev.sh test -m "not slow"   -> the edit loop: arguments after `test` go to pytest
# Exact versions (torch 2.14.1 / torchvision 0.29.1 and every test tool) come from
# constraints.txt; after changing dependencies regenerate it in a fresh .venv with
#   .venv/bin/pip freeze --exclude-editable > constraints.txt
set -euo pipefail
cd "$(dirname "$0")/.."
job="${1:-}"
case "$job" in demo|test) ;; *) echo "usage: bash scripts/dev.sh demo|test [PYTEST ARGS]" >&2; exit 2 ;; esac
shift

# Debian packages: offscreen rendering needs Mesa's EGL/GL (usually present already).
if ! ldconfig -p | grep -q 'libEGL.so.1' || ! ldconfig -p | grep -q 'libGL.so.1'; then
  echo "installing Mesa EGL/GL (Debian) for offscreen rendering"
  sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_="sudo"
  $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq libegl1 libgl1 libgl1-mesa-dri >/dev/null
fi
# Debian packages the tests drive: chromium opens the HTML pages headless (SwiftShader
# WebGL 2); Xvfb, xdotool and xwd run `volviz view` in a real X window.
need=""
[ -x /usr/bin/chromium ] || need+=" chromium"
[ -x /usr/bin/Xvfb ] || need+=" xvfb"
[ -x /usr/bin/xdotool ] || need+=" xdotool"
[ -x /usr/bin/xwd ] || need+=" x11-apps"
# ParaView 5.11's pvpython reads the exports back with its own readers (under xvfb-run).
[ -x /usr/bin/pvpython ] || need+=" paraview"
if [ "$job" = test ] && [ -n "$need" ]; then
  echo "installing Debian packages for the tests:$need"
  sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_="sudo"
  $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq $need >/dev/null
fi

# Python 3.11: torch 2.14.1 / torchvision 0.29.1 install from this machine's disk for it.
py="${PYTHON:-$(command -v python3.11 || command -v python3)}"
[ -x .venv/bin/python ] || "$py" -m venv .venv
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ "$(cat .venv/.volviz-installed 2>/dev/null)" != "$want" ]; then
  echo "installing volviz and its dependencies into .venv (first run: ~2 minutes)"
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  # A failed install stops here (pipefail), with pip's message; only the noise is filtered.
  pipq() { .venv/bin/pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }
  pipq --upgrade pip || true  # a newer pip is welcome, not needed
  pipq -c constraints.txt torch torchvision
  pipq -c constraints.txt -e '.[test]'
  .venv/bin/python -c "import volviz, torch, torchvision, pyvista, h5py" 
  echo "$want" > .venv/.volviz-installed
fi

export VTK_DEFAULT_OPENGL_WINDOW="${VTK_DEFAULT_OPENGL_WINDOW:-vtkEGLRenderWindow}"
if [ "$job" = demo ]; then
  exec .venv/bin/volviz demo --force
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# Two workers (pytest-xdist), whole files per worker so module fixtures start once.
exec .venv/bin/pytest -q -n 2 --dist loadfile "$@"
