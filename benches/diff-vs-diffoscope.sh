#!/usr/bin/env bash
# Benchmark: `tamis diff --explain A B` against `diffoscope --text OUT A B`, the tool people run
# today to see why two builds differ, on the two real root filesystems of the fixture
# (scripts/make-rootfs-pair.sh, trees "a" and "b"; both tools only read them, so no copies).
#
# Same run, same trees, warm page cache for both (every file is read once before timing).
# Also prints the limit tamis is measured against: SHA-256 of every byte of both trees at the
# speed of `openssl speed -evp sha256` on this CPU, spread over every core (the files read
# into memory, as tamis must), and the machine's load before and after (uptime).
#
#   benches/diff-vs-diffoscope.sh [-n RUNS] [--timeout S] [FIXTURE_DIR | A B]
#   (FIXTURE_DIR, or TAMIS_FIXTURE_DIR: the directory holding rootfs-pair/a and b)
# tamis is timed RUNS times (median); diffoscope once, under a time limit, since on whole trees
# it takes minutes. Prints both wall times, the ratio diffoscope/tamis, the size of each
# output, and whether diffoscope hit the limit (then the ratio is a lower bound).
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: diff-vs-diffoscope.sh [-h] [-n RUNS] [--timeout SECONDS] [--no-build] [A B]

  A B               the trees to compare (default: the fixture's a and b)
  -n RUNS           timed runs of tamis (default 3; diffoscope runs once)
  --timeout SECONDS limit for diffoscope (default 60: the ratio is then a lower bound)
  --no-build        do not run `cargo build --release -p tamis`

Environment:
  TAMIS_BIN     tamis binary (default: <repo>/target/release/tamis, built first)
  BENCH_TMP     where outputs go (default: <repo>/target/bench)
USAGE
}

log() { printf 'diff-vs-diffoscope: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

runs=3
limit=60
build=yes
trees=()
while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        -n) [[ $# -ge 2 ]] || die "-n needs a value"; runs=$2; shift 2 ;;
        --timeout) [[ $# -ge 2 ]] || die "--timeout needs a value"; limit=$2; shift 2 ;;
        --no-build) build=no; shift ;;
        -*) usage >&2; exit 2 ;;
        *) trees+=("$1"); shift ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$runs'"
