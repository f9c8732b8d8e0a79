#!/usr/bin/env bash
# Does the mock pay more per request when every request has its own token's path?
#
#     cargo build --release -p pushgate-mocks
#     mocks/benches/h2load_paths.sh [ROUNDS]    # default 2
#
# Starts `pushgate-mock` as the pipeline benchmark does (one tokio worker, no request log,
# no per-token counts), then alternates h2load runs of 200,000 requests (`-c 4 -m 100`, the
# benchmark's headers and payload): one token's path on every request, then 20,000
# distinct token paths (`-i`). Prints each run's rate and the mock's CPU time per request
# (user + system, from /proc). Linux only; needs h2load (Debian: nghttp2-client).
set -euo pipefail
rounds=${1:-2}
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
mock=${PUSHGATE_MOCK_BIN:-$top/target/release/pushgate-mock}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$mock" fixtures --dir "$dir" > "$dir/fixtures.json"
cd "$dir"
"$mock" --worker-threads 1 --config mock.toml --no-request-log --no-delivery-counts \
    > addr.json 2>/dev/null &
pid=$!
until [ -s addr.json ]; do sleep 0.05; done
port=$(python3 -c "import json; print(json.load(open('addr.json'))['apns'])")
key=$(ls AuthKey_*.p8)
token=$("$mock" apns-token --key "$key" \
    --key-id "$(python3 -c "import json; print(json.load(open('fixtures.json'))['key_id'])")" \
    --team-id "$(python3 -c "import json; print(json.load(open('fixtures.json'))['team_id'])")")
python3 -c "
for i in range(1, 20001): print('https://$port/3/device/%064x' % (i * 2654435761 % 2**64))" > uris.txt
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
for round in $(seq 1 "$rounds"); do
    for paths in one distinct; do
        if [ "$paths" = one ]; then target=("https://$port/3/device/$(printf %064x 1)");
        else target=(-i uris.txt); fi
        before=$(cpu)
        line=$(h2load -n 200000 -c 4 -m 100 -H "authorization: bearer $token" \
            -H "apns-topic: com.example.app" -H "apns-push-type: alert" -d payload.json \
            "${target[@]}" | grep "finished in")
        after=$(cpu)
        rate=$(echo "$line" | sed -E 's/.* ([0-9.]+) req\/s.*/\1/')
        echo "round $round, $paths path(s): $rate req/s, mock $(python3 -c \
            "print(round(($after - $before) / $ticks * 1e6 / 200000, 1))") µs CPU per request"
    done
done
