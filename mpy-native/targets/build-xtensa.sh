#!/usr/bin/env bash
# Builds one native module for the ESP8266 (arch xtensa, lx106): build/xtensa/<module>.mpy.
#
#   mpy-native/targets/build-xtensa.sh MODULE CARGO_PACKAGE OUTPUT.mpy [MPY_LD]
#
# MODULE is the crate's library name (lib<MODULE>.a). Environment: XTENSA_MANIFEST (a
# Cargo.toml of another workspace, e.g. mpy-native/xtensa-check's), XTENSA_CARGO_CONFIG
# (below), XTENSA_AS, XTENSA_BUILTINS_OUT (below). Writes mpy-ld's link map next to the
# output (OUTPUT.map, e.g. build/xtensa/tsl2591.map): what was kept, where, the symbols, and
# which went to the ESP8266 ROM.
#
# Why not like x64 (cargo staticlib -> mpy-ld): LLVM's integrated Xtensa assembler writes
# broken objects (each function's l32r literal pool lands, unaligned, in the previous
# function's section). So rustc emits assembly and GNU as (xtensa-lx106-elf-as) assembles it:
#   1. cargo builds the module crate (fat LTO: the crate + micropython-rt + core in one unit)
#      and compiler_builtins (soft-float, __udivsi3, memcpy, ...; not part of LTO), each with
#      an extra `--emit=asm` given through profile rustflags (-Zprofile-rustflags), so no
#      other crate changes;
#   2. xtensa-lx106-elf-as assembles both .s files (one .literal.<fn> section per function).
#      LLVM prints a function's `.literal` lines before it switches to the function's section,
#      so GNU as would put them in the literal pool of the section before: another function's
#      (harmless) or a jump table's `.rodata.<fn>`, giving a `.rodata.<fn>.literal` section
#      that mpy-ld puts in the rodata region, out of `l32r`'s reach. `place_literals` moves
#      each run of `.literal` lines to just after the next `.section` directive(s);
#   3. mpy-ld links them with the C glue that micropython-sys's build script compiled with
#      xtensa-lx106-elf-gcc, keeping only what mpy_init reaches.
# Run from the repository root (the Makefile does).
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 MODULE CARGO_PACKAGE OUTPUT.mpy [MPY_LD]" >&2
    exit 2
fi
module=$1 pkg=$2 out=$3 mpy_ld=${4:-target/release/mpy-ld}

target_json=mpy-native/targets/xtensa-esp8266-micropython.json
triple=$(basename "$target_json" .json)
target_dir=target/natmod
asm_dir=$PWD/$target_dir/$triple/asm
AS=${XTENSA_AS:-xtensa-lx106-elf-as}

for tool in "$AS" xtensa-lx106-elf-objdump jq; do
    command -v "$tool" >/dev/null || {
        echo "build-xtensa: $tool not found (make setup-xtensa installs binutils-xtensa-lx106 gcc-xtensa-lx106 qemu-system-misc jq)" >&2
        exit 1
    }
done
mkdir -p "$asm_dir" "$(dirname "$out")"

