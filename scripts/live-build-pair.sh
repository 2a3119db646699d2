#!/usr/bin/env bash
# Builds a minimal bookworm live image twice with live-build, a host name and a clock apart,
# with tamis' live-build hook (packaging/live-build/hooks, as the package installs it under
# /usr/share/tamis/live-build/hooks) and `tamis iso normalize` after `lb build`, and compares.
# Slow (tens of minutes, network): CI runs it only when asked. Results go to OUTDIR/report.txt;
# docs/live-build.md records a run.
#
#   scripts/live-build-pair.sh [OUTDIR]       # default target/live-build-pair
#   scripts/live-build-pair.sh --compare-only [OUTDIR]   # compare the builds already in OUTDIR
#
# What "without the hooks" means here, from the same pair of builds: an extra binary hook that
# runs before tamis' keeps live-build's own squashfs and initrd, and the ISO is kept before
# `tamis iso normalize`; those are compared too. (Two more builds without the hook would show
# the same, at twice the time.)
#
# Varied between A and B: host name (unshare --uts), clock (B under faketime +3d for the
# processes on the build host; live-build runs chroot commands with `env -i`, so those see the
# real clock, minutes later than A's), the order in time (B starts once A has installed its
# packages, and runs alongside A's binary stage). Same: SOURCE_DATE_EPOCH, the package
# versions (one mirror snapshot; B reuses A's downloaded .debs, not its trees).
# Needs root, live-build, faketime, squashfs-tools and the package of tamis: TAMIS_DEB (default
# target/debian/tamis_*.deb, from scripts/build-deb.sh), unpacked into OUTDIR/pkg (not installed
# on the host): its tamis runs the hook, and its hooks are the ones used. Without a package,
# TAMIS_BIN_DIR (or PATH) gives tamis and the hooks come from packaging/live-build/hooks.
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
compare_only=false
if [[ ${1:-} == --compare-only ]]; then
    compare_only=true
    shift
