#!/usr/bin/env bash
# The `make run` demo, end to end on the embedded SQLite database under $BROKER_HOME:
# load the demo department, check and explain the weekly policy, create the log keys,
# start the municipality's reference receiver, push this week's release to it, verify
# the disclosure log, create the demo users (printing their set-password links) and,
# with --serve, serve the broker (scheduler on) until Ctrl-C.
# The receiver stops when this script ends.
set -euo pipefail

BIN=${BIN:-.venv/bin}
export BROKER_HOME=${BROKER_HOME:-var}
ORG=${ORG:-bo-vest}
RECEIVER_PORT=${RECEIVER_PORT:-7390}
POLICY=albertslund-visitation-weekly
RECEIVER_URL="http://127.0.0.1:${RECEIVER_PORT}"
# The municipality's two recipients (the weekly list, the contact checks) share its receiver.
export BROKER_RECIPIENTS="[{\"id\": \"albertslund/visitation\", \"webhook\": \"${RECEIVER_URL}/releases\"},
 {\"id\": \"albertslund/bostoette\", \"webhook\": \"${RECEIVER_URL}/releases\"}]"

# Who the demo's controllers are, for their records of processing (/fortegnelse).
export BROKER_CONTROLLERS='[{"org": "bo-vest", "name": "Boligselskabet Vest (demo)", "contact": "Demovej 1, 2620 Albertslund; post@bo-vest.example", "dpo": "dpo@bo-vest.example"},
 {"org": "albertslund", "name": "Albertslund Kommune (demo)", "contact": "Demovej 2, 2620 Albertslund", "dpo": "dpo@albertslund.example"}]'

broker() { "$BIN/broker" "$@"; }

mkdir -p "$BROKER_HOME"
broker db upgrade
broker demo-data --out "$BROKER_HOME/demo-export.csv" --load "$ORG" --next "$BROKER_HOME/demo-export-next.csv"
broker policy check
broker policy explain "$POLICY"
broker keys init
broker keys export-public --out "$BROKER_HOME/log-public.pem"

echo "starting the municipality's receiver on ${RECEIVER_URL} (store: $BROKER_HOME/municipality)"
# Not through the function: $! must be the receiver's own process, for the trap to stop it.
"$BIN/broker" receiver --port "$RECEIVER_PORT" --public-key "$BROKER_HOME/log-public.pem" \
    --store "$BROKER_HOME/municipality" >"$BROKER_HOME/receiver.log" 2>&1 &
receiver=$!
trap 'kill "$receiver" 2>/dev/null; wait "$receiver" 2>/dev/null || true' EXIT
listening() {
    "$BIN/python" -c "import sys, urllib.request as r; r.urlopen(sys.argv[1], timeout=1)" \
        "${RECEIVER_URL}/healthz" 2>/dev/null
}
for _ in $(seq 100); do
    listening && break
    if ! kill -0 "$receiver" 2>/dev/null; then break; fi
    sleep 0.1
done
if ! listening; then
    echo "the receiver did not start on port ${RECEIVER_PORT} (set RECEIVER_PORT to another):" >&2
    cat "$BROKER_HOME/receiver.log" >&2
    exit 1
fi

broker push "$POLICY"
broker audit verify
echo "the municipality's receiver holds $(ls "$BROKER_HOME/municipality/releases" | wc -l) release(s) with their receipts"

# One demo user per role, made once; each sets its password through its one-time link.
broker user demo --org "$ORG"

if [[ "${1:-}" == "--serve" ]]; then
    broker serve
fi
