#!/usr/bin/env bash
# `make demo`: the whole lumen-link path on one machine, the tutorial's way.
#
#   host-service sensor-data demo.csv --embedded-broker   (the broker and the recorder)
#   mosquitto_sub -t sensor-data                            (what is on the wire)
#   micropython: import client                             (the device: native tsl2591.mpy +
#                                                           mqtt_writer.mpy on the simulated sensor)
#   curl http://127.0.0.1:$STATUS_PORT/status              (the status page)
#
# Settings (env): DEMO_SECONDS (10), DEMO_PORT (1883, or a free one if taken),
# STATUS_PORT (8080, or a free one), DEMO_DIR (build/demo), IMPL (native | fallback).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DEMO_SECONDS=${DEMO_SECONDS:-10}
DEMO_DIR=${DEMO_DIR:-$REPO/build/demo}
IMPL=${IMPL:-native}
MICROPYTHON=${MICROPYTHON:-$REPO/.venv/bin/micropython}
HOST_SERVICE=$REPO/target/release/host-service

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Listening check without connecting (a bare TCP connect makes an MQTT broker log an error).
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
pick_port() { if port_busy "$1"; then free_port; else echo "$1"; fi; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

DEMO_PORT=$(pick_port "${DEMO_PORT:-1883}")
STATUS_PORT=$(pick_port "${STATUS_PORT:-8080}")
case $IMPL in
  native) MODDIR=$REPO/build/x64 ;;
  fallback) MODDIR=$REPO/mpy-scripts/fallback ;;
  *) echo "IMPL must be native or fallback" >&2; exit 2 ;;
esac

rm -rf "$DEMO_DIR"; mkdir -p "$DEMO_DIR/device"
CSV=$DEMO_DIR/demo.csv
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

say "host-service sensor-data $CSV (embedded broker on 127.0.0.1:$DEMO_PORT, status on :$STATUS_PORT)"
"$HOST_SERVICE" sensor-data "$CSV" \
  --embedded-broker="127.0.0.1:$DEMO_PORT" --broker "mqtt://127.0.0.1:$DEMO_PORT" \
  --status-addr "127.0.0.1:$STATUS_PORT" --rejects "$DEMO_DIR/rejects.log" &
pids+=($!)
for _ in $(seq 50); do port_busy "$STATUS_PORT" && port_busy "$DEMO_PORT" && break; sleep 0.1; done

if command -v mosquitto_sub >/dev/null; then
  say "mosquitto_sub -t sensor-data (output in $DEMO_DIR/mosquitto_sub.txt)"
  mosquitto_sub -i demo-sub -h 127.0.0.1 -p "$DEMO_PORT" -t sensor-data > "$DEMO_DIR/mosquitto_sub.txt" &
  pids+=($!)
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
CFG

say "micropython -c 'import client' for ${DEMO_SECONDS}s ($IMPL modules from ${MODDIR#$REPO/})"
MICROPYPATH="$DEMO_DIR/device:$MODDIR:$REPO/mpy-scripts:$REPO/mpy-scripts/sim:.frozen" \
  timeout --signal=INT "$DEMO_SECONDS" "$MICROPYTHON" -c "import client" 2>&1 | grep -v -e '^Traceback' -e '^  File' -e '^KeyboardInterrupt' || true
echo "(stopped the device after ${DEMO_SECONDS}s, as Ctrl-C would)"

say "a malformed payload, the tutorial's own test: mosquitto_pub -m 'hi, there'"
if command -v mosquitto_pub >/dev/null; then
  mosquitto_pub -i demo-pub -h 127.0.0.1 -p "$DEMO_PORT" -t sensor-data -m "hi, there" || echo "(mosquitto_pub failed)"
fi
sleep 0.5

say "curl http://127.0.0.1:$STATUS_PORT/status"
curl -s "http://127.0.0.1:$STATUS_PORT/status"; echo

if [ -f "$DEMO_DIR/mosquitto_sub.txt" ]; then
  say "what mosquitto_sub saw"
  cat "$DEMO_DIR/mosquitto_sub.txt"
fi
say "$CSV"
cat "$CSV"
say "rejects ($DEMO_DIR/rejects.log)"
cat "$DEMO_DIR/rejects.log" 2>/dev/null || true
echo