fi
out=$(readlink -m "${1:-$repo/target/live-build-pair}")
log() { printf 'live-build-pair: %s [%s]\n' "$*" "$(date -u +%T)" >&2; }
[[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }
for tool in lb faketime unshare mksquashfs unsquashfs cmp; do
    command -v "$tool" >/dev/null || { log "$tool is missing"; exit 1; }
done

# compare_pair: the builds in OUTDIR compared, into OUTDIR/report.txt and OUTDIR/diff-*.txt.
compare_pair() {
    # compare A B WHAT: identical, or where the first difference is.
    compare() {
        local first
        if first=$(cmp "$1" "$2" 2>&1); then
            echo "identical: $3 ($(stat -c %s "$1") bytes, sha256 $(sha256sum < "$1" | cut -c1-16)…)"
        else
            echo "DIFFER: $3 (${first##*: })"
        fi >> "$out/report.txt"
    }
    # unsquash IMAGE DIR: the tree of a squashfs image, for tamis diff.
    unsquash() {
        rm -rf "$2" && mkdir -p "$(dirname "$2")"
        unsquashfs -q -d "$2" "$1" >/dev/null
    }
    compare a/*.hybrid.iso b/*.hybrid.iso "ISO with the hook and tamis iso normalize"
    compare a/kept/before-iso-normalize.iso b/kept/before-iso-normalize.iso "ISO with the hook, before tamis iso normalize"
    compare a/binary/live/filesystem.squashfs b/binary/live/filesystem.squashfs "squashfs written by the hook"
    for f in a/binary/live/initrd.img*; do
        compare "$f" "b/binary/live/$(basename "$f")" "initrd $(basename "$f") after the hook"
    done
    compare a/kept/filesystem.squashfs b/kept/filesystem.squashfs "live-build's own squashfs (no hook)"
    for f in a/kept/initrd.img*; do
        compare "$f" "b/kept/$(basename "$f")" "live-build's initrd $(basename "$f") (no hook)"
    done
    # What differs in the tree without the hook: live-build's own squashfs images, unpacked.
    for n in a b; do
        unsquash "$out/$n/kept/filesystem.squashfs" "$out/$n/unsq/root"
    done
    tamis diff --explain "$out/a/unsq/root" "$out/b/unsq/root" > "$out/diff-without-hook.txt" 2>&1 || true
    rm -rf "$out"/a/unsq "$out"/b/unsq
    # And with it, if the hook's images differ.
    if ! cmp -s a/binary/live/filesystem.squashfs b/binary/live/filesystem.squashfs; then
        for n in a b; do
            unsquash "$out/$n/binary/live/filesystem.squashfs" "$out/$n/unsq/root"
        done
        tamis diff --explain "$out/a/unsq/root" "$out/b/unsq/root" > "$out/diff-with-hook.txt" 2>&1 || true
        rm -rf "$out"/a/unsq "$out"/b/unsq
    fi
    log "done"
    cat "$out/report.txt"
}

if $compare_only; then
    [[ -f $out/report.txt ]] || { log "no builds in $out"; exit 1; }
    # The tamis that ran the hooks (unpacked from the package), for tamis diff.
    [[ ! -d $out/pkg ]] || export PATH="$out/pkg/usr/bin:$PATH"
    sed -i '/^identical: \|^DIFFER: /d' "$out/report.txt"
    cd "$out"
    compare_pair
    exit
fi

# A failed build leaves the chroot's /proc, /sys and /dev/pts mounted: unmount everything under
# OUTDIR (deepest first) before removing it, and never cross into another file system.
if [[ -d $out ]]; then
    findmnt -rn -o TARGET | awk -v d="$out/" 'index($0 "/", d) == 1' | sort -r | while read -r m; do
        umount -l "$m" || true
    done
    rm -rf --one-file-system "$out"
fi
mkdir -p "$out"

deb=${TAMIS_DEB:-$(ls "$repo"/target/debian/tamis_*.deb 2>/dev/null | head -1 || true)}
if [[ -n $deb ]]; then
    dpkg-deb -x "$deb" "$out/pkg"
    export PATH="$out/pkg/usr/bin:$PATH"
    hooks=$out/pkg/usr/share/tamis/live-build/hooks
    echo "tamis: $(tamis --version), from $(basename "$deb") (unpacked)" > "$out/report.txt"
else
    export PATH="${TAMIS_BIN_DIR:+$TAMIS_BIN_DIR:}$PATH"
    hooks=$repo/packaging/live-build/hooks
    command -v tamis >/dev/null || { log "no TAMIS_DEB, and tamis not on PATH (set TAMIS_BIN_DIR)"; exit 1; }
    echo "tamis: $(tamis --version), $(command -v tamis); hooks from the source tree" > "$out/report.txt"
fi
ls "$hooks"/*.hook.binary >/dev/null || { log "no hook in $hooks"; exit 1; }

# The host's own Debian mirror: the first URI serving bookworm in its apt sources.
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' || true)
if [[ -z $mirror ]]; then
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '/^URIs:/ { u = $2 } /^Suites:/ && / bookworm( |$)/ { print u; exit }' || true)
fi
[[ -n $mirror ]] || { log "no bookworm source in the host's apt sources"; exit 1; }

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct)}
echo "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" >> "$out/report.txt"

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
date +%s > ../kept/t-hooks
cp live/filesystem.squashfs ../kept/
for f in live/initrd.img*; do cp "$f" ../kept/; done
date +%s > ../kept/t-tamis
HOOK
    # After tamis' hook: when it ended (the times are the build's clock, faked or not).
    printf '#!/bin/sh\ndate +%%s > ../kept/t-tamis-end\n' > config/hooks/normal/9999-time.hook.binary
    chmod +x config/hooks/normal/*.hook.binary
    cp "$hooks"/*.hook.binary config/hooks/normal/
    if [[ -d $out/a/cache ]] && [[ $name != a ]]; then
        mkdir -p cache
        cp -a "$out"/a/cache/packages.* cache/ 2>/dev/null || true
    fi
    local started=$SECONDS
    # libfaketime preloaded by hand, not the faketime wrapper: the wrapper fails when a semaphore
    # named after its PID is left over in /dev/shm (libfaketime leaves them when a process execs).
    local lib
    lib=$(echo /usr/lib/*/faketime/libfaketime.so.1)
    unshare --uts sh -c "hostname $host && ${shift:+env LD_PRELOAD=$lib FAKETIME=$shift} sh -c 'date +%s > kept/t-start && exec lb build'" \
        > "$dir/build.log" 2>&1 ||
        { log "$name: lb build failed (see $dir/build.log)"; tail -20 "$dir/build.log" >&2; exit 1; }
    local iso
    iso=$(ls "$dir"/*.hybrid.iso)
    cp "$iso" "$dir/kept/before-iso-normalize.iso"
    tamis iso normalize "$iso" > "$dir/iso-normalize.txt" 2>&1 ||
        { log "$name: tamis iso normalize failed"; cat "$dir/iso-normalize.txt" >&2; exit 1; }
    local t0 th tt te
    read -r t0 < kept/t-start && read -r th < kept/t-hooks && read -r tt < kept/t-tamis && read -r te < kept/t-tamis-end
    echo "$name: lb build $((SECONDS - started)) s: to the binary hooks $((th - t0)) s, tamis' hook $((te - tt)) s," \
        "checksums and ISO after it $((t0 + SECONDS - started - te)) s" >> "$out/report.txt"
    cd "$out"
}

# B starts once A has installed its packages (.build/chroot_hooks), reusing the .debs A
# downloaded, so that B's bootstrap and chroot stages run while A makes its squashfs.
log "build A"
build a tamis-live-a "" &
pid_a=$!
until [[ -e $out/a/.build/chroot_hooks ]] || ! kill -0 "$pid_a" 2>/dev/null; do
    sleep 20
done
pid_b=
if [[ -e $out/a/.build/chroot_hooks ]]; then
    log "build B"
    build b tamis-live-b "+3d" &
    pid_b=$!
fi
rc_a=0 rc_b=0
wait "$pid_a" || rc_a=$?
[[ -z $pid_b ]] || wait "$pid_b" || rc_b=$?
[[ $rc_a -eq 0 && $rc_b -eq 0 && -n $pid_b ]] || { log "a build failed"; exit 1; }
cd "$out"
compare_pair
