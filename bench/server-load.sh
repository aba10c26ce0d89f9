#!/usr/bin/env bash
# cairn server under load on loopback: CLIENTS clients (default 20), each its own account and
# set, back up at once through one server; one of them is killed (SIGKILL) in the middle of
# its upload. Prints the wall time, the throughput (bytes the server stored per second), the
# server's request latencies (p50, p99: from its --verbose log, time to the answer's head;
# for a PUT that is the whole upload), its peak memory (VmHWM), then runs the killed
# client's backup again and checks every repository with verify --read-data.
# Then the goal's comparison: one client's backup of a tree through the server against the
# same backup to a local folder (GOAL_ROUNDS pairs, default 10, alternated; the median of each
# and the median of the pairs' ratios).
#
#   bench/server-load.sh [CLIENTS] [SCALE]    (default 20 clients, scale 0.02: ~30 MB each)
set -euo pipefail
clients=${1:-20}
scale=${2:-0.02}
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_DIR:-/tmp/cairn-bench}/server
cairn=$here/../.build/release/cairn
(cd "$here/.." && swift build -c release --static-swift-stdlib >/dev/null)
rm -rf "$work"; mkdir -p "$work/storage" "$work/local"
cd "$work"

# A test CA and a certificate for 127.0.0.1.
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
echo "subjectAltName=IP:127.0.0.1" >ext.cnf
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile ext.cnf 2>/dev/null

hash=$(printf 'bench password\n' | "$cairn" server hash-password)
{
    echo "version: 1"; echo "listen: 127.0.0.1:0"; echo "tls: {certificate: server.crt, key: server.key}"; echo "storage: storage"; echo "accounts:"
    for i in $(seq 1 "$clients"); do echo "  client$i: {password-hash: \"$hash\", quota: 10GB}"; done
} >server.yaml
"$cairn" server -c server.yaml --verbose 2>server.log &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" server.log && break; sleep 0.1; done
port=$(grep -o 'https://127.0.0.1:[0-9]*' server.log | head -1 | sed 's/.*://')

export CAIRN_KEY="bench key" SERVER_PASSWORD="bench password" NO_COLOR=1
for i in $(seq 1 "$clients"); do
    mkdir -p "client$i"
    python3 "$here/workload.py" create "client$i/source" --scale "$scale" --seed "$i" >/dev/null
    cat >"client$i/cairn.yaml" <<YAML
version: 1
accounts:
  server: {destination: https://127.0.0.1:$port/client$i, password: {env: SERVER_PASSWORD}, ca-file: $work/ca.crt}
  local: {destination: $work/local}
encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
backup-sets:
  set$i: {account: server, sources: [./source]}
  local$i: {account: local, sources: [./source]}
YAML
done
source_bytes=$(du -sb client*/source | awk '{s+=$1} END {print s}')

echo "== $clients clients at once, client 7 killed mid-upload ($((source_bytes / 1000000)) MB of sources)"
start=$(date +%s.%N)
pids=()
for i in $(seq 1 "$clients"); do
    (cd "client$i" && XDG_STATE_HOME=$PWD/state XDG_CACHE_HOME=$PWD/cache exec "$cairn" backup "set$i" -q >out.log 2>&1) &
    pids+=($!)
done
victim=${pids[6]}
for _ in $(seq 200); do grep -q "client7 PUT client7/set7/data/" server.log && break; sleep 0.05; done
kill -9 "$victim" 2>/dev/null || true
failed=0
for index in "${!pids[@]}"; do
    [[ $index == 6 ]] && { wait "${pids[$index]}" 2>/dev/null || true; continue; }
    wait "${pids[$index]}" || { failed=$((failed + 1)); echo "client $((index + 1)) failed:"; cat "client$((index + 1))/out.log"; }
done
end=$(date +%s.%N)
stored=$(du -sb storage | awk '{print $1}')
python3 - "$start" "$end" "$stored" server.log "$server" <<'PY'
import re, sys
start, end, stored, log, pid = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
times = {"all": [], "PUT": [], "GET": [], "HEAD": []}
for line in open(log):
    m = re.search(r" (GET|PUT|HEAD|DELETE|POST) \S+ (\d{3}) ([0-9.]+) ms$", line)
    if m:
        times["all"].append(float(m.group(3)))
        if m.group(1) in times: times[m.group(1)].append(float(m.group(3)))
def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else 0
hwm = [l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM")][0]
wall = end - start
print(f"wall {wall:.1f} s; stored {stored/1e6:.0f} MB; throughput {stored/1e6/wall:.1f} MB/s")
for kind, values in times.items():
    if values: print(f"{kind}: {len(values)} requests, p50 {pct(values, .5):.1f} ms, p99 {pct(values, .99):.1f} ms, max {max(values):.1f} ms")
print(f"server peak memory (VmHWM): {int(hwm)/1024:.0f} MiB")
PY
echo "clients failed (besides the one killed): $failed"

echo "== the killed client again, then verify --read-data of every repository"
(cd client7 && XDG_STATE_HOME=$PWD/state XDG_CACHE_HOME=$PWD/cache "$cairn" backup set7 -q)
damaged=0
for i in $(seq 1 "$clients"); do
    (cd "client$i" && XDG_STATE_HOME=$PWD/state XDG_CACHE_HOME=$PWD/cache "$cairn" verify "set$i" --read-data -q) || damaged=$((damaged + 1))
done
echo "repositories with problems: $damaged of $clients"
echo "temporary files left in the storage: $(find storage -name '.tmp-*' | wc -l)"

echo "== one backup through the server against the same to a local folder (${GOAL_ROUNDS:-10} pairs)"
python3 "$here/workload.py" create goal/source --scale "${GOAL_SCALE:-0.2}" --seed 99 >/dev/null
sed "s#./source#$work/goal/source#; s#set1:#goalserver:#; s#local1:#goallocal:#" client1/cairn.yaml >goal/cairn.yaml
for round in $(seq "${GOAL_ROUNDS:-10}"); do
    for target in goallocal goalserver; do
        rm -rf goal/state goal/cache
        [[ $target == goallocal ]] && rm -rf local/goallocal local/.cairn-repositories.json
        [[ $target == goalserver ]] && rm -rf storage/client1/goalserver
        s=$(date +%s.%N)
        (cd goal && XDG_STATE_HOME=$PWD/state XDG_CACHE_HOME=$PWD/cache "$cairn" backup "$target" -q)
        e=$(date +%s.%N)
        echo "$target $(python3 -c "print(f'{$e - $s:.2f}')")" >>goal/times
    done
done
python3 - goal/times "$(du -sb goal/source | awk '{print $1}')" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    name, value = line.split(); times.setdefault(name, []).append(float(value))
local, server = statistics.median(times["goallocal"]), statistics.median(times["goalserver"])
pairs = statistics.median(s / l for l, s in zip(times["goallocal"], times["goalserver"]))
print(f"tree {int(sys.argv[2])/1e6:.0f} MB: local folder {local:.2f} s {times['goallocal']}, through the server {server:.2f} s {times['goalserver']}")
print(f"medians {server/local:.2f}x; median of the pairs' ratios {pairs:.2f}x")
PY
