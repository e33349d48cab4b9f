# Shell helpers for scripts that run `relate serve` (sourced, not run):
# start the server on an ephemeral loopback port, wait until it listens, and
# stop it when the script exits.
#
#   start_relate_server RELATE STORE WORKDIR
#
# Sets `server` (the process id) and `base` (e.g. http://127.0.0.1:41234);
# the server's output goes to WORKDIR/stdout and WORKDIR/stderr. On failure
# it prints the server's error output and exits the script with status 1.

server=""
stop_relate_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}

start_relate_server() {
  local relate=$1 store=$2 work=$3
  "$relate" serve --store "$store" --addr 127.0.0.1:0 >"$work/stdout" 2>"$work/stderr" &
  server=$!
  # Up to a minute: a debug build opening a large library is slow.
  for _ in $(seq 1 6000); do
    grep -q '^listening on ' "$work/stdout" && break
    if ! kill -0 "$server" 2>/dev/null; then
      cat "$work/stderr" >&2
      echo "relate serve stopped before listening" >&2
      exit 1
    fi
    sleep 0.01
  done
  base=$(sed -n 's/^listening on //p' "$work/stdout")
  if [ -z "$base" ]; then
    cat "$work/stderr" >&2
    echo "relate serve never listened" >&2
    exit 1
  fi
}
