#!/usr/bin/env bash
# `make demo`: the whole lumen-link path on one machine, the tutorial's way.
#
#   host-service sensor-data demo.csv --embedded-broker   (the broker and the recorder)
#   mosquitto_sub -t sensor-data                            (what is on the wire)
#   micropython: import client                             (the device: native tsl2591.mpy +
#                                                           mqtt_writer.mpy on the simulated sensor)
#   curl http://127.0.0.1:$STATUS_PORT/status              (the status page)
#
# Every line is labelled with its source (`device        | ...`, `host-service  | ...`) and
# written as soon as it is produced, one whole line at a time, so a terminal and a log
# (`make demo > demo.log 2>&1`, `make demo | tee demo.log`) show the lines in the order they
# happened: each source's in its own order, different sources' as they came (to within the
# few milliseconds a line takes through its labeller).
#
# Settings (environment or make variables):
#   DEMO_SECONDS  how long the device runs (default 10)
#   IMPL          native (build/x64/*.mpy, the default) or fallback (pure-Python modules)
#   DEMO_PORT     MQTT port of the embedded broker (1883, or a free one if taken)
#   STATUS_PORT   port of host-service's status page (8080, or a free one if taken)
#   DEMO_DIR      where the CSV, the device's config.py and the rejects file go (build/demo)
set -euo pipefail
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit 0
fi
cd "$(dirname "$0")/.."
REPO=$PWD
DEMO_SECONDS=${DEMO_SECONDS:-10}
DEMO_DIR=${DEMO_DIR:-$REPO/build/demo}
IMPL=${IMPL:-native}
MICROPYTHON=${MICROPYTHON:-$REPO/.venv/bin/micropython}
HOST_SERVICE=$REPO/target/release/host-service

case $DEMO_SECONDS in
  ''|*[!0-9.]*) echo "demo: DEMO_SECONDS must be a number of seconds, got '$DEMO_SECONDS'" >&2; exit 2 ;;
esac
case $IMPL in
  native) MODDIR=$REPO/build/x64 ;;
  fallback) MODDIR=$REPO/mpy-scripts/fallback ;;
  *) echo "demo: IMPL must be native or fallback, got '$IMPL'" >&2; exit 2 ;;
esac
# What `make demo` builds first (run this script directly, and they may be missing).
missing=()
[ -x "$HOST_SERVICE" ] || missing+=("${HOST_SERVICE#"$REPO"/} (make host)")
[ -x "$MICROPYTHON" ] || missing+=("$MICROPYTHON (make setup)")
[ "$IMPL" = fallback ] || [ -f "$MODDIR/tsl2591.mpy" ] || missing+=("${MODDIR#"$REPO"/}/tsl2591.mpy (make natmods, or IMPL=fallback)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "demo: missing ${missing[*]}; \`make demo\` builds everything first" >&2
  exit 2
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Listening check without connecting (a bare TCP connect makes an MQTT broker log an error).
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
pick_port() { if port_busy "$1"; then free_port; else echo "$1"; fi; }

# label TAG: copy stdin to stdout, each line prefixed with TAG and written at once (bash's
# printf writes each line with one write(2), so labelled lines from several processes
# interleave whole, in the order they come).
label() {
  local tag=$1 line
  while IFS= read -r line || [ -n "$line" ]; do
    # The device is stopped with SIGINT, as Ctrl-C would: its KeyboardInterrupt traceback
    # says nothing new.
    case $tag:$line in
      device:Traceback*|device:"  File "*|device:KeyboardInterrupt*) continue ;;
    esac
    printf '%-13s | %s\n' "$tag" "$line"
  done
}
if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
say() { printf '%-13s | %s== %s%s\n' demo "$BOLD" "$*" "$PLAIN"; }

pids=()   # background programs
lpids=()  # their labellers
# background TAG CMD...: start CMD with its stdout and stderr labelled TAG.
background() {
  local tag=$1 fd
  shift
  exec {fd}> >(label "$tag")
  lpids+=($!)
  "$@" >&"$fd" 2>&1 &
  pids+=($!)
  exec {fd}>&-
}
stop_all() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # Their last lines are out once the labellers end.
  for p in "${lpids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=() lpids=()
}
trap stop_all EXIT

DEMO_PORT=$(pick_port "${DEMO_PORT:-1883}")
STATUS_PORT=$(pick_port "${STATUS_PORT:-8080}")
rm -rf "$DEMO_DIR"; mkdir -p "$DEMO_DIR/device"
CSV=$DEMO_DIR/demo.csv

say "host-service sensor-data $CSV (embedded broker on 127.0.0.1:$DEMO_PORT, status on :$STATUS_PORT)"
background host-service "$HOST_SERVICE" sensor-data "$CSV" \
  --embedded-broker="127.0.0.1:$DEMO_PORT" --broker "mqtt://127.0.0.1:$DEMO_PORT" \
  --status-addr "127.0.0.1:$STATUS_PORT" --rejects "$DEMO_DIR/rejects.log"
for _ in $(seq 50); do port_busy "$STATUS_PORT" && port_busy "$DEMO_PORT" && break; sleep 0.1; done

if command -v mosquitto_sub >/dev/null; then
  say "mosquitto_sub -t sensor-data (what is on the wire)"
  # stdbuf: mosquitto_sub's stdio would hold its lines in a block buffer on a pipe.
  background mosquitto_sub stdbuf -oL mosquitto_sub -i demo-sub -h 127.0.0.1 -p "$DEMO_PORT" -t sensor-data
fi

# The device's config.py, as a user would edit it for this machine.
cat > "$DEMO_DIR/device/config.py" <<CFG
SENSOR_ID = 'lux-1'
WIFI_ESSID = 'demo'
WIFI_PASSWORD = 'demo'
MQTT_HOST = '127.0.0.1'
MQTT_PORT = $DEMO_PORT
MQTT_TOPIC = 'sensor-data'
SLEEP_TIME = 1.0
SIM_CHANNELS = (109, 24)  # the simulated sensor's raw counts: 284.1312 lux, the tutorial's number
CFG

say "micropython -c 'import client' for ${DEMO_SECONDS}s ($IMPL modules from ${MODDIR#"$REPO"/})"
MICROPYPATH="$DEMO_DIR/device:$MODDIR:$REPO/mpy-scripts:$REPO/mpy-scripts/sim:.frozen" \
  timeout --signal=INT "$DEMO_SECONDS" "$MICROPYTHON" -c "import client" 2>&1 | label device || true
say "stopped the device after ${DEMO_SECONDS}s, as Ctrl-C would"

if command -v mosquitto_pub >/dev/null; then
  say "a malformed payload, the tutorial's own test: mosquitto_pub -m 'hi, there'"
  mosquitto_pub -i demo-pub -h 127.0.0.1 -p "$DEMO_PORT" -t sensor-data -m "hi, there" 2>&1 \
    | label mosquitto_pub || true
  # host-service writes it to the rejects file before acknowledging it: wait for that (at
  # most 10 s), not for a fixed time, so the status and the rejects below include it.
  for _ in $(seq 100); do [ -s "$DEMO_DIR/rejects.log" ] && break; sleep 0.1; done
fi

say "curl http://127.0.0.1:$STATUS_PORT/status"
{ curl -sS "http://127.0.0.1:$STATUS_PORT/status"; echo; } 2>&1 | label curl || true

say "stopping host-service and mosquitto_sub"
stop_all
say "$CSV"
label csv < "$CSV"
say "rejects ($DEMO_DIR/rejects.log)"
if [ -s "$DEMO_DIR/rejects.log" ]; then label rejects < "$DEMO_DIR/rejects.log"; fi
