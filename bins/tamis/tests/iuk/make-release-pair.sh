#!/bin/sh
# Two "releases" of a live system's root filesystem, as a release team makes them: OLD is a copy
# of one mmdebstrap build, NEW a copy of another build of the same packages, then changed the
# way a new release changes: packages upgraded (files changed), one added (new files, a hard
# link), one removed (its files and its directory gone), a configuration file changed, a file
# replaced by a directory and a directory by a file, a mode, an mtime, an attribute and a link
# target changed.
#
# Usage: make-release-pair.sh BUILD_A BUILD_B OUT   (makes OUT/old and OUT/new)
set -eu
a=$1 b=$2 out=$3
mkdir -p "$out"
cp -a "$a" "$out/old"
cp -a "$b" "$out/new"
n=$out/new

# Packages upgraded: their files' bytes change.
printf 'upgraded build\n' >> "$n/usr/bin/dpkg"
printf 'upgraded\n' >> "$n/usr/share/doc/apt/copyright"
# A package added: new files, one of them with a second name.
mkdir -p "$n/usr/share/tamis-new" "$n/usr/share/doc/tamis-new"
seq 1 200000 > "$n/usr/share/tamis-new/data.txt"
printf 'Files: *\nLicense: MIT\n' > "$n/usr/share/doc/tamis-new/copyright"
ln "$n/usr/share/tamis-new/data.txt" "$n/usr/share/tamis-new/data-link.txt"
ln -s ../share/tamis-new/data.txt "$n/usr/bin/tamis-new"
# A package removed: cpio's files, then its (now empty) directories, then its dpkg records.
grep -v '^/\.$' "$n/var/lib/dpkg/info/cpio.list" | while read -r p; do
	if [ ! -d "$n$p" ] || [ -L "$n$p" ]; then rm -f "$n$p"; fi
done
rm -r "$n/usr/share/doc/cpio"
rm -f "$n"/var/lib/dpkg/info/cpio.*
# A configuration file changed.
printf 'release-2\n' > "$n/etc/hostname"
# A file replaced by a directory, a directory by a file.
rm "$n/etc/issue.net"
mkdir "$n/etc/issue.net"
printf 'Welcome\n' > "$n/etc/issue.net/banner"
rm -r "$n/usr/share/doc/gzip"
printf 'see /usr/share/common-licenses\n' > "$n/usr/share/doc/gzip"
# Metadata only: a mode, an mtime, an extended attribute, a link's target.
chmod 0700 "$n/usr/bin/gzip"
touch -h -d @1600000000 "$n/etc/debian_version"
setfattr -n user.tamis.release -v 2 "$n/etc/hosts"
ln -sfn /usr/share/zoneinfo/UTC "$n/etc/localtime"
