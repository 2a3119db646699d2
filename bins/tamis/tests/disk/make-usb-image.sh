#!/bin/sh
# Builds a small USB image the way Tails' create-usb-image-from-iso makes one, with the real
# tools: a GPT disk with one EFI System partition (name "Tails", attributes system, legacy
# BIOS bootable, read-only, hidden, no automount) set with sgdisk, a FAT file system made by
# mkfs.msdos WITHOUT --invariant, the live tree copied with mtools (a sorted walk), syslinux
# installed on the partition with --offset, and syslinux's GPT MBR boot code. Tails' fixed
# GUIDs and serial (sgdisk -U/-u, mlabel -N) are left out on purpose: two runs at different
# times give different bytes.
#
# usage: make-usb-image.sh BOOT_DIR WORK_DIR OUT.img [FAT_BITS]
#   BOOT_DIR holds vmlinuz-* and initrd.img-*; WORK_DIR is created (the tree is built there).
#   FAT_BITS (12, 16 or 32) forces mkfs.msdos -F; without it, as Tails, the type is not forced.
set -eu
boot=$1 work=$2 out=$3 bits=${4:-}
tree=$work/tree
rm -rf "$work" "$out"
mkdir -p "$tree/live" "$tree/syslinux" "$tree/EFI/BOOT" "$tree/utils/linux"
cp "$boot"/vmlinuz-* "$tree/live/vmlinuz"
cp "$boot"/initrd.img-* "$tree/live/initrd.img"
cfg='serial 0 115200\ndefault live\nprompt 0\ntimeout 0\nlabel live\n  kernel /live/vmlinuz\n  append initrd=/live/initrd.img boot=live console=ttyS0 panic=-1\n'
printf "$cfg" > "$tree/syslinux/syslinux.cfg"
# UEFI: syslinux.efi as the removable-media loader, reading the same configuration.
cp /usr/lib/SYSLINUX.EFI/efi64/syslinux.efi "$tree/EFI/BOOT/BOOTX64.EFI"
cp /usr/lib/syslinux/modules/efi64/ldlinux.e64 "$tree/EFI/BOOT/"
printf "$cfg" > "$tree/EFI/BOOT/syslinux.cfg"
echo "a file with a long name" > "$tree/utils/linux/A file with a long name.txt"
# The image: the tree's size in MiB + 10 MiB, as Tails sizes it from the ISO.
mib=$(( $(du -sm "$tree" | cut -f1) + 10 ))
truncate -s "${mib}M" "$out"
sgdisk --new=1:2048:0 --typecode=1:EF00 --change-name=1:Tails "$out" >/dev/null
sgdisk --attributes=1:=:D000000000000005 "$out" >/dev/null
last=$(sgdisk -i 1 "$out" | sed -n 's/^Last sector: \([0-9]*\).*/\1/p')
mkfs.msdos ${bits:+-F "$bits"} -n 'TAILS      ' --offset 2048 "$out" $(( (last - 2048 + 1) / 2 )) >/dev/null
export MTOOLS_SKIP_CHECK=1
part="$out@@1M"
# The label as mkfs wrote it: a label in another case in the boot sector than in the root
# directory (mlabel ::Tails) is a difference fsck.fat reports, before tamis as after.
mlabel -i "$part" ::TAILS
# A sorted walk, directories made before their contents, as Tails' script does.
(cd "$tree" && find . -mindepth 1 | LC_ALL=C sort) | while read -r path; do
  rel=${path#./}
  if [ -d "$tree/$rel" ]; then
    mmd -i "$part" "::/$rel"
  else
    mcopy -i "$part" "$tree/$rel" "::/$rel"
  fi
done
syslinux --offset $((2048 * 512)) --directory /syslinux/ --install "$out"
dd if=/usr/lib/syslinux/mbr/gptmbr.bin of="$out" bs=440 count=1 conv=notrunc status=none
