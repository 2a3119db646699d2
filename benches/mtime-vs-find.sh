#!/usr/bin/env bash
# Benchmark: `tamis mtime` against the shell clamp image builders use today, on the same tree, for
# three shares of entries to change:
#
#   0 %    a tree already clamped          tamis mtime --epoch E       find T -newermt @E -exec touch -h -d @E {} +
#   ~15 %  a real build (E: a day before)  tamis mtime --epoch E       find T -newermt @E -exec touch -h -d @E {} +
#   100 %  every entry                     tamis mtime --set --epoch E find T -exec touch -h -d @E {} +
#
# The tree is the fixture's "a" (scripts/make-rootfs-pair.sh) copied once per tool with
# `cp -a --attributes-only` (names, types, owners, modes, times and hard links; no file data,
# which neither tool reads). Before every timed run its times are put back (untimed) to the
# starting state of the case; after it, every entry's mtime is checked against the expected
# result, so a wrong tool is never reported as a fast one. Tools alternate which goes first.
# Prints the machine's load (uptime) before and after, the median wall time of each tool per
# case, and the ratio find/tamis (above 1: tamis is faster).
#
#   benches/mtime-vs-find.sh [-n RUNS] [FIXTURE_DIR]      (or TAMIS_FIXTURE_DIR; default 5 runs)
#
# Environment: TAMIS_BIN (default target/release/tamis, built first), BENCH_TMP (default
# target/bench), CASES (default "0 15 100").
set -euo pipefail

log() { printf 'mtime-vs-find: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

runs=5
fixture=${TAMIS_FIXTURE_DIR:-}
while [[ $# -gt 0 ]]; do
    case $1 in
        -n) [[ $# -ge 2 ]] || die "-n needs a value"; runs=$2; shift 2 ;;
        -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) fixture=$1; shift ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $(id -u) -eq 0 ]] || die "must run as root (the copy keeps owners and device nodes)"

repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
fixture=${fixture:-$repo/target/fixtures}
tree=$fixture/rootfs-pair/a
[[ -d $tree ]] || die "no $tree: give the fixture directory, or run scripts/make-rootfs-pair.sh"
built=$(sed -n 's/^built=//p' "$fixture/rootfs-pair/stamp" 2>/dev/null || true)
[[ -n $built ]] || built=$(find "$tree" -printf '%T@\n' | sort -g | tail -n 1 | cut -d. -f1)
epoch=$((built - 86400))

tamis=${TAMIS_BIN:-$repo/target/release/tamis}
[[ -n ${TAMIS_BIN:-} ]] || (cd "$repo" && cargo build --release -q -p tamis) >&2
[[ -x $tamis ]] || die "no tamis binary at $tamis"

mkdir -p "${BENCH_TMP:-$repo/target/bench}"
scratch=$(mktemp -d "${BENCH_TMP:-$repo/target/bench}/mtime-vs-find.XXXXXX")
trap 'rm -rf --one-file-system "$scratch"' EXIT
load_before=$(uptime)
log "copying $tree (attributes only) for each tool"
for t in tamis find; do cp -a --attributes-only "$tree" "$scratch/$t"; done

# times.py reset|check CASE DIR: puts back, or checks, every entry's mtime for CASE (0, 15, 100).
cat >"$scratch/times.py" <<'PY'
import os, sys
what, case, top, epoch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
listing = sys.argv[5]
E = epoch * 10**9
def start(ns):
    if case == "0":                      # already clamped: at most E, whole seconds
        return min(ns, E) // 10**9 * 10**9
    if case == "15":                     # as built, entries older than E in whole seconds
        return ns if ns > E else ns // 10**9 * 10**9
    return ns                            # as built
def expected(ns):
    return E if case == "100" else min(start(ns), E)
bad = 0
for line in open(listing, "rb"):
    rel, ns = line.rstrip(b"\n").rsplit(b"\t", 1)
    path, ns = os.path.join(top.encode(), rel), int(ns)
    if what == "reset":
        t = start(ns)
        os.utime(path, ns=(t, t), follow_symlinks=False)
    else:
        got = os.lstat(path).st_mtime_ns
        if got != expected(ns):
            bad += 1
            if bad <= 5:
                print(f"{path.decode(errors='replace')}: {got} expected {expected(ns)}", file=sys.stderr)
if bad:
    sys.exit(f"{bad} entries have the wrong mtime")
PY
# Entries deepest first, so that a directory is reset after its entries; mtime in nanoseconds.
python3 - "$tree" >"$scratch/listing" <<'PY'
import os, sys
top = sys.argv[1].encode()
out = []
for d, dirs, files in os.walk(top):
    for n in dirs + files:
        p = os.path.join(d, n)
        out.append((p.count(b"/"), os.path.relpath(p, top), os.lstat(p).st_mtime_ns))
out.append((0, b".", os.lstat(top).st_mtime_ns))
out.sort(key=lambda x: -x[0])
for _, rel, ns in out:
    sys.stdout.buffer.write(rel + b"\t" + str(ns).encode() + b"\n")
PY
entries=$(wc -l <"$scratch/listing")
newer=$(awk -F'\t' -v e="$epoch" '$2 > e * 1e9 { n++ } END { print n + 0 }' "$scratch/listing")

command_for() { # TOOL CASE DIR
    case $1-$2 in
        tamis-100) echo "$tamis" mtime -q --set --epoch "$epoch" "$3" ;;
        tamis-*) echo "$tamis" mtime -q --epoch "$epoch" "$3" ;;
        find-100) echo find "$3" -exec touch -h -d "@$epoch" {} + ;;
        find-*) echo find "$3" -newermt "@$epoch" -exec touch -h -d "@$epoch" {} + ;;
    esac
}

: >"$scratch/times"
for case in ${CASES:-0 15 100}; do
    for ((i = 1; i <= runs; i++)); do
        order=(tamis find)
        ((i % 2)) || order=(find tamis)
        for t in "${order[@]}"; do
            python3 "$scratch/times.py" reset "$case" "$scratch/$t" "$epoch" "$scratch/listing"
            sync
            read -ra cmd <<<"$(command_for "$t" "$case" "$scratch/$t")"
            t0=$(date +%s%N)
            "${cmd[@]}" || die "$t failed: ${cmd[*]}"
            t1=$(date +%s%N)
            echo "$case $t $(( (t1 - t0) / 1000 ))" >>"$scratch/times"
            python3 "$scratch/times.py" check "$case" "$scratch/$t" "$epoch" "$scratch/listing" ||
                die "$t, case $case: wrong result"
        done
    done
done

median() { awk -v c="$1" -v t="$2" '$1 == c && $2 == t { print $3 }' "$scratch/times" | sort -n |
    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "machine:  $(nproc) CPUs, $(uname -r)"
echo "load:     before: ${load_before#*load average: }; after: $(uptime | sed 's/.*load average: //')"
echo "tree:     $tree ($entries entries, $newer newer than E=$epoch), attributes-only copies"
echo "runs:     $runs per tool and case, alternating, times reset before each, result verified"
printf '%-6s %10s %10s %16s\n' case tamis find ratio-find/tamis
for case in ${CASES:-0 15 100}; do
    t=$(median "$case" tamis) f=$(median "$case" find)
    label=$case%
    [[ $case == 15 ]] && label="$((100 * newer / entries))%"
    awk -v c="$label" -v t="$t" -v f="$f" 'BEGIN { printf "%-6s %8.3f s %8.3f s %16.2f\n", c, t / 1e6, f / 1e6, f / t }'
done
echo "commands: $(command_for tamis 15 TREE); $(command_for find 15 TREE); with --set / without -newermt for 100%"
