# Sourced by scripts/demo and bench/pull.sh: a throwaway docker-registry on
# a free loopback port, stopped by the caller's EXIT trap.

# A loopback port that is free now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_registry DIR: serves an anonymous registry with its storage in DIR.
# Sets REGISTRY (127.0.0.1:PORT) and REGISTRY_PID.
start_registry() {
    local dir=$1 port
    port=$(free_port)
    REGISTRY="127.0.0.1:$port"
    cat >"$dir/registry.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: $REGISTRY
YAML
    docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
    REGISTRY_PID=$!

    # Ready in ~30 ms; give it up to 10 s.
    local i
    for i in $(seq 1 200); do
        if curl -fsS --max-time 1 "http://$REGISTRY/v2/" >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$REGISTRY_PID" 2>/dev/null; then
            break
        fi
        sleep 0.05
    done
    echo "registry on $REGISTRY did not start:" >&2
    cat "$dir/registry.log" >&2
    return 1
}

# stop_registry: ends the registry started above, if any.
stop_registry() {
    if [ -n "${REGISTRY_PID:-}" ]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
        REGISTRY_PID=
    fi
}
