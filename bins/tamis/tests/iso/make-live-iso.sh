#!/bin/sh
# Builds a small live image the way Debian's live images are laid out, with the real tools:
# live/vmlinuz, live/initrd.img, live/filesystem.squashfs, isolinux for BIOS (isohybrid
# MBR) and GRUB for UEFI (an EFI FAT image made with mtools, El Torito EFI entry and a GPT
# partition), Rock Ridge and Joliet. No reproducibility option is given on purpose: two runs at
# different times give different bytes.
#
# usage: make-live-iso.sh BOOT_DIR WORK_DIR OUT.iso [extra xorriso options...]
#   BOOT_DIR holds vmlinuz-* and initrd.img-*; WORK_DIR is created (the tree is built there).
#   With EXTRA=DIR in the environment, DIR's contents are copied into the tree before the image
#   is made (the benchmark's large squashfs and padding files).
set -eu
boot=$1 work=$2 out=$3
shift 3
tree=$work/tree
rm -rf "$work"
mkdir -p "$tree/live" "$tree/boot/grub" "$tree/EFI/boot" "$work/rootfs/etc" "$work/efi"
cp "$boot"/vmlinuz-* "$tree/live/vmlinuz"
cp "$boot"/initrd.img-* "$tree/live/initrd.img"
echo live > "$work/rootfs/etc/hostname"
ln -s hostname "$work/rootfs/etc/link"
# The root filesystem image is made reproducibly (its own times are not the ISO's business).
mksquashfs "$work/rootfs" "$tree/live/filesystem.squashfs" -quiet -noappend -no-progress \
  -mkfs-time 1600000000 -all-time 1600000000 >/dev/null
cat > "$tree/boot/grub/grub.cfg" <<'CFG'
set timeout=0
set default=0
serial --unit=0 --speed=115200
terminal_output serial console
menuentry "live" {
  linux /live/vmlinuz boot=live console=ttyS0 panic=-1
  initrd /live/initrd.img
}
CFG
ln -s live/vmlinuz "$tree/vmlinuz"
mkdir -p "$tree/isolinux/deep/a/b/c/d/e/f/g/h"
echo deep > "$tree/isolinux/deep/a/b/c/d/e/f/g/h/file with a long name.txt"
modules="iso9660 part_gpt part_msdos normal linux search search_label configfile serial terminal echo"
# BIOS: isolinux, as Debian's images boot BIOS machines, with isohybrid's MBR.
mkdir -p "$tree/isolinux"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$tree/isolinux/"
printf 'serial 0 115200\ndefault live\nprompt 0\ntimeout 0\nlabel live\n  kernel /live/vmlinuz\n  append initrd=/live/initrd.img boot=live console=ttyS0 panic=-1\n' \
  > "$tree/isolinux/isolinux.cfg"
# UEFI: a FAT image holding GRUB as EFI/boot/bootx64.efi, made with mformat/mcopy (times and
# serial of now), also present in the tree as EFI/boot/bootx64.efi.
# As Debian's: an embedded configuration finds the ISO by a file on it and reads its grub.cfg.
printf 'search --no-floppy --set=root --file /live/vmlinuz\nset prefix=($root)/boot/grub\nconfigfile ($root)/boot/grub/grub.cfg\n' \
  > "$work/efi/early.cfg"
grub-mkimage -O x86_64-efi -p /boot/grub -c "$work/efi/early.cfg" -o "$tree/EFI/boot/bootx64.efi" $modules
mformat -C -f 2880 -L 16 -N "$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')" -i "$tree/boot/grub/efi.img" ::
mmd -i "$tree/boot/grub/efi.img" ::/EFI ::/EFI/boot
mcopy -i "$tree/boot/grub/efi.img" "$tree/EFI/boot/bootx64.efi" ::/EFI/boot/
if [ -n "${EXTRA:-}" ]; then cp -a "$EXTRA"/. "$tree/"; fi
xorriso -as mkisofs -R -J -joliet-long -V TAMIS_LIVE -o "$out" \
  -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin \
  -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
  -eltorito-alt-boot -e boot/grub/efi.img -no-emul-boot -isohybrid-gpt-basdat -isohybrid-apm-hfsplus \
  "$@" "$tree" 2>"$work/xorriso.log"
