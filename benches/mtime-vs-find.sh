#!/usr/bin/env bash
# Benchmark: `tamis mtime --epoch E ROOT` against the shell clamp image builders use today,
#     find ROOT -newermt @E -exec touch -h -d @E {} +
# on fresh copies of a real Debian root filesystem (scripts/make-rootfs-pair.sh, tree "a").
#
# Each repetition times both tools, alternating which goes first, each on its own fresh copy
# (`cp -a`, not timed). After every run the copy is checked against the expected result: every
# entry's mtime must be min(original mtime, E) — nothing left newer than E, nothing older moved —
# so a wrong tool is never reported as a fast one. Prints the median wall time of each tool and
# the ratio find/tamis.
#
# Uses hyperfine (apt-get install hyperfine) when installed, else a plain timing loop.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: mtime-vs-find.sh [-h] [-n RUNS] [--tools LIST] [--no-build] [EPOCH]

  EPOCH         clamp time, seconds since 1970 (default: 1 day before the fixture was built)
  -n RUNS       repetitions per tool (default 5)
  --tools LIST  comma-separated subset of "tamis,find" (default: both)
  --no-build    do not run `cargo build --release -p tamis` (use the binary as it is)

Environment:
  ROOTFS        tree to copy (default: the fixture's "a", built by scripts/make-rootfs-pair.sh)
  TAMIS_BIN     tamis binary (default: <repo>/target/release/tamis, built first)
  BENCH_TMP     where the copies go (default: <repo>/target/bench)
  BENCH_TIMER   auto (hyperfine if installed), hyperfine, or loop
EOF
}

log() { printf 'mtime-vs-find: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

runs=5
tools=tamis,find
build=yes
epoch=
while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        -n) [[ $# -ge 2 ]] || die "-n needs a value"; runs=$2; shift 2 ;;
        --tools) [[ $# -ge 2 ]] || die "--tools needs a value"; tools=$2; shift 2 ;;
        --no-build) build=no; shift ;;
        -*) usage >&2; exit 2 ;;
        *) [[ -z $epoch ]] || { usage >&2; exit 2; }; epoch=$1; shift ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$runs'"
[[ -z $epoch || $epoch =~ ^[0-9]+$ ]] || die "EPOCH must be seconds since 1970, not '$epoch'"

want_tamis=no want_find=no
IFS=, read -ra tool_list <<<"$tools"
for t in "${tool_list[@]}"; do
    case $t in
        tamis) want_tamis=yes ;;
        find) want_find=yes ;;
        *) die "unknown tool '$t' (known: tamis, find)" ;;
    esac
done

script_path=$(readlink -f "${BASH_SOURCE[0]}")
repo=$(cd "$(dirname "$script_path")/.." && pwd)

# `cp -a` must keep owners, device nodes and unreadable files (etc/shadow): root only.
[[ $(id -u) -eq 0 ]] || die "must run as root (the copies of the root filesystem need it)"

# ---------------------------------------------------------------------------------------------
# The tree, and the epoch.
if [[ -n ${ROOTFS:-} ]]; then
    rootfs=$(readlink -f "$ROOTFS")
    [[ -d $rootfs ]] || die "ROOTFS=$ROOTFS is not a directory"
    stamp=
else
    # No-op when the fixture is up to date.
    "$repo/scripts/make-rootfs-pair.sh"
    pair=${TAMIS_FIXTURE_DIR:-$repo/target/fixtures}/rootfs-pair
    rootfs=$pair/a
    stamp=$pair/stamp
fi
if [[ -z $epoch ]]; then
    built=
    [[ -n $stamp && -f $stamp ]] && built=$(sed -n 's/^built=//p' "$stamp")
    # Without a stamp: the newest mtime in the tree stands for the build time.
    [[ -n $built ]] || built=$(find "$rootfs" -printf '%T@\n' | sort -g | tail -n 1 | cut -d. -f1)
    epoch=$(( built - 86400 ))
fi

