# Shared by the benchmark capture makers (make-capture.sh, make-workload.sh), which source
# it: the tools they need and a free port for their brokers. NAME is the caller's name in
# messages.

# need_tools NAME TOOL...: stops with a hint when a tool is missing.
need_tools() {
  local name=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: $tool missing (bash scripts/setup.sh)" >&2; exit 1; }
  done
}

# port_free PORT: nothing listens on PORT.
port_free() { ! ss -Htln "sport = :$1" | grep -q .; }

# free_port NAME PORT...: prints the first PORT nothing listens on, or stops.
free_port() {
  local name=$1 p
  shift
  for p in "$@"; do
    if port_free "$p"; then
      echo "$p"
      return
    fi
  done
  echo "$name: no free port" >&2
  exit 1
}