# Xtensa defaults: opt-level "z". Code space is what the ESP8266 lacks (native code goes to
# ~500 free bytes of IRAM or a flash region, and the loader first reads it into the 38 KiB
# GC heap): "z" gives 1-5 % less text than "s" here. At opt-level 2 LLVM's Xtensa backend
# aborts on tsl2591 ("Cannot scavenge register without an emergency spill slot": with the
# call0 ABI it reserves no emergency slot for large frames). Override with
# XTENSA_CARGO_CONFIG='profile.natmod.opt-level="s"' (any `cargo --config` value).
config=${XTENSA_CARGO_CONFIG:-profile.natmod.opt-level=\"z\"}
# LLVM's inliner at "z" inlines too little for this code (small helpers called from many
# sites, whose call setup is larger than their bodies) and at "s" too much: an inline
# threshold of 40 gave the smallest text for both modules (measured over 0..150; tsl2591
# 6822 -> 6762, mqtt_writer 10166 -> 9910 bytes). XTENSA_INLINE_THRESHOLD overrides it.
inline_threshold=${XTENSA_INLINE_THRESHOLD:-40}
# LLVM's Xtensa backend cannot rematerialise an `l32r` constant (a function address, a qstr
# entry): machine LICM hoists such loads out of loops and machine CSE/sinking stretch them
# across calls, so they live in callee-saved registers or stack slots, spilled and reloaded
# around every call. Without those passes (and with the source block order kept) each use
# loads its constant where it is needed: tsl2591 6602 -> 6438, mqtt_writer 9686 -> 9066 bytes.
llvm_passes='"-Cllvm-args=-disable-machine-licm", "-Cllvm-args=-disable-machine-cse", "-Cllvm-args=-disable-machine-sink", "-Cllvm-args=-disable-block-placement"'

# `--emit=asm` without a path: rustc writes deps/<crate>-<hash>.s next to that build's other
# outputs, so a cached build of another configuration never hands us a stale file.
# Cargo's JSON messages say where everything is.
messages=$(
    RUSTC_BOOTSTRAP=1 cargo build --profile natmod -p "$pkg" \
        ${XTENSA_MANIFEST:+--manifest-path "$XTENSA_MANIFEST"} \
        -Zjson-target-spec -Zbuild-std=core,compiler_builtins \
        -Zbuild-std-features=compiler-builtins-mem -Zprofile-rustflags \
        --config "profile.natmod.package.$pkg.rustflags=[\"--emit=asm\", \"-Cllvm-args=-inline-threshold=$inline_threshold\", $llvm_passes${XTENSA_RUSTFLAGS:+, $XTENSA_RUSTFLAGS}]" \
        --config 'profile.natmod.package.compiler_builtins.rustflags=["--emit=asm"]' \
        --config "$config" \
        --target "$target_json" --target-dir "$target_dir" --message-format=json-render-diagnostics
)
artifact() { # crate name -> its first output file
    jq -r --arg n "$1" 'select(.reason == "compiler-artifact" and .target.name == $n) | .filenames[0]' <<<"$messages" | tail -1
}
deps=$target_dir/$triple/natmod/deps
# compiler_builtins: deps/libcompiler_builtins-<hash>.rlib -> deps/compiler_builtins-<hash>.s
cb_rlib=$(artifact compiler_builtins)
cb_s=$(dirname "$cb_rlib")/$(basename "$cb_rlib" .rlib | sed 's/^lib//').s
# The module: cargo names the uplifted natmod/lib<module>.a, a hard link to
# deps/lib<module>-<hash>.a, whose hash names the .s.
mod_a=$(artifact "$module")
[ -n "$mod_a" ] || { echo "build-xtensa: cargo built no library named $module in $pkg" >&2; exit 1; }
mod_a_hashed=$(find "$deps" -maxdepth 1 -name "lib$module-*.a" -samefile "$mod_a" | head -1)
mod_s=$deps/$(basename "$mod_a_hashed" .a | sed 's/^lib//').s
# micropython-sys's C glue (nlr), if the crate uses it.
glue_dir=$(jq -r 'select(.reason == "build-script-executed" and (.package_id | contains("micropython-sys"))) | .out_dir' <<<"$messages" | tail -1)
glue=${glue_dir:+$glue_dir/libmicropython_natmod_glue.a}
[ -z "${XTENSA_VERBOSE:-}" ] || echo "build-xtensa: module assembly $mod_s" >&2
for f in "$mod_s" "$cb_s" ${glue:+"$glue"}; do
    [ -f "$f" ] || { echo "build-xtensa: $f missing (cached build without --emit=asm?); rm -rf $target_dir/$triple and retry" >&2; exit 1; }
done

# Each run of .literal/.literal_position lines goes after the next .section directive(s).
place_literals_awk=$(dirname "$0")/place-literals.awk
place_literals() {
    awk -f "$place_literals_awk" "$1" >"$2"
}

# LLVM calls every function as `l32r aN, .LCPI; callx0 aN` (6 bytes + a 4-byte literal, its
# runtime relocation, and one literal per call site, not per callee). A module is far below
# call0's +-512 KiB, so each such pair whose literal is a plain symbol becomes `call0 sym`
# (3 bytes; mpy-ld resolves it at link time), and literals nobody loads any more go. Only
# when nothing between the two touches aN or branches (no label, no branch: straight line),
# and aN is a0 or a8-a11 (caller-saved, not an argument: dead after the call anyway).
# Calls through mp_fun_table and function pointers stay callx0.
direct_calls() {
    perl -e '
        my @l = <>;
        my (%lit, %refs);
        for (@l) {
            $lit{$1} = $2 if /^\s*\.literal\s+(\S+),\s*(\S+)\s*$/;
            $refs{$1}++ if /^\s*l32r\s+a\d+,\s*(\S+)\s*$/;
        }
        for my $i (0 .. $#l) {
            next unless $l[$i] =~ /^(\s*)callx0\s+(a(?:0|8|9|10|11))\s*$/;
            my ($ind, $r) = ($1, $2);
            for (my $j = $i - 1; $j >= 0; $j--) {
                my $s = $l[$j];
                next if $s =~ /^\s*(#.*)?$/;
                last if $s =~ /^\s*[^\s#]\S*:/ || $s =~ /^\s*\./;   # label or directive
                if ($s =~ /^\s*l32r\s+\Q$r\E,\s*(\S+)\s*$/) {
                    my $lab = $1;
                    my $v = $lit{$lab};
                    last unless defined $v && $v =~ /^[A-Za-z_][A-Za-z0-9_\$.]*$/
                        && $v ne "mp_fun_table" && $v !~ /^MP_QSTR_/;
                    $refs{$lab}--;
                    $l[$j] = "";
                    $l[$i] = "${ind}call0\t$v\n";
                    last;
                }
                last if $s =~ /\b\Q$r\E\b/ || $s =~ /^\s*(b|j|ret|loop|call)/;
            }
        }
        for (@l) { $_ = "" if /^\s*\.literal\s+(\S+),/ && defined $refs{$1} && $refs{$1} <= 0 }
        print @l;
    ' "$1" >"$2"
}

# LLVM moves the stack pointer through a8: `addi a8, a1, N` + `or a1, a8, a8` (5 bytes with
# the narrow mov.n) in every prologue and epilogue; `addi a1, a1, N` (3 bytes) does the same
# when a8 is dead afterwards. Rewritten only when the code that follows (falling through
# labels) reaches a `ret`, a direct call (which clobbers a8) or an instruction that writes a8
# without reading it, before any branch, jump or other use of a8.
stack_adjust() {
    perl -e '
        my @l = <>;
        my %writes = map { $_ => 1 } qw(l32i l32i.n l32r movi movi.n mov mov.n or addi addi.n add add.n
            sub l8ui l16ui l16si slli srli srai extui and xor mull neg addx2 addx4 addx8 subx2 subx4 subx8);
        for my $i (0 .. $#l - 1) {
            next unless $l[$i] =~ /^(\s*)addi\s+a8,\s*a1,\s*(-?\d+)\s*$/;
            my ($ind, $n) = ($1, $2);
            next unless $l[$i + 1] =~ /^\s*or\s+a1,\s*a8,\s*a8\s*$/;
            my $dead = 0;
            for (my $j = $i + 2; $j <= $#l; $j++) {
                my $s = $l[$j];
                next if $s =~ /^\s*(#.*)?$/ || $s =~ /^\s*\.cfi_/;
                next if $s =~ /^\s*[^\s#]\S*:\s*(#.*)?$/;           # a label: fall through it
                last if $s =~ /^\s*\./;                                 # other directive
                my ($op, $args) = $s =~ /^\s*(\S+)\s*(.*?)\s*$/;
                if ($op eq "ret" || $op eq "ret.n" || $op eq "call0") { $dead = 1; last }
                if ($op eq "callx0") { $dead = 1 if $args ne "a8"; last }
                my @a = split /\s*,\s*/, $args;
                if (grep { $_ eq "a8" } @a) {
                    $dead = 1 if $writes{$op} && $a[0] eq "a8" && !grep { $_ eq "a8" } @a[1 .. $#a];
                    last;
                }
                last if $op =~ /^(b|j|loop)/;
            }
            next unless $dead;
            $l[$i] = "${ind}addi\ta1, a1, $n\n";
            $l[$i + 1] = "";
        }
        print @l;
    ' "$1" >"$2"
}

assemble() { # in.s out.o (written atomically: builds of other modules may run at the same time)
    local tmp
    tmp=$(mktemp -d "$asm_dir/tmp.XXXXXX")
    place_literals "$1" "$tmp/placed0.s"
    direct_calls "$tmp/placed0.s" "$tmp/placed1.s"
    stack_adjust "$tmp/placed1.s" "$tmp/placed.s"
    # --no-target-align: GNU as would pad (with up to 3 bytes) before branch targets that follow
    # a jump, for the fetch unit's sake; code space matters more here.
    "$AS" --no-target-align ${XTENSA_ASFLAGS:-} -o "$tmp/out.o" "$tmp/placed.s"
    # Every literal pool must be a .literal.* section (text region, before the code).
    if xtensa-lx106-elf-objdump -h "$tmp/out.o" | awk '$2 ~ /\.literal$/ && $2 !~ /^\.literal/ { print $2; bad = 1 } END { exit !bad }'; then
        echo "build-xtensa: literal pools outside .literal.* sections in $2 (above)" >&2
        exit 1
    fi
    mv -f "$tmp/out.o" "$2"
    rm -rf "$tmp"
}

# compiler_builtins rarely changes: assemble it once per .s (and version of this script).
cb_o=$asm_dir/$(basename "$cb_s" .s).o
if [ "$cb_s" -nt "$cb_o" ] || [ "$0" -nt "$cb_o" ] || [ "$place_literals_awk" -nt "$cb_o" ]; then
    assemble "$cb_s" "$cb_o"
fi
mod_o=$asm_dir/$module.$$.o
assemble "$mod_s" "$mod_o"
# XTENSA_BUILTINS_OUT=FILE: a copy of the assembled compiler_builtins object, for an image that
# must implement the ROM functions mpy-ld sends calls to (xtensa-check's QEMU test).
[ -z "${XTENSA_BUILTINS_OUT:-}" ] || cp "$cb_o" "$XTENSA_BUILTINS_OUT"
"$mpy_ld" link --arch xtensa --name "$module.mpy" -o "$out" --map \
    "$mod_o" "$cb_o" ${glue:+"$glue"} >"${out%.mpy}.map"
# XTENSA_KEEP_OBJ=FILE: keep the module's assembled object (for objdump).
[ -z "${XTENSA_KEEP_OBJ:-}" ] || cp "$mod_o" "$XTENSA_KEEP_OBJ"
rm -f "$mod_o"
