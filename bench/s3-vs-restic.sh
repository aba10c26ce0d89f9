#!/usr/bin/env bash
# cairn beside restic's s3 backend on the same local S3 server (moto, as the tests start it),
# through a proxy that counts every request: full backup, nothing changed, incremental (after
# workload.py mutate), restore. Prints, per tool and step: wall seconds and requests (all, and
# by kind: GET of objects, LIST, PUT, HEAD, DELETE, POST). Each step's time includes a `sync`
# after it (cairn flushes what it restored before it ends; restic leaves it to the kernel).
#
#   bench/s3-vs-restic.sh [SCALE]     (default 0.1: about 150 MB in about 1,200 files)
#
# moto keeps objects in memory and is slow per request: times are those of a slow server,
# which is where requests count most. restic's cache (RESTIC_CACHE_DIR) and cairn's
# (XDG_CACHE_HOME) are both on, as users run them.
set -euo pipefail
scale=${1:-0.1}
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_DIR:-/tmp/cairn-bench}/s3
cairn=$here/../.build/release/cairn
(cd "$here/.." && swift build -c release --static-swift-stdlib >/dev/null)
command -v restic >/dev/null || { echo "restic is missing: apt-get install restic" >&2; exit 1; }
rm -rf "$work"; mkdir -p "$work"
for tool in restic cairn; do python3 "$here/workload.py" create "$work/corpus-$tool" --scale "$scale" >/dev/null; done

python3 "$here/../Tests/Servers/s3_server.py" bench >"$work/server.json" 2>"$work/server.log" &
server=$!
log=$work/requests.log; : >"$log"
trap 'kill $server ${proxy:-} 2>/dev/null || true' EXIT
for _ in $(seq 60); do [[ -s $work/server.json ]] && break; sleep 1; done
read -r port access secret < <(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['port'], j['access'], j['secret'])" "$work/server.json")
exec 3< <(python3 "$here/../Tests/Servers/flaky_proxy.py" "$port" --count-only "$log" 2>"$work/proxy.log")
read -r proxyport <&3
proxy=$(pgrep -f "flaky_proxy.py $port" | head -1)
endpoint=http://127.0.0.1:$proxyport
export AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret AWS_DEFAULT_REGION=us-east-1
export RESTIC_PASSWORD=bench-pass RESTIC_CACHE_DIR=$work/restic-cache RESTIC_REPOSITORY=s3:$endpoint/bench/restic
export CAIRN_KEY=bench-key XDG_STATE_HOME=$work/state XDG_CACHE_HOME=$work/cairn-cache
cat >"$work/cairn.yaml" <<YAML
version: 1
accounts: {bench: {destination: s3://bench/cairn, endpoint: $endpoint, region: us-east-1, path-style: true}}
encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
backup-sets:
  corpus: {account: bench, sources: [$work/corpus-cairn]}
YAML

kinds() { # the requests logged since line $1
  tail -n +"$(( $1 + 1 ))" "$log" | python3 -c '
import sys, collections
kinds = collections.Counter()
for line in sys.stdin:
    method, path = line.split(" ", 1)
    query = path.partition("?")[2]
    if method == "GET" and ("list-type" in query or "prefix=" in query or "delimiter" in query or path.rstrip().count("/") <= 2 and "uploads" not in query):
        kinds["LIST"] += 1
    else:
        kinds[method] += 1
print(sum(kinds.values()), " ".join(f"{k}={v}" for k, v in sorted(kinds.items())))'
}
printf '%-7s %-8s %8s %9s  %s\n' tool step wall_s requests kinds
step() { # tool step command...
  local tool=$1 name=$2; shift 2
  local before; before=$(wc -l <"$log")
  /usr/bin/time -f '%e' -o "$work/time.txt" sh -c '"$@" && sync' step "$@" >"$work/$tool-$name.log" 2>&1 || { echo "$tool $name failed:"; tail -5 "$work/$tool-$name.log"; exit 1; }
  read -r total detail < <(kinds "$before")
  printf '%-7s %-8s %8.2f %9d  %s\n' "$tool" "$name" "$(cat "$work/time.txt")" "$total" "$detail"
}
step restic init restic init
step restic full restic backup "$work/corpus-restic"
step restic again restic backup "$work/corpus-restic"
python3 "$here/workload.py" mutate "$work/corpus-restic" --seed 7 >/dev/null
step restic incr restic backup "$work/corpus-restic"
step restic restore restic restore latest --target "$work/restic-restore"
step cairn full "$cairn" backup -c "$work/cairn.yaml" corpus
step cairn again "$cairn" backup -c "$work/cairn.yaml" corpus
python3 "$here/workload.py" mutate "$work/corpus-cairn" --seed 7 >/dev/null
step cairn incr "$cairn" backup -c "$work/cairn.yaml" corpus
step cairn restore "$cairn" restore -c "$work/cairn.yaml" corpus --to "$work/cairn-restore"
