#!/usr/bin/env bash
# Pull benchmark (not a test): artifact-store against skopeo and the ORAS
# Python client on the same local registry, in one run.
#
#   bash bench/pull.sh [RUNS]
#
# Two artifacts, both pushed by the ORAS Python client: a 64 MiB random
# single file, and a folder of 2,000 small files (one tar+gzip layer). Each
# tool pulls each artifact RUNS times (default 3); the table shows the best
# wall time and that run's peak RSS, and artifact-store's time as a
# multiple of each peer's. Targets for later work: at most 0.6x skopeo on
# the 64 MiB file, at most 0.3x the ORAS Python client on 2,000 files.
set -euo pipefail

runs=${1:-3}
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/registry.sh
source scripts/registry.sh

bash scripts/setup >&2

echo "building artifact-store (release)..." >&2
cargo build --quiet --release -p artifact-store --bin artifact-store
cli="$repo_root/target/release/artifact-store"
python="$repo_root/.venv/bin/python"
oras="$repo_root/tests/support/oras_push.py"

work=$(mktemp -d)
cleanup() {
    stop_registry
    rm -rf "$work"
}
trap cleanup EXIT

start_registry "$work"

# The artifacts.
mkdir -p "$work/src/blob" "$work/src/templates"
head -c $((64 << 20)) /dev/urandom >"$work/src/blob/random.bin"
python3 - "$work/src/templates" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(2000)
for i in range(2000):
    folder = os.path.join(root, f"group{i % 20:02d}")
    os.makedirs(folder, exist_ok=True)
    size = rng.randint(200, 2000)
    body = "".join(rng.choice("{{ }} abcdefghij\n") for _ in range(size))
    with open(os.path.join(folder, f"template{i:04d}.liquid"), "w") as f:
        f.write(body)
PY
echo "pushing the artifacts..." >&2
timeout 300 "$python" "$oras" push --registry "$REGISTRY" --ref bench/blob:v1 \
    --plain-http "$work/src/blob/random.bin" >/dev/null
timeout 300 "$python" "$oras" push --registry "$REGISTRY" --ref bench/templates:v1 \
    --plain-http "$work/src/templates" >/dev/null

cat >"$work/artifact-store.toml" <<TOML
[[store]]
kind = "oci"
registry = "$REGISTRY"
plain-http = true
TOML

# One warm-up pull so that the component is compiled and cached before any
# timed run, as it is on every run after a machine's first.
timeout 300 "$cli" --config "$work/artifact-store.toml" \
    resolve "$REGISTRY/bench/blob:v1" >/dev/null

# measure NAME OUTDIR FILES COMMAND...: runs COMMAND $runs times with
# OUTDIR emptied before each, checks that OUTDIR then holds FILES files ("-"
# skips the check), and prints "NAME SECONDS KIB" for the fastest run.
measure() {
    local name=$1 out=$2 files=$3 best_time="" best_rss="" i t rss n
    shift 3
    for i in $(seq 1 "$runs"); do
        rm -rf "$out"
        if ! timeout 600 /usr/bin/time -f '%e %M' -o "$work/time" "$@" \
            >"$work/cmd.log" 2>&1; then
            echo "$name failed:" >&2
            cat "$work/cmd.log" >&2
            return 1
        fi
        if [ "$files" != - ]; then
            n=$(find "$out" -type f | wc -l)
            if [ "$n" -ne "$files" ]; then
                echo "$name wrote $n files, not $files" >&2
                return 1
            fi
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

declare -A files=([blob]=1 [templates]=2000)
results="$work/results"
: >"$results"
for artifact in blob templates; do
    ref="bench/$artifact:v1"
    out="$work/out-$artifact"
    {
        echo -n "$artifact "
        measure artifact-store "$out" "${files[$artifact]}" "$cli" --config "$work/artifact-store.toml" \
            pull "$REGISTRY/$ref" --output "$out"
        echo -n "$artifact "
        measure skopeo "$out" - skopeo --insecure-policy copy --quiet \
            --src-tls-verify=false "docker://$REGISTRY/$ref" "dir:$out"
        echo -n "$artifact "
        measure oras-python "$out" "${files[$artifact]}" "$python" "$oras" pull --registry "$REGISTRY" \
            --ref "$ref" --plain-http --output "$out"
    } >>"$results"
done

echo
echo "Best of $runs runs; peak RSS of that run. Local docker-registry, loopback."
awk '
    { time[$1, $2] = $3; rss[$1, $2] = $4; order[++n] = $1 SUBSEP $2 }
    END {
        label["blob"] = "64 MiB file"; label["templates"] = "2,000 files"
        printf "%-12s %-15s %9s %12s %12s %12s\n", "artifact", "tool", "wall (s)", "peak RSS", "vs skopeo", "vs ORAS py"
        for (i = 1; i <= n; i++) {
            split(order[i], k, SUBSEP); a = k[1]; t = k[2]
            vs_skopeo = time[a, "skopeo"] > 0 ? sprintf("%.2fx", time[a, t] / time[a, "skopeo"]) : "-"
            vs_oras = time[a, "oras-python"] > 0 ? sprintf("%.2fx", time[a, t] / time[a, "oras-python"]) : "-"
            printf "%-12s %-15s %9.2f %9.1f MiB %12s %12s\n", label[a], t, time[a, t], rss[a, t] / 1024, vs_skopeo, vs_oras
        }
        print ""
        r1 = time["blob", "artifact-store"] / time["blob", "skopeo"]
        r2 = time["templates", "artifact-store"] / time["templates", "oras-python"]
        printf "target: 64 MiB file  <= 0.60x skopeo      now %.2fx  %s\n", r1, (r1 <= 0.6 ? "met" : "not met")
        printf "target: 2,000 files  <= 0.30x ORAS python now %.2fx  %s\n", r2, (r2 <= 0.3 ? "met" : "not met")
    }
' "$results"
