#!/usr/bin/env bash
# Build two real Debian bookworm root filesystems, A and B, from the same package set, differing
# the way two independent builds of one image differ (DESIGN.md §1): built one after the other,
# under different host names, B under a clock shifted 3 days ahead.  They are the test fixture
# for tamis: every byte that differs between them is something tamis has to normalize.
#
# Results: OUTDIR/a, OUTDIR/b (plain directories), OUTDIR/stamp, OUTDIR/logs/.
# Cached: nothing is rebuilt while OUTDIR/stamp records the same inputs (this script, the package
# list, the variant, the clock-shift mode). Downloaded .debs are kept in TAMIS_DEB_CACHE, shared
# by both builds and by later runs (old versions pile up there: delete the directory to prune).
#
# Needs root, mmdebstrap; libfaketime (package faketime) for the shifted clock of B.
# What is deliberately NOT varied: the host's /etc/resolv.conf (mmdebstrap copies it into both),
# the package versions (both builds resolve against the same, just-fetched indices).
# Hook arguments are single-quoted on purpose: mmdebstrap runs them with sh, $1 = the chroot.
# shellcheck disable=SC2016
set -euo pipefail

usage() {
    cat <<'EOF'
usage: make-rootfs-pair.sh [-h] [OUTDIR]

Builds OUTDIR/a and OUTDIR/b, two bookworm root filesystems made by mmdebstrap from the host's
apt sources, and OUTDIR/stamp. Does nothing if OUTDIR/stamp matches the current inputs.

  OUTDIR            default: ${TAMIS_FIXTURE_DIR:-<repo>/target/fixtures}/rootfs-pair

Environment:
  EXTRA_PACKAGES    more packages, space separated (e.g. "linux-image-amd64 initramfs-tools")
  VARIANT           mmdebstrap variant (default: important, the debootstrap package set)
  TAMIS_DEB_CACHE   where downloaded .debs are kept (default: OUTDIR/../debs)
  TAMIS_FAKETIME    "auto" (default: shift B's clock if libfaketime is installed), "yes", "no"
EOF
}

log() { printf 'make-rootfs-pair: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
esac
[[ $# -le 1 ]] || { usage >&2; exit 2; }

script_path=$(readlink -f "${BASH_SOURCE[0]}")
repo=$(cd "$(dirname "$script_path")/.." && pwd)
outdir=${1:-${TAMIS_FIXTURE_DIR:-$repo/target/fixtures}/rootfs-pair}
outdir=$(readlink -m "$outdir")

# ---------------------------------------------------------------------------------------------
# What goes into the images: the "important" variant (debootstrap's default set) plus packages
# whose maintainer scripts write caches and databases.  A kernel is one more line here, or
# EXTRA_PACKAGES="linux-image-amd64 initramfs-tools" (tested: +5,100 entries, +440 MB, ~1 min
# more per build, and boot/initrd.img-* differs: gzip, since bookworm's COMPRESS=zstd falls back
# to gzip without the zstd package, with mkinitramfs' random temp name in the header).
suite=bookworm
variant=${VARIANT:-important}
packages=(
    systemd systemd-sysv dbus           # machine-id, systemd catalog, unit symlinks
    openssh-server                      # ssh host keys (random per build, host name in .pub)
    python3                             # .pyc written by py3compile at postinst
    fontconfig fonts-dejavu-core        # var/cache/fontconfig (directory mtimes inside)
    man-db                              # var/cache/man index.db (gdbm)
    ca-certificates                     # /etc/ssl/certs hash links, ca-certificates.crt
    locales                             # locale-archive (locale generated below)
    libgdk-pixbuf-2.0-0                 # gdk-pixbuf loaders.cache
    shared-mime-info                    # mime database; pulls libglib2.0 (gio modules cache)
    gtk-update-icon-cache hicolor-icon-theme  # icon-theme.cache
    adduser passwd                      # /etc/shadow (sp_lstchg = day of the build)
)
# shellcheck disable=SC2206  # word splitting of EXTRA_PACKAGES is intended
packages+=(${EXTRA_PACKAGES:-})
user_name=tamis                         # account created at build time (customize hook)
locale_name="en_US.UTF-8 UTF-8"         # line enabled in /etc/locale.gen
host_a=tamis-build-a
host_b=tamis-build-b
shift_b=+3d                             # libfaketime offset for build B

# ---------------------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "must run as root (mmdebstrap --mode=root, chroot, unshare)"
command -v mmdebstrap >/dev/null || die "mmdebstrap not found: apt-get install mmdebstrap"
command -v unshare >/dev/null || die "unshare not found (util-linux)"

# mmdebstrap honours SOURCE_DATE_EPOCH (clamps mtimes, fixes times): that would make the two
# builds identical in exactly the ways we want them to differ.
unset SOURCE_DATE_EPOCH

# libfaketime: the faketime wrapper preloads /usr/$LIB/faketime/libfaketime.so.1; we do the same
# by hand so that we know the path and can put the library into the chroot as well (maintainer
# scripts run chrooted, and useradd/pwconv there must see the shifted day).  This works reliably
# with mmdebstrap: the clock is probed here, and after the build B's /etc/shadow must carry a
# later sp_lstchg than A's, or the script fails.
faketime_lib=
faketime_mode=${TAMIS_FAKETIME:-auto}
if [[ $faketime_mode != no ]]; then
    for f in /usr/lib/*/faketime/libfaketime.so.1; do
        [[ -e $f ]] && faketime_lib=$f && break
    done
    if [[ -n $faketime_lib ]]; then
        # Probe: the shifted clock must be about 3 days (259200 s) ahead.
        now=$(date +%s)
        shifted=$(env LD_PRELOAD="$faketime_lib" FAKETIME="$shift_b" date +%s)
        if (( shifted - now < 259100 || shifted - now > 259300 )); then
            [[ $faketime_mode == yes ]] && die "libfaketime does not shift the clock here"
            log "warning: libfaketime does not shift the clock; building B without clock shift"
            faketime_lib=
        fi
    elif [[ $faketime_mode == yes ]]; then
        die "libfaketime not found: apt-get install faketime"
    else
        log "warning: libfaketime not installed (apt-get install faketime);" \
            "building B without a shifted clock"
    fi
fi
faketime_used=no
[[ -n $faketime_lib ]] && faketime_used=$shift_b

# ---------------------------------------------------------------------------------------------
# Cache check: the stamp records a hash of every input.
inputs_hash=$(
    {
        cat "$script_path"
        printf 'suite=%s\nvariant=%s\npackages=%s\nfaketime=%s\n' \
            "$suite" "$variant" "${packages[*]}" "$faketime_used"
    } | sha256sum | cut -d' ' -f1
)
stamp=$outdir/stamp
if [[ -f $stamp && -d $outdir/a && -d $outdir/b ]] &&
    grep -qx "inputs=$inputs_hash" "$stamp"; then
    log "up to date: $outdir"
    exit 0
fi

# The host's own apt sources are the mirror (mmdebstrap accepts a sources file as MIRROR).
sources=()
[[ -s /etc/apt/sources.list ]] && sources+=(/etc/apt/sources.list)
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -s $f ]] && sources+=("$f")
done
[[ ${#sources[@]} -gt 0 ]] || die "no apt sources configured on this host (/etc/apt/sources.list*)"

mkdir -p "$(dirname "$outdir")"
export TAMIS_DEBS=${TAMIS_DEB_CACHE:-$(dirname "$outdir")/debs}
mkdir -p "$TAMIS_DEBS"
TAMIS_DEBS=$(readlink -f "$TAMIS_DEBS")

work=$(mktemp -d "$outdir.new.XXXXXX")
cleanup() {
    # Builds run in their own mount namespace, so no mount of theirs survives them: removing the
    # work tree cannot reach into /proc, /dev or the .deb cache. --one-file-system all the same.
    if [[ -n ${work:-} && -d $work ]]; then rm -rf --one-file-system "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 755 "$work"
mkdir "$work/logs"

# ---------------------------------------------------------------------------------------------
# build NAME HOSTNAME FAKETIME_LIB: build $work/NAME.
build() {
    local name=$1 host=$2 ftlib=$3
    local root=$work/$name logfile=$work/logs/$name.log
    local include
    include=$(IFS=,; echo "${packages[*]}")

    local args=(
        --mode=root
        --variant="$variant"
        --include="$include"
        # Keep what a typical image builder leaves (logs, machine-id, ldconfig aux-cache):
        # mmdebstrap's own cleanup/reproducible would hide part of the problem.
        --skip=cleanup/reproducible
        # Keep the essential .debs in /var/cache/apt/archives until the sync-out hook below.
        --skip=essential/unlink
        # mmdebstrap copies the host's /etc/hostname; write the build's own host name instead
        # (the one set by unshare --uts below, which is also what ssh-keygen puts in *.pub).
        --setup-hook='hostname > "$1/etc/hostname"'
        # Seed the chroot's apt archive from the shared cache (hard links when possible).
        --setup-hook='mkdir -p "$1/var/cache/apt/archives"
            cp -al "$TAMIS_DEBS/." "$1/var/cache/apt/archives/" 2>/dev/null ||
            cp -a "$TAMIS_DEBS/." "$1/var/cache/apt/archives/"'
    )
    if [[ -n $ftlib ]]; then
        # Processes inside the chroot load the preload path from the chroot: put the library
        # there for the duration of the build, remove it at the end.
        args+=(
            --setup-hook="mkdir -p \"\$1$(dirname "$ftlib")\" && cp \"$ftlib\" \"\$1$ftlib\""
            # The security suite's Release is only valid for a week: 3 days ahead may be past it.
            --aptopt='Acquire::Check-Valid-Until "false"'
        )
    fi
    args+=(
        --customize-hook="chroot \"\$1\" useradd --create-home --shell /bin/bash $user_name"
        --customize-hook="sed -i 's/^# *$locale_name\$/$locale_name/' \"\$1/etc/locale.gen\"
            chroot \"\$1\" locale-gen"
        # Give new .debs back to the shared cache (link, or copy then rename: never a partial
        # file under a .deb name).
        --customize-hook='for f in "$1"/var/cache/apt/archives/*.deb; do
                [ -f "$f" ] || continue
                d=$TAMIS_DEBS/${f##*/}
                [ -e "$d" ] || ln "$f" "$d" 2>/dev/null ||
                    { cp -a "$f" "$d.part" && mv "$d.part" "$d"; } || exit 1
            done'
    )
    if [[ -n $ftlib ]]; then
        args+=(
            --customize-hook="rm -f \"\$1$ftlib\" \"\$1/etc/apt/apt.conf.d/99mmdebstrap\"
                rmdir \"\$1$(dirname "$ftlib")\""
        )
    fi

    local env=(env -u SOURCE_DATE_EPOCH)
    if [[ -n $ftlib ]]; then
        # NO_FAKE_STAT: stat() reports real mtimes, so mtime-keyed caches (fontconfig, pyc)
        # stay consistent with the files, as in a real later build.  Note that libfaketime also
        # fakes utime(NULL)/touch: such files get the shifted time, other writes the real one.
        env+=(LD_PRELOAD="$ftlib" FAKETIME="$shift_b" FAKETIME_DONT_FAKE_MONOTONIC=1 NO_FAKE_STAT=1)
    fi

    log "building $name (host name $host${ftlib:+, clock $shift_b}); log: logs/$name.log"
    local t0 t1
    t0=$(date +%s%N)
    # Own UTS namespace for the host name, own mount namespace so that mmdebstrap's mounts
    # (/proc, /sys, /dev in the chroot) disappear with it whatever happens. A /dev/shm of its
    # own, before libfaketime is loaded: libfaketime names a semaphore and a shared memory
    # object there after the first preloaded process, and leaves them when that process execs
    # (env, sh) or when apt's _apt methods cannot open root's; they go with the namespace.
    if ! unshare --uts --mount --propagation private -- \
        sh -c 'mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm && hostname "$1" && shift && exec "$@"' \
        sh "$host" "${env[@]}" mmdebstrap "${args[@]}" "$suite" "$root" "${sources[@]}" >"$logfile" 2>&1; then
        tail -n 40 "$logfile" >&2
        # The work tree is removed on exit: keep the log next to it.
        cp "$logfile" "$outdir.$name.failed.log"
        die "mmdebstrap failed for $name (full log: $outdir.$name.failed.log)"
    fi
    t1=$(date +%s%N)
    local secs=$(( (t1 - t0 + 500000000) / 1000000000 ))
    log "built $name in ${secs}s"
    printf 'build_%s_start=%s\nbuild_%s_seconds=%s\nbuild_%s_hostname=%s\n' \
        "$name" "$(( t0 / 1000000000 ))" "$name" "$secs" "$name" "$host" >>"$work/stamp.part"
}

overall_start=$(date +%s)
build a "$host_a" ""
build b "$host_b" "$faketime_lib"

# Sanity checks on the pair.
[[ $(cat "$work/a/etc/hostname") == "$host_a" ]] || die "a/etc/hostname is not $host_a"
[[ $(cat "$work/b/etc/hostname") == "$host_b" ]] || die "b/etc/hostname is not $host_b"
grep -q "^$user_name:" "$work/a/etc/passwd" || die "user $user_name missing in a"
if [[ -n $faketime_lib ]]; then
    lastchg_a=$(awk -F: '$1 == "root" { print $3 }' "$work/a/etc/shadow")
    lastchg_b=$(awk -F: '$1 == "root" { print $3 }' "$work/b/etc/shadow")
    (( lastchg_b > lastchg_a )) ||
        die "clock shift had no effect: shadow lastchg a=$lastchg_a b=$lastchg_b"
    [[ ! -e $work/b$faketime_lib ]] || die "libfaketime left in b"
fi

{
    printf 'inputs=%s\n' "$inputs_hash"
    printf 'built=%s\n' "$overall_start"
    printf 'suite=%s\nvariant=%s\nfaketime=%s\n' "$suite" "$variant" "$faketime_used"
    printf 'packages=%s\n' "${packages[*]}"
    cat "$work/stamp.part"
} >"$work/stamp"
rm "$work/stamp.part"

# Move into place: the old pair (if any) goes away only once the new one is complete.
if [[ -e $outdir ]]; then
    old=$(mktemp -d "$outdir.old.XXXXXX")
    mv "$outdir" "$old/"
    mv "$work" "$outdir"
    rm -rf --one-file-system "$old"
else
    mv "$work" "$outdir"
fi
work=
rm -f "$outdir".*.failed.log
log "done: $outdir ($(du -sh "$outdir/a" | cut -f1) each)"
