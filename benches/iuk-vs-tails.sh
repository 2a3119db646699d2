#!/usr/bin/env bash
# Benchmark: `tamis iuk` against Tails' method of making an incremental upgrade kit, on the
# same pair of releases, in the same run:
#
#   Tails (tails-create-iuk): loop-mount both ISOs and both squashfs images, an overlayfs with
#   the old squashfs as lower layer and a tmpfs upper, `rsync --archive --checksum
#   --delete-after --acls --xattrs` of the new tree onto it, trusted.overlay.* attributes
#   stripped, the upper directory packed by `gensquashfs --keep-xattr --comp-extra
#   x86,dictsize=1024K --block-size 1048576`, the kit by `gensquashfs --keep-xattr --all-root`.
#   tamis: `tamis iuk OLD.iso NEW.iso OUT` (no mounts, both squashfs images read in place).
#
# The pair: two "releases" made from the two real mmdebstrap builds of the fixture
# (tests/iuk/make-release-pair.sh: packages upgraded, added, removed, a configuration changed,
# a file replaced by a directory and back), normalized by tamis, packed into squashfs images as
# Tails packs its ISO's root filesystem (xz, x86 BCJ filter, 1 MiB dictionary and blocks: the
# options of the kit's diff too) and into hybrid ISOs. Prints both times, both kit sizes and the
# ratios; then the size of the kit between the same two releases left as built (not
# normalized: the mtimes of every file the build wrote differ) against the kit between the
# normalized ones.
#
#   benches/iuk-vs-tails.sh        # needs root (Tails' method mounts), rsync, gensquashfs
#   RELEASE_COMP=zstd benches/iuk-vs-tails.sh   # releases packed with zstd -3 instead (quicker
#                                  # to make; the kit then compresses every file of the diff)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

old_epoch=1795900000
new_epoch=1795990000
pair=${TAMIS_FIXTURE_DIR:-target/fixtures}/rootfs-pair
[[ -d $pair/a ]] || { echo "no fixture: scripts/make-rootfs-pair.sh" >&2; exit 1; }
for tool in rsync gensquashfs mksquashfs getfattr setfattr; do
    command -v "$tool" >/dev/null || { echo "$tool missing: apt-get install rsync squashfs-tools squashfs-tools-ng attr" >&2; exit 1; }
