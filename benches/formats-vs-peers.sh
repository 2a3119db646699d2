#!/usr/bin/env bash
# Benchmark: `tamis strip --epoch E DIR` against the two peers on the same files, in one run:
#     find DIR -type f -print0 | xargs -0 strip-nondeterminism -T E     (Debian, Perl)
#     SOURCE_DATE_EPOCH=E add-det -j 2 DIR                             (Fedora, Rust; if installed)
# The set of files is what those tools meet in a build: the jars of /usr/share/java, the gzip
# files of /usr/share/doc, the gettext catalogs of /usr/share/locale, the static libraries of
# /usr/lib, and, if present, the fixture's .deb files (scripts/make-rootfs-pair.sh). Each tool runs on its own fresh copy (`cp -a`, not
# timed), tools alternate which goes first, and after tamis every gzip passes `gzip -t` and every
# zip `unzip -t`. Prints the median wall time of each tool, the files each changed, and the
# ratios peer/tamis.
#
#   benches/formats-vs-peers.sh [-n RUNS] [EPOCH]     (default: 5 runs, epoch 1700000000)
#
# With TREE=FIXTURE_DIR (or TREE=1 and TAMIS_FIXTURE_DIR), the set is instead the whole root
# filesystem rootfs-pair/a, as `tamis strip` meets it in an image build. Also prints the time
# to read every file of the set once (warm cache, `cat`): the part of a tool's time that is
# reading, and the machine's load before and after (uptime).
#
# Environment: TAMIS_BIN (default target/release/tamis, built first), ADD_DET (default: add-det
# on PATH), BENCH_TMP (default target/bench; a tmpfs there measures the tools rather than the
# file system's inode allocator, see the loop below), FILES (a directory to use instead of the
# set above). Every run's copy is kept until the end: 3 tools x RUNS copies of the set.
set -euo pipefail

