#!/usr/bin/env bash
# Builds a minimal bookworm live image twice with live-build, a host name and a clock apart,
# with tamis' live-build hook (packaging/live-build/hooks, as the package installs it under
# /usr/share/tamis/live-build/hooks) and `tamis iso normalize` after `lb build`, and compares.
# Slow (tens of minutes, network): CI runs it only when asked. Results go to OUTDIR/report.txt;
# docs/live-build.md records a run.
#
#   scripts/live-build-pair.sh [OUTDIR]       # default target/live-build-pair
#
# What "without the hooks" means here, from the same pair of builds: an extra binary hook that
# runs before tamis' keeps live-build's own squashfs and initrd, and the ISO is kept before
# `tamis iso normalize`; those are compared too. (Two more builds without the hook would show
# the same, at twice the time.)
#
# Varied between A and B: host name (unshare --uts), clock (B under faketime +3d for the
# processes on the build host; live-build runs chroot commands with `env -i`, so those see the
# real clock, minutes later than A's), the order in time (B after A). Same: SOURCE_DATE_EPOCH,
# the package versions (one mirror snapshot; B reuses A's downloaded .debs, not its trees).
# Needs root, live-build, faketime and tamis on PATH (or TAMIS_BIN_DIR).
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
out=$(readlink -m "${1:-$repo/target/live-build-pair}")
log() { printf 'live-build-pair: %s [%s]\n' "$*" "$(date -u +%T)" >&2; }
[[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }
export PATH="${TAMIS_BIN_DIR:+$TAMIS_BIN_DIR:}$PATH"
command -v tamis >/dev/null || { log "tamis not on PATH (set TAMIS_BIN_DIR)"; exit 1; }

# The host's own Debian mirror: the first URI serving bookworm in its apt sources.
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' || true)
if [[ -z $mirror ]]; then
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '/^URIs:/ { u = $2 } /^Suites:/ && / bookworm( |$)/ { print u; exit }' || true)
fi
[[ -n $mirror ]] || { log "no bookworm source in the host's apt sources"; exit 1; }

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct)}
rm -rf "$out" && mkdir -p "$out"

# build NAME HOST FAKETIME
build() {
    local name=$1 host=$2 shift=$3 dir=$out/$1
    mkdir -p "$dir/config/hooks/normal" "$dir/kept"
    cd "$dir"
    lb config --distribution bookworm --archive-areas main \
        --mirror-bootstrap "$mirror" --mirror-chroot "$mirror" --mirror-binary "$mirror" \
        --security false --updates false --apt-indices false --apt-recommends false \
        --debian-installer none --memtest none --firmware-binary false --firmware-chroot false \
        --binary-images iso-hybrid --bootloaders "syslinux,grub-efi" \
        --debootstrap-options "--variant=minbase" --cache-indices false >/dev/null
    # "Without the hooks": what live-build made, kept before tamis' hook runs.
    cat > config/hooks/normal/0001-keep-originals.hook.binary <<'HOOK'
#!/bin/sh
set -e
cp live/filesystem.squashfs ../kept/
for f in live/initrd.img*; do cp "$f" ../kept/; done
HOOK
    cp "$repo"/packaging/live-build/hooks/*.hook.binary config/hooks/normal/
    if [[ -d $out/a/cache ]] && [[ $name != a ]]; then
        mkdir -p cache
        cp -a "$out"/a/cache/packages.* cache/ 2>/dev/null || true
    fi
    local started=$SECONDS
    unshare --uts sh -c "hostname $host && ${shift:+faketime -f $shift} lb build" > "$dir/build.log" 2>&1 ||
        { log "$name: lb build failed (see $dir/build.log)"; tail -20 "$dir/build.log" >&2; exit 1; }
    local iso
    iso=$(ls "$dir"/*.hybrid.iso)
    cp "$iso" "$dir/kept/before-iso-normalize.iso"
    tamis iso normalize --quiet "$iso"
    echo "$name: lb build $((SECONDS - started)) s" >> "$out/report.txt"
    cd "$out"
}

log "build A"
build a tamis-live-a ""
log "build B"
build b tamis-live-b "+3d"

compare() {
    if cmp -s "$1" "$2"; then echo "identical: $3"; else echo "DIFFER: $3"; fi >> "$out/report.txt"
}
compare a/*.hybrid.iso b/*.hybrid.iso "ISO with the hook and tamis iso normalize"
compare a/binary/live/filesystem.squashfs b/binary/live/filesystem.squashfs "squashfs written by the hook"
compare a/kept/filesystem.squashfs b/kept/filesystem.squashfs "live-build's own squashfs (no hook)"
for f in a/kept/initrd.img*; do
    compare "$f" "b/kept/$(basename "$f")" "live-build's initrd $(basename "$f") (no hook)"
done
compare a/kept/before-iso-normalize.iso b/kept/before-iso-normalize.iso "ISO before tamis iso normalize"
# What differs in the trees without normalization: the manifests of live-build's squashfs.
for n in a b; do
    mkdir -p "$out/$n/unsq" && unsquashfs -q -f -d "$out/$n/unsq/root" "$out/$n/kept/filesystem.squashfs" >/dev/null
done
tamis diff --explain "$out/a/unsq/root" "$out/b/unsq/root" > "$out/diff-without-hook.txt" 2>&1 || true
cat "$out/report.txt"