done
[[ -n ${TAMIS_BIN:-} ]] || cargo build --release -q -p tamis
tamis=${TAMIS_BIN:-target/release/tamis}
work=$(mktemp -d)
mounts=()
cleanup() {
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
size() { stat -c %s "$1"; }

sh bins/tamis/tests/iuk/make-release-pair.sh "$pair/a" "$pair/b" "$work" >/dev/null
# The releases as built, before tamis: kept for the last comparison.
cp -a --reflink=auto "$work/old" "$work/old-raw"
cp -a --reflink=auto "$work/new" "$work/new-raw"
"$tamis" normalize -q --epoch "$old_epoch" "$work/old" || [[ $? -eq 3 ]]
"$tamis" normalize -q --epoch "$new_epoch" "$work/new" || [[ $? -eq 3 ]]

if [[ ${RELEASE_COMP:-xz} == zstd ]]; then
    release_comp=(--comp zstd --level 3)
else
    release_comp=(--comp xz --xz-bcj x86 -b 1M --xz-dict-size 1M)
fi
# release TREE NAME EPOCH: NAME.squashfs and NAME.iso holding it.
release() {
    local tree=$1 name=$2 epoch=$3
    "$tamis" squashfs -q --epoch "$epoch" "${release_comp[@]}" \
        "$tree" "$work/$name.squashfs" || [[ $? -eq 3 ]]
    mkdir -p "$work/$name.isotree/live" "$work/$name.isotree/isolinux"
    cp "$work/$name.squashfs" "$work/$name.isotree/live/filesystem.squashfs"
    printf 'kernel\n' >"$work/$name.isotree/live/vmlinuz"
    printf 'initrd %s\n' "$name" >"$work/$name.isotree/live/initrd.img"
    printf 'include /isolinux/live.cfg\n' >"$work/$name.isotree/isolinux/isolinux.cfg"
    "$tamis" iso build -q --epoch "$epoch" "$work/$name.isotree" "$work/$name.iso"
    rm -rf "$work/$name.isotree"
}
release "$work/old" old "$old_epoch"
release "$work/new" new "$new_epoch"

# Tails' method (IUK.pm create_squashfs_diff and saveas), step for step.
tails() {
    local t=$work/tails
    mkdir -p "$t"/{old_iso,new_iso,old_squashfs,new_squashfs,union,src/overlay/live}
    # Tails mounts each ISO, then its live/filesystem.squashfs. Where the kernel has no iso9660
    # (a container), the squashfs is mounted from its offset in the ISO instead: the same bytes.
    local side
    for side in old new; do
        if mount -o loop,ro "$work/$side.iso" "$t/${side}_iso" 2>/dev/null; then
            mounts+=("$t/${side}_iso")
            mount -t squashfs -o loop,ro "$t/${side}_iso/live/filesystem.squashfs" "$t/${side}_squashfs"
        else
            local lba
            lba=$(xorriso -indev "$work/$side.iso" -find /live/filesystem.squashfs -exec report_lba -- 2>/dev/null |
                awk -F, '/File data lba:/ { gsub(/ /, "", $2); print $2; exit }')
            mount -t squashfs -o "loop,ro,offset=$((lba * 2048))" "$work/$side.iso" "$t/${side}_squashfs"
            xorriso -osirrox on -indev "$work/$side.iso" -extract / "$t/${side}_iso" >/dev/null 2>&1
        fi
        mounts+=("$t/${side}_squashfs")
    done
    mount -t tmpfs tmpfs "$t/union"; mounts+=("$t/union")
    mkdir -p "$t/union"/{mount,work,rw}
    mount -t overlay overlay -o "lowerdir=$t/old_squashfs,upperdir=$t/union/rw,workdir=$t/union/work" "$t/union/mount"
    rsync --archive --quiet --delete-after --acls --checksum --xattrs "$t/new_squashfs/" "$t/union/mount/"
    umount "$t/union/mount"
    { getfattr --dump --recursive --no-dereference --absolute-names --match='^trusted\.overlay\.' "$t/union/rw" 2>/dev/null || true; } |
        awk -F'=' '/^# file: /{ sub(/^# file: /, ""); f = $0; next } /^trusted\.overlay\./{ print $1 "\t" f }' |
        while IFS=$'\t' read -r attr file; do setfattr --remove="$attr" --no-dereference -- "$file"; done
    SOURCE_DATE_EPOCH=$new_epoch gensquashfs --keep-xattr --quiet --comp-extra x86,dictsize=1024K \
        --block-size 1048576 --pack-dir "$t/union/rw" "$t/src/overlay/live/diff.squashfs"
    printf 2 >"$t/src/FORMAT"
    printf -- '---\ndelete_files: []\n' >"$t/src/control.yml"
    cp "$t/new_iso/live/initrd.img" "$t/src/overlay/live/"
    cp -r "$t/new_iso/isolinux" "$t/src/overlay/syslinux"
    mv "$t/src/overlay/syslinux/isolinux.cfg" "$t/src/overlay/syslinux/syslinux.cfg"
    sed -i 's|/isolinux/|/syslinux/|g' "$t/src/overlay/syslinux"/*
    chmod -R go+rX "$t/src"
    SOURCE_DATE_EPOCH=$new_epoch gensquashfs --keep-xattr --quiet --all-root --pack-dir "$t/src" "$work/tails.iuk"
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}"; done
    mounts=()
}

sync
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(now); tails; tails_time=$(since "$start")
start=$(now)
"$tamis" iuk -q --epoch "$new_epoch" "$work/old.iso" "$work/new.iso" "$work/tamis.iuk"
tamis_time=$(since "$start")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
"$tamis" iuk --verify "$work/old.iso" "$work/new.iso" "$work/tamis.iuk" >/dev/null ||
    { echo "tamis iuk --verify failed" >&2; exit 1; }

# The same two releases as built (mksquashfs, no tamis): the kit between them.
mksquashfs "$work/old-raw" "$work/old-raw.squashfs" -quiet -no-progress -comp zstd -Xcompression-level 3 >/dev/null
mksquashfs "$work/new-raw" "$work/new-raw.squashfs" -quiet -no-progress -comp zstd -Xcompression-level 3 >/dev/null
# As built, files carry the build's own times (some later than now): the last epoch there is.
"$tamis" iuk -q --epoch 4294967295 --allow-future-epoch --allow-older "$work/old-raw.squashfs" "$work/new-raw.squashfs" "$work/raw.iuk"
"$tamis" iuk -q --epoch "$new_epoch" "$work/old.squashfs" "$work/new.squashfs" "$work/normalized.iuk"

printf 'releases: %s MB and %s MB ISOs (%s; root filesystems: %s)\n' "$(($(size "$work/old.iso") / 1000000))" \
    "$(($(size "$work/new.iso") / 1000000))" "$(nproc) CPUs" "${release_comp[*]}"
printf 'load average (1, 5, 15 min) before the timed runs: %s; after: %s\n' "$load_before" "$load_after"
printf '%-28s %10s %14s\n' method seconds 'kit bytes'
printf '%-28s %10.1f %14d\n' "Tails (rsync + gensquashfs)" "$tails_time" "$(size "$work/tails.iuk")"
printf '%-28s %10.1f %14d\n' "tamis iuk" "$tamis_time" "$(size "$work/tamis.iuk")"
printf 'speed-up: %.1fx   size tamis/Tails: %.3f\n' "$(echo "$tails_time / $tamis_time" | bc -l)" \
    "$(echo "$(size "$work/tamis.iuk") / $(size "$work/tails.iuk")" | bc -l)"
printf 'kit between the releases as built: %d bytes; normalized by tamis: %d bytes (%.1f %% smaller)\n' \
    "$(size "$work/raw.iuk")" "$(size "$work/normalized.iuk")" \
    "$(echo "100 - 100 * $(size "$work/normalized.iuk") / $(size "$work/raw.iuk")" | bc -l)"
