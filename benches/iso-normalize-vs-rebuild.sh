#!/usr/bin/env bash
# Benchmark: `tamis iso normalize` on a ~1 GB live image (a squashfs of the fixture's root
# filesystem plus padding files, the fixture's kernel and initrd, isolinux and a GRUB EFI FAT
# image, laid out like Debian's live images by tests/iso/make-live-iso.sh) against what a build
# does without tamis to get a reproducible image: build it again with xorriso and its
# reproducibility options (SOURCE_DATE_EPOCH, fixed volume dates) from the same tree.
#
# Each tamis run works on a fresh copy of the image (the copy is not timed). Prints the median
# of each and the ratio (rebuild / tamis). SIZE_MB sets the padding (default: 1 GB in all).
# MD5=1 builds with xorriso's `--md5` checksum tags, which tamis must recompute (the session
# tag covers the data: tamis then reads the whole image once).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

runs=${RUNS:-3}
epoch=${1:-1700000000}
size_mb=${SIZE_MB:-1024}
pair=${TAMIS_FIXTURE_DIR:-target/fixtures}/initramfs-pair
[[ -d $pair/a/boot ]] || { echo "no fixture: EXTRA_PACKAGES='linux-image-amd64 initramfs-tools' scripts/make-rootfs-pair.sh $pair" >&2; exit 1; }
[[ -n ${TAMIS_BIN:-} ]] || cargo build --release -q -p tamis
tamis=${TAMIS_BIN:-target/release/tamis}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# The tree: the fixture's root filesystem as live/filesystem.squashfs, padding up to SIZE_MB.
mkdir -p "$work/extra/live" "$work/extra/pad"
mksquashfs "$pair/a" "$work/extra/live/filesystem.squashfs" -quiet -no-progress -noappend -comp lz4 \
    -mkfs-time "$epoch" -all-time "$epoch" >/dev/null 2>&1
squash_mb=$(( $(stat -c %s "$work/extra/live/filesystem.squashfs") / 1048576 ))
pad=$(( size_mb - squash_mb - 50 ))
for i in $(seq 0 $(( pad / 64 ))); do
    head -c $(( 64 * 1048576 )) /dev/urandom >"$work/extra/pad/$i.bin"
done
md5=()
[[ ${MD5:-0} == 1 ]] && md5=(--md5)
EXTRA="$work/extra" bins/tamis/tests/iso/make-live-iso.sh "$pair/a/boot" "$work/live" "$work/raw.iso" "${md5[@]}"
tree=$work/live/tree

for _ in $(seq "$runs"); do
    cp "$work/raw.iso" "$work/tamis.iso"
    sync
    t0=$(now)
    "$tamis" iso normalize -q --epoch "$epoch" "$work/tamis.iso"
    t1=$(now)
    echo "$t1 - $t0" | bc >>"$work/tamis.times"

    rm -f "$work/rebuilt.iso"
    sync
    t0=$(now)
    SOURCE_DATE_EPOCH=$epoch xorriso -as mkisofs -R -J -joliet-long -V TAMIS_LIVE -o "$work/rebuilt.iso" \
        --modification-date="$(date -u -d "@$epoch" +%Y%m%d%H%M%S00)" \
        -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin \
        -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
        -eltorito-alt-boot -e boot/grub/efi.img -no-emul-boot -isohybrid-gpt-basdat -isohybrid-apm-hfsplus \
        "${md5[@]}" "$tree" 2>/dev/null
    sync
    t1=$(now)
    echo "$t1 - $t0" | bc >>"$work/rebuild.times"
done

t=$(median <"$work/tamis.times")
r=$(median <"$work/rebuild.times")
changes=$("$tamis" iso normalize --check --epoch "$((epoch - 86400))" --json - "$work/raw.iso" 2>/dev/null |
    grep -c '"reason"' || true)
echo "machine:  $(nproc) CPUs, MD5 tags: ${MD5:-0}, image $(du -h "$work/raw.iso" | cut -f1) ($(stat -c %s "$work/raw.iso") bytes), xorriso $(xorriso -version 2>/dev/null | head -n 1 | cut -d' ' -f2)"
echo "fields rewritten by tamis: ${changes} (epoch one day earlier, --check)"
echo "median tamis iso normalize:    ${t} s"
echo "median xorriso rebuild:        ${r} s"
echo "ratio rebuild/tamis:           $(echo "scale=1; $r / $t" | bc)"