# ---------------------------------------------------------------------------------------------
# The tools.
tamis=${TAMIS_BIN:-$repo/target/release/tamis}
if [[ $want_tamis == yes ]]; then
    if [[ $build == yes && -z ${TAMIS_BIN:-} ]]; then
        log "building tamis (cargo build --release -p tamis)"
        (cd "$repo" && cargo build --release -p tamis) >&2
    fi
    [[ -x $tamis ]] || die "no tamis binary at $tamis"
fi
# GNU find reads '@SECONDS' in -newermt; make sure this one does before relying on it.
find "$rootfs" -maxdepth 0 -newermt "@$epoch" >/dev/null 2>&1 ||
    die "this find does not accept -newermt @SECONDS (GNU findutils needed)"

tamis_cmd=("$tamis" mtime --epoch "$epoch")
find_cmd_for() { printf '%s\n' find "$1" -newermt "@$epoch" -exec touch -h -d "@$epoch" '{}' +; }

# ---------------------------------------------------------------------------------------------
# Scratch space, and the expected result of a clamp.
mkdir -p "${BENCH_TMP:-$repo/target/bench}"
scratch=$(mktemp -d "${BENCH_TMP:-$repo/target/bench}/mtime-vs-find.XXXXXX")
cleanup() { rm -rf --one-file-system "$scratch"; }
trap cleanup EXIT

# One line per entry: path, tab, mtime as find prints it (seconds.nanoseconds, 10 digits).
# Assumes no newline in file names (true of a Debian root filesystem).
listing() { (cd "$1" && find . -printf '%p\t%T@\n') | LC_ALL=C sort; }

listing "$rootfs" >"$scratch/original"
# Expected: min(mtime, E). An entry is newer than E when its seconds exceed E, or equal E with a
# non-zero fraction (compared as text pieces: no floating-point rounding).
awk -F'\t' -v OFS='\t' -v e="$epoch" '{
        split($2, t, ".")
        if (t[1] + 0 > e + 0 || (t[1] + 0 == e + 0 && t[2] + 0 > 0)) { $2 = e ".0000000000"; n++ }
        print
    } END { print n + 0 > "/dev/stderr" }' "$scratch/original" \
    >"$scratch/expected" 2>"$scratch/to-clamp"
entries=$(wc -l <"$scratch/original")
to_clamp=$(cat "$scratch/to-clamp")
[[ $to_clamp -gt 0 ]] || log "warning: no entry is newer than E=$epoch: nothing to clamp"

verify() { # DIR TOOL
    local dir=$1 tool=$2 newer
    newer=$(find "$dir" -newermt "@$epoch" -printf 'x' | wc -c)
    if ((newer > 0)); then
        die "$tool left $newer entries newer than E=$epoch, e.g. $(find "$dir" -newermt "@$epoch" -printf '/%P' -quit)"
    fi
    listing "$dir" >"$scratch/actual"
    if ! cmp -s "$scratch/actual" "$scratch/expected"; then
        # (|| true: head closing the pipe early must not end the script before the message)
        { diff "$scratch/expected" "$scratch/actual" || true; } | head -n 10 >&2
        die "$tool: $(diff "$scratch/expected" "$scratch/actual" | grep -c '^>' || true) entries" \
            "do not have mtime min(original, E) (diff expected/actual above)"
    fi
}

fresh_copy() { rm -rf --one-file-system "$1" && cp -a "$rootfs" "$1"; }

# ---------------------------------------------------------------------------------------------
# Runs.
active=()
[[ $want_tamis == yes ]] && active+=(tamis)
[[ $want_find == yes ]] && active+=(find)

command_for() { # TOOL DIR -> the command, one word per line
    case $1 in
        tamis) printf '%s\n' "${tamis_cmd[@]}" "$2" ;;
        find) find_cmd_for "$2" ;;
    esac
}

