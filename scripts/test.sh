#!/usr/bin/env bash
# The test command of the README and of CI: installs the real tools the tests use (apt-get, as
# root), builds the real-rootfs fixture (cached under target/fixtures), then runs every test.
#
#   sudo scripts/test.sh            # everything (what CI runs)
#   scripts/test.sh -p tamis-core   # extra arguments go to the test runner
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }

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
packages+=(disorderfs)   # postinst-check: the directory-order variation (FUSE)
packages+=(squashfs-tools squashfs-tools-ng)   # unsquashfs -lln/-d check tamis squashfs images; mksquashfs, gensquashfs for the bench
packages+=(e2fsprogs)   # chattr: append-only and immutable directories and files (tests/interrupt.rs)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || { log "missing packages ${missing[*]}: run as root (sudo $0)"; exit 2; }
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    missing=()
fi

if [[ $(id -u) -eq 0 ]]; then
    scripts/make-rootfs-pair.sh
    # The same pair with a kernel: initrds made by the real mkinitramfs.
    EXTRA_PACKAGES="linux-image-amd64 initramfs-tools" \
        scripts/make-rootfs-pair.sh "${TAMIS_FIXTURE_DIR:-target/fixtures}/initramfs-pair"
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
