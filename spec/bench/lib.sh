# spec/bench/lib.sh - what the self-contained bench scripts (sleep_bench.sh,
# proxy_bench.sh, memory.sh) share; sourced from the project root under
# `set -euo pipefail`.
#
#   bench_args HELP_END "$@"   # --no-build (BUILD=0), -h/--help (lines 2..HELP_END of the script)
#   bench_workdir              # WORK: a temporary directory; PIDS: servers to stop at exit
#   bench_build                # build-release/crater, unless --no-build
#   free_port, wait_port PORT

bench_args() {
  local help_end=$1 arg
  shift
  BUILD=1
  for arg in "$@"; do
    case "$arg" in
      --no-build) BUILD=0 ;;
      -h|--help) sed -n "2,${help_end}p" "$0"; exit 0 ;;
      *) echo "$(basename "$0"): unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
  done
}

bench_cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}

bench_workdir() {
  WORK="$(mktemp -d)"
  PIDS=()
  trap bench_cleanup EXIT
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

bench_build() {
  if [ "$BUILD" = 1 ]; then
    cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCRATER_ASAN=OFF >/dev/null
    cmake --build build-release -j2 --target crater >/dev/null
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
