#!/usr/bin/env bash
# The test command of the README and of CI: installs the real tools the tests use (apt-get, as
# root), builds the real-rootfs fixture (cached under target/fixtures), then runs every test.
#
#   scripts/test.sh                 # everything (what CI runs), as root
#   scripts/test.sh -p tamis-core   # extra arguments go to the test runner
#
# It needs root (apt-get, mmdebstrap, and tests that mknod, setcap, mount). Run as root, it goes
# on; run as another user, it runs itself again through sudo when sudo exists (keeping the
# caller's PATH, cargo and rustup homes); without sudo, or with TAMIS_TEST_AS_USER=1, it goes
# on unprivileged: nothing is installed and tests that need the fixture say "skipped".
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }

case "${1:-}" in
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 0
        ;;
esac

if [[ $(id -u) -ne 0 && -z ${TAMIS_TEST_AS_USER:-} ]] && command -v sudo >/dev/null; then
    log "not root: running again through sudo"
    exec sudo env PATH="$PATH" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
        ${TAMIS_FIXTURE_DIR:+TAMIS_FIXTURE_DIR="$TAMIS_FIXTURE_DIR"} "$PWD/scripts/test.sh" "$@"
fi

# Real producers and consumers the tests call: mmdebstrap (fixtures), faketime (the fixtures'
# second build runs 3 days ahead), setfattr/getfattr (attr), setcap/getcap (libcap2-bin),
# mkfifo/mknod/mount/unshare (coreutils, util-linux), find/touch/cp, useradd/pwck (passwd),
# ssh-keygen (openssh-client), systemd-analyze (systemd), python3, cpio and the initramfs
# compressors (xz-utils, zstd, lz4, bzip2), qemu to boot a normalized initrd; for the formats
# stage the producers and consumers of each format (gzip, zip/unzip/zipinfo, jar from a JDK, ar
# from binutils, dpkg-deb, pngcheck, msgfmt from gettext), a jar from a Debian package and the
# peer strip-nondeterminism for the cross-check.
packages=(mmdebstrap faketime attr libcap2-bin util-linux findutils coreutils passwd openssh-client systemd
    python3 xz-utils cpio gzip zstd lz4 bzip2 qemu-system-x86
    zip unzip default-jdk-headless binutils dpkg pngcheck gettext libcommons-lang3-java strip-nondeterminism)
# mkimage/dumpimage: U-Boot images for the formats stage.
packages+=(u-boot-tools)
packages+=(xorriso mtools dosfstools grub-efi-amd64-bin grub-pc-bin grub-common fdisk genisoimage isolinux syslinux-common squashfs-tools ovmf p7zip-full)   # ISO images: build (also grub-mkrescue), EFI FAT image, HFS+ (7z), check, boot UEFI (tamis-iso)
packages+=(disorderfs)   # postinst-check: the opt-in readdir-all variation (FUSE), checked by tests/postinst_check.rs; the default readdir needs none
packages+=(squashfs-tools squashfs-tools-ng)   # unsquashfs -lln/-d check tamis squashfs images; mksquashfs, gensquashfs for the bench
packages+=(dpkg-dev)   # apt-get source / dpkg-source: strip-nondeterminism's own fixture suite (peer_fixtures.rs)
packages+=(apksigner zipalign)   # formats: an Android package aligned by zipalign, signed and verified by apksigner, is left as it is
packages+=(parallel openssh-server)   # postinst-check: the GNU parallel --sshlogin recipe, run against an sshd of its own on localhost
packages+=(fontconfig fonts-dejavu-core)   # fc-cache and a font: fontconfig caches through a squashfs round trip (tamis-postinst stages.rs)
packages+=(liblzma-dev pkg-config)   # squashfs xz: tamis links the host's liblzma, as mksquashfs does (else it builds the bundled sources)
packages+=(e2fsprogs)   # chattr: append-only and immutable directories and files (tests/interrupt.rs)
packages+=(gdisk syslinux syslinux-efi)   # USB images as Tails makes them: sgdisk, syslinux --install, syslinux.efi (tamis disk, tests/disk.rs)
packages+=(rsync)   # benches/iuk-vs-tails.sh: Tails' method of making an upgrade kit (rsync --checksum onto an overlayfs)
# dh_tamis: real package builds with dpkg-buildpackage and dh (debhelper); the package of tamis
# checked by lintian (scripts/build-deb.sh); man and bash-completion read the generated man pages
# and completions (tests/clidoc.rs); mmdebstrap makes the chroot tests/deb.rs installs it in.
packages+=(debhelper lintian man-db bash-completion)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || { log "missing packages ${missing[*]}: run it as root"; exit 2; }
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    missing=()
fi