log() { printf 'formats-vs-peers: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

runs=5
epoch=1700000000
while [[ $# -gt 0 ]]; do
    case $1 in
        -n) [[ $# -ge 2 ]] || die "-n needs a value"; runs=$2; shift 2 ;;
        -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
        *) epoch=$1; shift ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $epoch =~ ^[0-9]+$ ]] || die "EPOCH must be seconds since 1970"

repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
tamis=${TAMIS_BIN:-$repo/target/release/tamis}
if [[ -z ${TAMIS_BIN:-} ]]; then
    (cd "$repo" && cargo build --release -p tamis) >&2
fi
command -v strip-nondeterminism >/dev/null || die "strip-nondeterminism not installed (apt-get install strip-nondeterminism)"
add_det=${ADD_DET:-$(command -v add-det || true)}

mkdir -p "${BENCH_TMP:-$repo/target/bench}"
scratch=$(mktemp -d "${BENCH_TMP:-$repo/target/bench}/formats-vs-peers.XXXXXX")
trap 'rm -rf --one-file-system "$scratch"' EXIT

load_before=$(uptime | sed 's/.*load average: //')
tree_dir=${TREE:-}
[[ $tree_dir == 1 ]] && tree_dir=${TAMIS_FIXTURE_DIR:-$repo/target/fixtures}
if [[ -n $tree_dir ]]; then
    cp -a "$tree_dir/rootfs-pair/a" "$scratch/set"
elif [[ -n ${FILES:-} ]]; then
    cp -a "$FILES" "$scratch/set"
else
    mkdir -p "$scratch/set/java" "$scratch/set/doc" "$scratch/set/locale" "$scratch/set/lib" "$scratch/set/debs"
    cp -p /usr/share/java/*.jar "$scratch/set/java/" 2>/dev/null || true
    (cd /usr/share/doc && find . -name '*.gz' -type f -print0 | cpio -0pdm --quiet "$scratch/set/doc")
    (cd /usr/share/locale && find . -name '*.mo' -type f -print0 | cpio -0pdm --quiet "$scratch/set/locale")
    find /usr/lib -name '*.a' -type f -exec cp -p {} "$scratch/set/lib/" \; 2>/dev/null || true
    debs=${TAMIS_FIXTURE_DIR:-$repo/target/fixtures}/debs
    [[ -d $debs ]] && cp -p "$debs"/*.deb "$scratch/set/debs/"
fi
count=$(find "$scratch/set" -type f | wc -l)
size=$(du -sh "$scratch/set" | cut -f1)
(cd "$scratch/set" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$scratch/original.sums"

tools=(tamis sn)
[[ -n $add_det ]] && tools+=(add-det)

run_tool() { # TOOL DIR
    case $1 in
        tamis) "$tamis" strip -q --epoch "$epoch" "$2" || [[ $? -eq 3 ]] ;;
        sn) find "$2" -type f -print0 | xargs -0 strip-nondeterminism -T "$epoch" 2>/dev/null || true ;;
        add-det) SOURCE_DATE_EPOCH=$epoch "$add_det" -j 2 "$2" >/dev/null 2>&1 || true ;;
    esac
}

changed() { # DIR -> files whose bytes differ from the original
    (cd "$1" && sha256sum --quiet -c "$scratch/original.sums" 2>/dev/null | grep -c FAILED || true)
}

find "$scratch/set" -type f -print0 | xargs -0 cat >/dev/null
t0=$(date +%s%N)
find "$scratch/set" -type f -print0 | xargs -0 cat >/dev/null
t1=$(date +%s%N)
read_all=$(( (t1 - t0) / 1000 ))
log "$count files ($size), epoch $epoch, $runs runs, tools: ${tools[*]}"
for ((i = 1; i <= runs; i++)); do
    order=("${tools[@]}")
    ((i % 2 == 0)) && order=($(printf '%s\n' "${tools[@]}" | tac))
    for t in "${order[@]}"; do
        # Every run gets a copy of its own, and no copy is removed before the end: on an ext4
        # without a journal, creating a file (each tool writes its rewrites to new files) skips
        # every inode freed in the last seconds, reading its inode table block to know. Removing
        # the previous copy (14,000 inodes) just before a run made each creation scan thousands
        # of them: half of tamis' time (perf: recently_deleted, find_inode_bit), varying with
        # how long the copy took. That measures the file system's allocator, not the tools.
        cp -a "$scratch/set" "$scratch/$t.$i" && sync
        t0=$(date +%s%N)
        run_tool "$t" "$scratch/$t.$i"
        t1=$(date +%s%N)
        echo "$t $(( (t1 - t0) / 1000 ))" >>"$scratch/times"
    done
    log "round $i/$runs: $(tail -n ${#order[@]} "$scratch/times" | awk '{ printf "%s %.3fs  ", $1, $2 / 1e6 }')"
done

for t in "${tools[@]}"; do
    mv "$scratch/$t.$runs" "$scratch/$t"
done

# tamis' output must still be valid for the consumers.
# Only files that are of the format by their first bytes (dpkg's alternatives database names
# text files after the man pages they switch, `builtins.7.gz`).
of_magic() { # DIR GLOB HEX -> NUL-separated files named GLOB that start with the bytes HEX
    find "$1" -name "$2" -type f -print0 | while IFS= read -r -d '' f; do
        if [[ $(head -c $((${#3} / 2)) "$f" | od -An -tx1 | tr -d ' \n') == "$3" ]]; then printf '%s\0' "$f"; fi
    done
}
of_magic "$scratch/tamis" '*.gz' 1f8b | xargs -0 -r gzip -t
of_magic "$scratch/tamis" '*.jar' 504b0304 | xargs -0 -r -n1 unzip -tqq
for a in $(grep -l --null -m1 -r '^!<arch>' "$scratch/tamis" --include='*.a' --include='*.deb' | tr '\0' ' '); do
    ar t "$a" >/dev/null
done

median() { awk -v t="$1" '$1 == t { print $2 / 1e6 }' "$scratch/times" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "machine:  $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(uname -r)"
if [[ -n $tree_dir ]]; then
    echo "files:    $count ($size): every file of the root filesystem rootfs-pair/a"
else
    echo "files:    $count ($size): jars, /usr/share/doc gzip, .mo catalogs, static libraries, debs"
fi
echo "load:     before: $load_before; after: $(uptime | sed 's/.*load average: //')"
echo "runs:     $runs per tool, alternating, fresh copy each"
awk -v r="$read_all" 'BEGIN { printf "reading every file once (cat, warm): %.3f s\n", r / 1e6 }'
declare -A med
for t in "${tools[@]}"; do
    med[$t]=$(median "$t")
    printf 'median %-8s %8.3f s   %5d files changed\n' "$t" "${med[$t]}" "$(changed "$scratch/$t")"
done
awk -v r="$read_all" -v m="${med[tamis]}" \
    'BEGIN { printf "reading every file / tamis: %.0f %% (tamis reads the first bytes of each, then only candidates)\n", r / 1e6 / m * 100 }'
for t in sn add-det; do
    [[ -n ${med[$t]:-} ]] && awk -v p="${med[$t]}" -v m="${med[tamis]}" -v t="$t" \
        'BEGIN { printf "ratio %s/tamis: %.1f\n", t, p / m }'
done

# Cross-check: on tamis' output, add-det --check has nothing to do, file by file, for the
# formats it handles (by extension). Files that are not of their format (GNU ld scripts named
# .a) make it fail too; they are listed.
if [[ -n $add_det ]]; then
    flagged=()
    while IFS= read -r -d '' f; do
        SOURCE_DATE_EPOCH=$epoch "$add_det" --check "$f" >/dev/null 2>&1 || flagged+=("${f#"$scratch/tamis/"}")
    done < <(find "$scratch/tamis" -type f \( -name '*.jar' -o -name '*.gz' -o -name '*.a' -o -name '*.zip' \) -print0)
    echo "add-det --check after tamis: ${#flagged[@]} files flagged${flagged:+: ${flagged[*]}}"
fi
