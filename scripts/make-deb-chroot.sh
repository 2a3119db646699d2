#!/usr/bin/env bash
# A fresh bookworm chroot where tests install the tamis package (bins/tamis/tests/deb.rs): the
# apt variant plus man-db and bash-completion, made by mmdebstrap from the host's own apt
# sources, as a tarball each test unpacks into a directory of its own.
#
#   scripts/make-deb-chroot.sh [OUTDIR]   # default ${TAMIS_FIXTURE_DIR:-target/fixtures}/deb-chroot
#
# Results: OUTDIR/bookworm.tar and OUTDIR/stamp. Nothing is rebuilt while the stamp records the
# same inputs (this script). Needs root and mmdebstrap.
set -euo pipefail
script_path=$(readlink -f "${BASH_SOURCE[0]}")
repo=$(cd "$(dirname "$script_path")/.." && pwd)
outdir=$(readlink -m "${1:-${TAMIS_FIXTURE_DIR:-$repo/target/fixtures}/deb-chroot}")
log() { printf 'make-deb-chroot: %s\n' "$*" >&2; }

stamp=$(sha256sum "$script_path" | cut -d' ' -f1)
if [[ -f $outdir/stamp && $(cat "$outdir/stamp") == "$stamp" && -f $outdir/bookworm.tar ]]; then
    exit 0
fi
[[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }

# The host's own apt sources are the mirror (mmdebstrap accepts a sources file as MIRROR).
sources=()
[[ -s /etc/apt/sources.list ]] && sources+=(/etc/apt/sources.list)
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -s $f ]] && sources+=("$f")
done
[[ ${#sources[@]} -gt 0 ]] || { log "no apt sources configured on this host"; exit 1; }

mkdir -p "$outdir"
rm -f "$outdir/stamp" "$outdir/bookworm.tar.tmp"
log "building $outdir/bookworm.tar"
# man-db: `man tamis-normalize`; bash-completion: the completion of `tamis nor<TAB>`.
mmdebstrap --mode=root --variant=apt --include=man-db,bash-completion --format=tar \
    bookworm "$outdir/bookworm.tar.tmp" "${sources[@]}"
mv "$outdir/bookworm.tar.tmp" "$outdir/bookworm.tar"
printf '%s\n' "$stamp" > "$outdir/stamp"