# strip-nondeterminism's own fixture suite (t/fixtures/*/*.in and .out, t/failures/), from its
# Debian source package, the version installed above, into a cache under target/ (never
# committed). The deb-src lines are the host's own apt sources with "deb" read as "deb-src",
# kept in the cache with their own package lists: the host's apt configuration is not touched.
# bins/tamis/tests/peer_fixtures.rs runs tamis over it; without it that test says "skipped".
fetch_peer_suite() {
    local cache=target/peer-suite version apt
    [[ -d $cache/strip-nondeterminism/t/fixtures ]] && return 0
    version=$(dpkg-query -W -f='${source:Version}' strip-nondeterminism 2>/dev/null) || return 1
    rm -rf "$cache" && mkdir -p "$cache/apt/sources.list.d" "$cache/apt/lists/partial" "$cache/download"
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -e $f ]] && sed -E 's/^Types:(.*[[:space:]])deb([[:space:]].*|)$/Types:\1deb-src\2/' "$f" \
            > "$cache/apt/sources.list.d/$(basename "$f")"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -e $f ]] && sed -nE 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >> "$cache/apt/sources.list"
    done
    apt=(-o "Dir::Etc::SourceList=$PWD/$cache/apt/sources.list"
        -o "Dir::Etc::SourceParts=$PWD/$cache/apt/sources.list.d"
        -o "Dir::State::Lists=$PWD/$cache/apt/lists" -o APT::Sandbox::User=root)
    touch "$cache/apt/sources.list"
    apt-get "${apt[@]}" update -qq >/dev/null 2>&1 || return 1
    (cd "$cache/download" && apt-get "${apt[@]}" source --download-only -qq "strip-nondeterminism=$version" >/dev/null 2>&1) \
        || return 1
    dpkg-source --no-check -x "$cache"/download/strip-nondeterminism_*.dsc "$cache/strip-nondeterminism" >/dev/null
}
if [[ $(id -u) -eq 0 ]]; then
    fetch_peer_suite || log "could not fetch strip-nondeterminism's source package (apt-get source): the peer fixture test will say 'skipped'"
fi

if [[ $(id -u) -eq 0 ]]; then
    scripts/make-rootfs-pair.sh
    # The same pair with a kernel: initrds made by the real mkinitramfs.
    EXTRA_PACKAGES="linux-image-amd64 initramfs-tools" \
        scripts/make-rootfs-pair.sh "${TAMIS_FIXTURE_DIR:-target/fixtures}/initramfs-pair"
    # The package of tamis and a fresh bookworm chroot to install it in (tests/deb.rs).
    scripts/build-deb.sh
    scripts/make-deb-chroot.sh
    # The fixture exists now: a test that cannot find it is a failure, not a skip.
    export TAMIS_REQUIRE_FIXTURES=1
else
    log "not root: the real-rootfs fixture cannot be built; tests that need it say 'skipped'"
fi

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
    # nextest does not run doctests.
    cargo test --workspace --doc "$@"
else
    cargo test --workspace --no-fail-fast "$@"
fi

# Publishability (docs/publishing.md): the API documentation builds without a warning (broken
# or private links), and every library crate packages and builds from its own package, against
# the others packaged alongside it (cargo >= 1.90 packages interdependent crates together).
RUSTDOCFLAGS='-D warnings' cargo doc --no-deps --workspace
# cargo unpacks the crates it packages together into a local registry and builds them as registry
# crates, which it knows by name and version only: in a target directory used before, a crate
# changed since at the same version would be verified against its stale unpacked copy and
# build. So the check starts from an empty target directory and unpacked copies of its own.
for unpacked in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/tamis-*; do
    if [[ -d $unpacked ]]; then rm -rf -- "$unpacked"; fi
done
rm -rf target/package-check
CARGO_TARGET_DIR=target/package-check cargo package --workspace --exclude tamis --exclude dh_tamis --exclude tamis-clidoc --exclude tamis-debhelper --exclude tamis-test-support
