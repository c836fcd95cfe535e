#!/usr/bin/env bash
# Azure Blob pull benchmark (not a test): artifact-store against Microsoft's
# Python SDK (azure-storage-blob) and curl, on the same Azurite on loopback,
# in one run.
#
#   bash bench/blob.sh [RUNS]
#
# Two artifacts, both uploaded by the SDK to one container with public blob
# access: a 64 MiB random blob, and a prefix of 2,000 small blobs (a few KiB
# each, like a Liquid template collection). artifact-store signs with Shared
# Key; the SDK is a plain user script (download_blob().readinto for the
# blob, list_blobs and one download after the other for the prefix), and
# also, for comparison, with max_concurrency=4 on the blob and 8 threads on
# the prefix; curl fetches the blob anonymously into sha256sum, the floor.
# Every run's output is checked by sha256, so a fast wrong answer fails.
# Each tool pulls each artifact RUNS times (default 3); the table shows the
# best wall time and that run's peak RSS, and each time as a multiple of
# the sequential SDK's and of curl's.
set -euo pipefail

runs=${1:-3}
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/registry.sh
source scripts/registry.sh # for free_port

bash scripts/setup >&2

cli="$repo_root/target/release/artifact-store"
if [ ! -x "$cli" ]; then
    echo "building artifact-store (release; slow on a busy machine)..." >&2
    cargo build --quiet --release -p artifact-store
fi
python="$repo_root/.venv/bin/python"
sdk_tool="$repo_root/tests/support/azure_blob.py"
azurite_js="$repo_root/.tools/node_modules/azurite/dist/src/blob/main.js"

account=devstoreaccount1
# The emulator's well-known key, as Microsoft publishes it.
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
container=bench

work=$(mktemp -d)
azurite_pid=
stop_azurite() {
    if [ -n "$azurite_pid" ]; then
        # setsid made it a process group leader: end the whole group.
        kill -- "-$azurite_pid" 2>/dev/null || true
        wait "$azurite_pid" 2>/dev/null || true
        azurite_pid=
    fi
}
cleanup() {
    stop_azurite
    rm -rf "$work"
}
trap cleanup EXIT

# Azurite, in its own process group, on a free port; a port taken between
# choosing and binding it makes Azurite exit, and it is started again.
start_azurite() {
    local attempt i port
    mkdir -p "$work/azurite"
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        setsid node "$azurite_js" --blobHost 127.0.0.1 --blobPort "$port" \
            --location "$work/azurite" --silent --skipApiVersionCheck \
            --disableTelemetry </dev/null >"$work/azurite.log" 2>&1 &
        azurite_pid=$!
        # Ready in about 1.5 s; give it up to 30 s on a busy machine.
        for i in $(seq 1 300); do
            # Any HTTP answer (an anonymous list is refused) means it serves.
            if curl -s -o /dev/null --max-time 1 \
                "http://127.0.0.1:$port/$account?comp=list"; then
                endpoint="http://127.0.0.1:$port/$account"
                return 0
            fi
            if ! kill -0 "$azurite_pid" 2>/dev/null; then
                break
            fi
            sleep 0.1
        done
        echo "Azurite on port $port did not start (attempt $attempt):" >&2
        cat "$work/azurite.log" >&2
        stop_azurite
    done
    return 1
}

start_azurite
echo "Azurite at $endpoint" >&2
export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=$endpoint;"

# The artifacts.
mkdir -p "$work/src/templates"
head -c $((64 << 20)) /dev/urandom >"$work/src/random.bin"
python3 - "$work/src/templates" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(2000)
for i in range(2000):
    folder = os.path.join(root, f"group{i % 20:02d}")
    os.makedirs(folder, exist_ok=True)
    size = rng.randint(1000, 6000)
    body = "".join(rng.choice("{{ }} abcdefghij\n") for _ in range(size))
    with open(os.path.join(folder, f"template{i:04d}.liquid"), "w") as f:
        f.write(body)
PY

# tree_sum DIR: sha256sum's listing of every file under DIR, by path, then
# the sha256 of that listing (the folder digest artifact-store reports).
tree_sum() {
    (cd "$1" && find . -type f -printf '%P\0' | LC_ALL=C sort -z |
        xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}
blob_sha=$(sha256sum "$work/src/random.bin" | cut -d' ' -f1)
tree_sha=$(tree_sum "$work/src/templates")

echo "uploading the artifacts with the SDK..." >&2
timeout 300 "$python" "$sdk_tool" create-container "$container" --public blob
timeout 300 "$python" "$sdk_tool" upload "$container" random.bin "$work/src/random.bin"
timeout 600 "$python" "$sdk_tool" upload-dir "$container" templates/ "$work/src/templates"

cat >"$work/artifact-store.toml" <<TOML
[[store]]
kind = "azure-blob"
endpoint = "$endpoint"
account-key-env = "BENCH_AZURE_STORAGE_KEY"
TOML
export BENCH_AZURE_STORAGE_KEY="$key"

# The SDK as a user would script it: MODE is blob or prefix; N is
# max_concurrency for a blob, or threads, one download each, for a prefix
# (1: one after the other).
cat >"$work/sdk_pull.py" <<'PY'
import os, sys
from concurrent.futures import ThreadPoolExecutor
from azure.storage.blob import ContainerClient

mode, container, name, out, n = sys.argv[1:6]
n = int(n)
client = ContainerClient.from_connection_string(
    os.environ["AZURE_STORAGE_CONNECTION_STRING"], container
)
os.makedirs(out, exist_ok=True)

def fetch(blob, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        client.download_blob(blob, max_concurrency=1).readinto(f)

if mode == "blob":
    with open(os.path.join(out, os.path.basename(name)), "wb") as f:
        client.download_blob(name, max_concurrency=n).readinto(f)
elif n == 1:
    for item in client.list_blobs(name_starts_with=name):
        fetch(item.name, os.path.join(out, item.name[len(name):]))
else:
    names = [item.name for item in client.list_blobs(name_starts_with=name)]
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda b: fetch(b, os.path.join(out, b[len(name):])), names))
PY

