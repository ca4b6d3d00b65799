#!/usr/bin/env bash
# The tutorial's REPL on a PC (`make repl`): the MicroPython unix port with the device
# scripts, the simulated TSL2591 behind machine.I2C and mpy-scripts/pc/config.py, as a board
# would be after `make deploy` and a reset (boot.py runs first, then the prompt).
#
#   IMPL=native (default: build/x64/*.mpy, `make natmods`) or IMPL=fallback (pure Python)
#   MICROPYTHON: the binary (default .venv/bin/micropython, installed by `make setup`)
set -euo pipefail
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit 0
fi
REPO=$(cd "$(dirname "$0")/../.." && pwd)
IMPL=${IMPL:-native}
case $IMPL in
  native) MODDIR=$REPO/build/x64
          [ -f "$MODDIR/tsl2591.mpy" ] || { echo "repl: $MODDIR/tsl2591.mpy missing: run 'make natmods' (or IMPL=fallback)" >&2; exit 2; } ;;
  fallback) MODDIR=$REPO/mpy-scripts/fallback ;;
  *) echo "repl: IMPL must be native or fallback, got '$IMPL'" >&2; exit 2 ;;
esac
MICROPYTHON=${MICROPYTHON:-$REPO/.venv/bin/micropython}
cd "$REPO/mpy-scripts/pc"
export MICROPYPATH="$REPO/mpy-scripts/pc:$MODDIR:$REPO/mpy-scripts:$REPO/mpy-scripts/sim:.frozen"
exec "$MICROPYTHON" -i -c "import boot"