[[ $limit =~ ^[1-9][0-9]*$ ]] || die "--timeout must be whole seconds, not '$limit'"
if ((${#trees[@]} == 1)); then
    TAMIS_FIXTURE_DIR=${trees[0]}
    trees=()
fi
((${#trees[@]} == 0 || ${#trees[@]} == 2)) || { usage >&2; exit 2; }

script_path=$(readlink -f "${BASH_SOURCE[0]}")
repo=$(cd "$(dirname "$script_path")/.." && pwd)

if ((${#trees[@]} == 0)); then
    # No-op when the fixture is up to date (not run on a fixture directory given).
    [[ -n ${TAMIS_FIXTURE_DIR:-} ]] || "$repo/scripts/make-rootfs-pair.sh"
    pair=${TAMIS_FIXTURE_DIR:-$repo/target/fixtures}/rootfs-pair
    trees=("$pair/a" "$pair/b")
fi
a=$(readlink -f "${trees[0]}") b=$(readlink -f "${trees[1]}")
[[ -d $a && -d $b ]] || die "$a and $b must be directories"

command -v diffoscope >/dev/null || die "diffoscope not installed (apt-get install diffoscope-minimal)"
tamis=${TAMIS_BIN:-$repo/target/release/tamis}
if [[ $build == yes && -z ${TAMIS_BIN:-} ]]; then
    log "building tamis (cargo build --release -p tamis)"
    (cd "$repo" && cargo build --release -p tamis) >&2
fi
[[ -x $tamis ]] || die "no tamis binary at $tamis"

mkdir -p "${BENCH_TMP:-$repo/target/bench}"
scratch=$(mktemp -d "${BENCH_TMP:-$repo/target/bench}/diff-vs-diffoscope.XXXXXX")
trap 'rm -rf --one-file-system "$scratch"' EXIT

now() { date +%s%N; }
seconds() { printf '%d.%03d' $(( $1 / 1000000000 )) $(( $1 % 1000000000 / 1000000 )); }

load_before=$(uptime | sed 's/.*load average: //')
log "warming the page cache (reading every file of both trees once)"
find "$a" "$b" -type f -print0 | xargs -0 cat >/dev/null 2>&1 || true

: >"$scratch/tamis-times"
: >"$scratch/tamis-cpu"
for ((i = 1; i <= runs; i++)); do
    t0=$(now)
    rc=0
    /usr/bin/time -f '%U %S' -o "$scratch/cpu" "$tamis" diff --explain "$a" "$b" >"$scratch/tamis.out" || rc=$?
    tail -n 1 "$scratch/cpu" | awk '{ print $1 + $2 }' >>"$scratch/tamis-cpu"
    t1=$(now)
    ((rc == 0 || rc == 1)) || die "tamis diff failed (exit $rc)"
    echo $(( t1 - t0 )) >>"$scratch/tamis-times"
    log "tamis run $i/$runs: $(seconds $(( t1 - t0 ))) s (exit $rc)"
done
tamis_cpu=$(sort -g "$scratch/tamis-cpu" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
tamis_ns=$(sort -n "$scratch/tamis-times" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

log "diffoscope --text (limit ${limit} s)"
t0=$(now)
rc=0
timeout "$limit" diffoscope --text "$scratch/diffoscope.txt" "$a" "$b" >/dev/null 2>"$scratch/diffoscope.err" || rc=$?
t1=$(now)
diffoscope_ns=$(( t1 - t0 ))
case $rc in
    0 | 1) timed_out=no ;;
    124) timed_out=yes ;;
    *) tail -n 5 "$scratch/diffoscope.err" >&2; die "diffoscope failed (exit $rc)" ;;
esac

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine:    $(nproc) CPUs (${cpu:-unknown}), $(uname -r)"
echo "load:       before: $load_before; after: $(uptime | sed 's/.*load average: //')"
bytes=$(find "$a" "$b" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
sha=$(openssl speed -evp sha256 -bytes 16384 -seconds 1 2>/dev/null | awk '/^sha256/ { sub("k", "", $2); print $2 * 1000 }')
if [[ -n $sha ]]; then
    awk -v b="$bytes" -v s="$sha" -v n="$(nproc)" -v t="$tamis_ns" -v c="$tamis_cpu" 'BEGIN {
        limit = b / s / n
        printf "limit:      %.0f MB hashed at %.2f GB/s per core on %d cores: %.3f s; tamis/limit: %.1fx (CPU: %.1fx)\n",
            b / 1e6, s / 1e9, n, limit, t / 1e9 / limit, c / n / limit }'
fi
echo "trees:      $a $b"
echo "tamis:      $(seconds "$tamis_ns") s (median of $runs; $("$tamis" --version)); output $(wc -l <"$scratch/tamis.out") lines"
echo "            CPU (user + system) $tamis_cpu s: on an idle machine, wall >= CPU / $(nproc)"
echo "            $(head -n 1 "$scratch/tamis.out")"
if [[ $timed_out == yes ]]; then
    echo "diffoscope: timed out after $(seconds "$diffoscope_ns") s ($(diffoscope --version)); the ratio is a lower bound"
else
    echo "diffoscope: $(seconds "$diffoscope_ns") s ($(diffoscope --version)); output $(wc -l <"$scratch/diffoscope.txt") lines"
fi
awk -v d="$diffoscope_ns" -v t="$tamis_ns" -v lb="$timed_out" \
    'BEGIN { printf "ratio diffoscope/tamis: %s%.0fx\n", (lb == "yes" ? ">= " : ""), d / t }'