have_hyperfine=no
case ${BENCH_TIMER:-auto} in
    auto) command -v hyperfine >/dev/null && have_hyperfine=yes ;;
    hyperfine) command -v hyperfine >/dev/null || die "hyperfine not installed"; have_hyperfine=yes ;;
    loop) ;;
    *) die "BENCH_TIMER must be auto, hyperfine or loop" ;;
esac
timer=$([[ $have_hyperfine == yes ]] && echo "hyperfine $(hyperfine --version | cut -d' ' -f2)" ||
    echo "bash loop (date +%s%N)")

log "tree $rootfs: $entries entries, $to_clamp newer than E=$epoch ($(date -u -d "@$epoch" '+%F %T') UTC)"
log "$runs runs per tool, timer: $timer"

for ((i = 1; i <= runs; i++)); do
    # Alternate which tool goes first, so that drift (other load, caches) hits both alike.
    order=("${active[@]}")
    if ((i % 2 == 0 && ${#active[@]} == 2)); then order=("${active[1]}" "${active[0]}"); fi
    if [[ $have_hyperfine == yes ]]; then
        # One hyperfine call per round: one timed run of each tool in this round's order, each
        # preceded (untimed) by its own --prepare making a fresh copy (hyperfine pairs the i-th
        # --prepare with the i-th command). -N: no shell, so no shell start-up to subtract.
        hf=(hyperfine -N --runs 1 --style none --export-json "$scratch/round.json")
        cmds=()
        for t in "${order[@]}"; do
            hf+=(--prepare "sh -c 'rm -rf --one-file-system \"\$0\" && cp -a \"\$1\" \"\$0\" && sync' $scratch/$t $rootfs")
            mapfile -t cmd < <(command_for "$t" "$scratch/$t")
            cmds+=("$(printf '%q ' "${cmd[@]}")")
        done
        "${hf[@]}" "${cmds[@]}" >/dev/null
        # results[] are in command order.
        python3 - "$scratch/round.json" "${order[@]}" <<'EOF' >>"$scratch/times"
import json, sys
results = json.load(open(sys.argv[1]))["results"]
for tool, r in zip(sys.argv[2:], results):
    print(tool, "%.6f" % r["times"][0])
EOF
        for t in "${order[@]}"; do verify "$scratch/$t" "$t"; done
    else
        for t in "${order[@]}"; do
            fresh_copy "$scratch/$t"
            mapfile -t cmd < <(command_for "$t" "$scratch/$t")
            sync
            t0=$(date +%s%N)
            "${cmd[@]}"
            t1=$(date +%s%N)
            printf '%s %d.%06d\n' "$t" $(( (t1 - t0) / 1000000000 )) $(( (t1 - t0) % 1000000000 / 1000 )) \
                >>"$scratch/times"
            verify "$scratch/$t" "$t"
        done
    fi
    log "round $i/$runs: $(tail -n ${#order[@]} "$scratch/times" | awk '{ printf "%s %.3fs  ", $1, $2 }')"
done

# ---------------------------------------------------------------------------------------------
# Report.
median() { # TOOL
    awk -v t="$1" '$1 == t { print $2 }' "$scratch/times" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine:  $(nproc) CPUs (${cpu:-unknown}), $(uname -r)"
echo "tree:     $rootfs ($entries entries, $to_clamp newer than E)"
echo "epoch:    $epoch ($(date -u -d "@$epoch" '+%F %T') UTC)"
echo "runs:     $runs per tool, alternating, fresh copy each, verified; timer: $timer"
declare -A med
for t in "${active[@]}"; do
    med[$t]=$(median "$t")
    printf 'median %-6s %8.3f s   (%s)\n' "$t" "${med[$t]}" \
        "$(if [[ $t == tamis ]]; then echo "${tamis_cmd[*]} ROOT"; else echo "find ROOT -newermt @$epoch -exec touch -h -d @$epoch {} +"; fi)"
done
if [[ -n ${med[tamis]:-} && -n ${med[find]:-} ]]; then
    awk -v f="${med[find]}" -v t="${med[tamis]}" 'BEGIN { printf "ratio find/tamis: %.2f\n", f / t }'
fi
