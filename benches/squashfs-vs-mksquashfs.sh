#!/usr/bin/env bash
# Benchmark: `tamis squashfs` against mksquashfs (squashfs-tools) and gensquashfs
# (squashfs-tools-ng) on the same normalized real rootfs, in the same run, with the same
# compressor, block size and options:
#
#   zstd (level 15, 128 KiB blocks: each tool's default)
#   xz as Tails makes its images: -comp xz -Xbcj x86 -b 1024K -Xdict-size 1024K
#
# Every tool uses every CPU; times and owners kept, times clamped to the epoch. Prints wall
# time, CPU time and size of each image and the ratios tamis/mksquashfs and tamis/gensquashfs.
#
#   benches/squashfs-vs-mksquashfs.sh [FIXTURE_DIR]   # both compressors, one run each
#   COMPS=zstd RUNS=3 benches/squashfs-vs-mksquashfs.sh
# FIXTURE_DIR (or TAMIS_FIXTURE_DIR) holds rootfs-pair/a. EPOCH sets the epoch (1700000000).
# SUBTREE=usr/share packs only that part of the tree (a run under a minute on a busy machine).
# Prints the machine's load (uptime) before and after: wall times on a loaded machine say less
# than CPU times.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

runs=${RUNS:-1}
comps=${COMPS:-zstd xz}
epoch=${EPOCH:-1700000000}
pair=${1:-${TAMIS_FIXTURE_DIR:-target/fixtures}}/rootfs-pair
[[ -d $pair/a ]] || { echo "no fixture: scripts/make-rootfs-pair.sh" >&2; exit 1; }
for tool in mksquashfs gensquashfs; do
    command -v "$tool" >/dev/null || { echo "$tool missing: apt-get install squashfs-tools squashfs-tools-ng" >&2; exit 1; }
done
[[ -n ${TAMIS_BIN:-} ]] || cargo build --release -q -p tamis
tamis=${TAMIS_BIN:-target/release/tamis}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

load_before=$(uptime | sed 's/.*load average: //')
if [[ -n ${SUBTREE:-} ]]; then
    mkdir -p "$work/root/$(dirname "$SUBTREE")"
    cp -a --reflink=auto "$pair/a/$SUBTREE" "$work/root/$SUBTREE"
else
    cp -a --reflink=auto "$pair/a" "$work/root"
fi
"$tamis" normalize -q --epoch "$epoch" "$work/root" || [[ $? -eq 3 ]]
# Debian puts POSIX ACLs on /var/log/journal; squashfs cannot hold them, and gensquashfs -x
# stops on them. Remove them from the copy so that every tool packs the same tree.
python3 - "$work/root" <<'PY'
import os, sys
for dirpath, dirnames, filenames in os.walk(sys.argv[1]):
    for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
        for attr in os.listxattr(name, follow_symlinks=False):
            if attr.startswith("system.posix_acl_"):
                os.removexattr(name, attr, follow_symlinks=False)
PY
cpus=$(nproc)

now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# run NAME COMP COMMAND...: times COMMAND (which writes $work/NAME-COMP.sqfs): wall time, and
# CPU time (user + system), which says more than wall time on a machine shared with other work.
run() {
    local name=$1 comp=$2
    shift 2
    rm -f "$work/$name-$comp.sqfs"
    /usr/bin/time -f '%e %U %S' -o "$work/time" "$@" >/dev/null 2>"$work/$name-$comp.err" ||
        { cat "$work/$name-$comp.err" >&2; exit 1; }
    read -r wall user sys <"$work/time"
    echo "$wall" >>"$work/$name-$comp.times"
    echo "$user + $sys" | bc >>"$work/$name-$comp.cpu"
}

for comp in $comps; do
    case $comp in
    zstd)
        t_opts=(--comp zstd -b 128K)
        m_opts=(-comp zstd -b 128K)
        g_opts=(-c zstd -b 131072)
        ;;
    xz)
        t_opts=(--comp xz --xz-bcj x86 -b 1M --xz-dict-size 1M)
        m_opts=(-comp xz -Xbcj x86 -b 1024K -Xdict-size 1024K)
        g_opts=(-c xz -X x86,dictsize=1M -b 1048576)
        ;;
    esac
    for _ in $(seq "$runs"); do
        run tamis "$comp" "$tamis" squashfs -q --epoch "$epoch" "${t_opts[@]}" \
            "$work/root" "$work/tamis-$comp.sqfs"
        run mksquashfs "$comp" mksquashfs "$work/root" "$work/mksquashfs-$comp.sqfs" -noappend -no-progress -quiet \
            -processors "$cpus" -mkfs-time "$epoch" "${m_opts[@]}"
        run gensquashfs "$comp" gensquashfs -q -f -k -x -e -j "$cpus" -d "mtime=$epoch" -D "$work/root" \
            "${g_opts[@]}" "$work/gensquashfs-$comp.sqfs"
    done
done

echo "load: before: $load_before; after: $(uptime | sed 's/.*load average: //')"
echo "machine: $cpus CPUs; rootfs $(du -sh "$work/root" | cut -f1), $(find "$work/root" | wc -l) entries; $runs run(s), median"
for comp in $comps; do
    t=$(median <"$work/tamis-$comp.times")
    m=$(median <"$work/mksquashfs-$comp.times")
    g=$(median <"$work/gensquashfs-$comp.times")
    tc=$(median <"$work/tamis-$comp.cpu")
    mc=$(median <"$work/mksquashfs-$comp.cpu")
    gc=$(median <"$work/gensquashfs-$comp.cpu")
    ts=$(stat -c %s "$work/tamis-$comp.sqfs")
    ms=$(stat -c %s "$work/mksquashfs-$comp.sqfs")
    gs=$(stat -c %s "$work/gensquashfs-$comp.sqfs")
    printf '%-4s  tamis %7.1f s %11d B | mksquashfs %7.1f s %11d B | gensquashfs %7.1f s %11d B\n' \
        "$comp" "$t" "$ts" "$m" "$ms" "$g" "$gs"
    printf '%-4s  CPU   tamis %7.1f s | mksquashfs %7.1f s | gensquashfs %7.1f s\n' "$comp" "$tc" "$mc" "$gc"
    printf '%-4s  CPU tamis/mksquashfs %.2f\n' "$comp" "$(echo "$tc / $mc" | bc -l)"
    printf '%-4s  time tamis/mksquashfs %.2f, tamis/gensquashfs %.2f; size tamis/mksquashfs %+.2f %%, tamis/gensquashfs %+.2f %%\n' \
        "$comp" "$(echo "$t / $m" | bc -l)" "$(echo "$t / $g" | bc -l)" \
        "$(echo "($ts - $ms) * 100 / $ms" | bc -l)" "$(echo "($ts - $gs) * 100 / $gs" | bc -l)"
done