# One warm-up call so that the component is compiled and cached before any
# timed run, as it is on every run after a machine's first.
timeout 300 "$cli" --config "$work/artifact-store.toml" \
    resolve "$endpoint/$container/templates/group00/template0000.liquid" >/dev/null

# check KIND OUT: OUT holds what was uploaded. KIND is blob (one file with
# the blob's bytes), prefix (the template tree) or sum (a file "sum" with
# sha256sum's output for the blob, as curl | sha256sum writes it).
check() {
    local kind=$1 out=$2 got n
    case $kind in
    blob)
        n=$(find "$out" -type f | wc -l)
        if [ "$n" -ne 1 ]; then
            echo "wrote $n files, not 1" >&2
            return 1
        fi
        got=$(find "$out" -type f -exec sha256sum {} + | cut -d' ' -f1)
        [ "$got" = "$blob_sha" ] || { echo "blob sha256 $got, not $blob_sha" >&2; return 1; }
        ;;
    prefix)
        got=$(tree_sum "$out")
        [ "$got" = "$tree_sha" ] || { echo "tree sha256 $got, not $tree_sha" >&2; return 1; }
        ;;
    sum)
        got=$(cut -d' ' -f1 "$out/sum")
        [ "$got" = "$blob_sha" ] || { echo "piped sha256 $got, not $blob_sha" >&2; return 1; }
        ;;
    esac
}

# measure NAME KIND OUT COMMAND...: runs COMMAND $runs times with OUT
# removed before each, checks OUT (see check) after each, and prints
# "NAME SECONDS KIB" for the fastest run.
measure() {
    local name=$1 kind=$2 out=$3 best_time="" best_rss="" i t rss
    shift 3
    for i in $(seq 1 "$runs"); do
        rm -rf "$out"
        if [ "$kind" = sum ]; then mkdir -p "$out"; fi
        if ! timeout 600 /usr/bin/time -f '%e %M' -o "$work/time" "$@" \
            >"$work/cmd.log" 2>&1; then
            echo "$name failed:" >&2
            cat "$work/cmd.log" >&2
            return 1
        fi
        if ! check "$kind" "$out"; then
            echo "$name gave a wrong answer (run $i)" >&2
            return 1
        fi
        read -r t rss <"$work/time"
        if [ -z "$best_time" ] || awk -v a="$t" -v b="$best_time" 'BEGIN { exit !(a < b) }'; then
            best_time=$t
            best_rss=$rss
        fi
    done
    rm -rf "$out"
    echo "$name $best_time $best_rss"
}

store=("$cli" --config "$work/artifact-store.toml")
sdk=("$python" "$work/sdk_pull.py")
blob_url="$endpoint/$container/random.bin"
out="$work/out"
results="$work/results"
: >"$results"
echo "measuring, $runs runs each..." >&2
{
    echo -n "blob "
    measure artifact-store blob "$out" "${store[@]}" pull "$blob_url" --output "$out"
    echo -n "blob "
    measure sdk blob "$out" "${sdk[@]}" blob "$container" random.bin "$out" 1
    echo -n "blob "
    measure sdk-parallel blob "$out" "${sdk[@]}" blob "$container" random.bin "$out" 4
    echo -n "blob "
    # shellcheck disable=SC2016 # $1 and $2 are bash -c's arguments
    measure curl sum "$out" bash -c 'set -o pipefail; curl -sSf "$1" | sha256sum >"$2/sum"' \
        curl "$blob_url" "$out"
    echo -n "templates "
    measure artifact-store prefix "$out" "${store[@]}" pull "$endpoint/$container/templates/" --output "$out"
    echo -n "templates "
    measure sdk prefix "$out" "${sdk[@]}" prefix "$container" templates/ "$out" 1
    echo -n "templates "
    measure sdk-parallel prefix "$out" "${sdk[@]}" prefix "$container" templates/ "$out" 8
} >>"$results"

echo
echo "Best of $runs runs; peak RSS of that run. Azurite $(node -p "require('$repo_root/.tools/node_modules/azurite/package.json').version"), loopback."
awk '
    { time[$1, $2] = $3; rss[$1, $2] = $4; order[++n] = $1 SUBSEP $2 }
    END {
        label["blob"] = "64 MiB blob"; label["templates"] = "2,000 blobs"
        tool["artifact-store"] = "artifact-store"; tool["curl"] = "curl | sha256sum"
        tool["sdk"] = "SDK"
        tool["sdk-parallel blob"] = "SDK, max_concurrency=4"
        tool["sdk-parallel templates"] = "SDK, 8 threads"
        printf "%-12s %-24s %9s %12s %9s %9s\n", "artifact", "tool", "wall (s)", "peak RSS", "vs SDK", "vs curl"
        for (i = 1; i <= n; i++) {
            split(order[i], k, SUBSEP); a = k[1]; t = k[2]
            name = (t " " a) in tool ? tool[t " " a] : tool[t]
            vs_sdk = time[a, "sdk"] > 0 ? sprintf("%.2fx", time[a, t] / time[a, "sdk"]) : "-"
            vs_curl = time[a, "curl"] > 0 ? sprintf("%.2fx", time[a, t] / time[a, "curl"]) : "-"
            printf "%-12s %-24s %9.2f %8.1f MiB %9s %9s\n", label[a], name, time[a, t], rss[a, t] / 1024, vs_sdk, vs_curl
        }
    }
' "$results"
