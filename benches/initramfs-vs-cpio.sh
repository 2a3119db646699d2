#!/usr/bin/env bash
# Benchmark: `tamis initramfs` on a real initrd (made by mkinitramfs in the fixture with a
# kernel) against what a build script does without tamis to get a reproducible initrd:
# unpack it, clamp the times, repack with `cpio --reproducible` and the same compressor:
#
#   mkdir x && cd x && zcat INITRD | cpio -i -d -m
#   find . -newermt @E -exec touch -h -d @E {} +
#   find . | LC_ALL=C sort | cpio --reproducible -o -H newc -R 0:0 | gzip -n -9 > INITRD
#
# Each run works on a fresh copy of the initrd (not timed). Prints the median of each and the
# ratio (repack / tamis).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

runs=${RUNS:-5}
epoch=${1:-1700000000}
pair=${TAMIS_FIXTURE_DIR:-target/fixtures}/initramfs-pair
[[ -d $pair/a/boot ]] || { echo "no fixture: EXTRA_PACKAGES='linux-image-amd64 initramfs-tools' scripts/make-rootfs-pair.sh $pair" >&2; exit 1; }
initrd=$(ls "$pair"/a/boot/initrd.img-* | head -n 1)
[[ -n ${TAMIS_BIN:-} ]] || cargo build --release -q -p tamis
tamis=${TAMIS_BIN:-target/release/tamis}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for _ in $(seq "$runs"); do
    cp "$initrd" "$work/tamis.img"
    t0=$(now)
    "$tamis" initramfs -q --epoch "$epoch" "$work/tamis.img"
    t1=$(now)
    echo "$t1 - $t0" | bc >>"$work/tamis.times"

    cp "$initrd" "$work/repack.img"
    rm -rf "$work/x" && mkdir "$work/x"
    t0=$(now)
    (
        cd "$work/x"
        zcat ../repack.img | cpio --quiet -i -d -m
        find . -newermt "@$epoch" -exec touch -h -d "@$epoch" {} +
        find . | LC_ALL=C sort | cpio --quiet --reproducible -o -H newc -R 0:0 | gzip -n -9 >../repack.img
    )
    t1=$(now)
    echo "$t1 - $t0" | bc >>"$work/repack.times"
done

t=$(median <"$work/tamis.times")
r=$(median <"$work/repack.times")
echo "machine:  $(nproc) CPUs, initrd $(du -h "$initrd" | cut -f1) ($(zcat "$initrd" | wc -c) bytes of cpio)"
echo "median tamis initramfs:        ${t} s"
echo "median unpack+touch+repack:    ${r} s"
echo "ratio repack/tamis:            $(echo "scale=2; $r / $t" | bc)"
