#!/usr/bin/env bash
# dh_tamis against dh_strip_nondeterminism on the staged tree of a large real package, in one
# run: the package's .deb (apt-get download, the host's sources) is unpacked with dpkg-deb -R
# into debian/<package>/ of a minimal source tree, twice, and each command runs on its copy the
# way dh runs it (in the source tree, SOURCE_DATE_EPOCH set). Prints both times and the ratio.
#
#   benches/dh_tamis-vs-dh_strip_nondeterminism.sh [PACKAGE]   # default libcommons-lang3-java-doc
#
# DH_TAMIS: the dh_tamis binary (default: target/dist/dh_tamis, else target/release, on PATH).
# Needs debhelper and dh-strip-nondeterminism. The .deb is cached in target/bench-debs.
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
package=${1:-libcommons-lang3-java-doc}
dh_tamis=${DH_TAMIS:-}
for c in "$repo/target/dist/dh_tamis" "$repo/target/release/dh_tamis" "$(command -v dh_tamis || true)"; do
    [[ -z $dh_tamis && -x $c ]] && dh_tamis=$c
done
[[ -n $dh_tamis ]] || { echo "no dh_tamis binary (cargo build --profile dist -p dh_tamis)" >&2; exit 1; }

cache=$repo/target/bench-debs
mkdir -p "$cache"
deb=$(ls "$cache/${package}"_*.deb 2>/dev/null | head -1 || true)
if [[ -z $deb ]]; then
    (cd "$cache" && apt-get download -q "$package" >/dev/null)
    deb=$(ls "$cache/${package}"_*.deb | head -1)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000

setup() { # DIR: a source tree with the package staged
    mkdir -p "$1/debian"
    printf 'Source: bench\nMaintainer: B <b@example.org>\nBuild-Depends: debhelper-compat (= 13)\n\nPackage: %s\nArchitecture: all\nDescription: bench\n bench\n' \
        "$package" > "$1/debian/control"
    printf 'bench (1.0) unstable; urgency=medium\n\n  * B.\n\n -- B <b@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n' \
        > "$1/debian/changelog"
    dpkg-deb -R "$deb" "$1/debian/$package"
}
setup "$work/sn"
setup "$work/tamis"
files=$(find "$work/tamis/debian/$package" -type f | wc -l)
size=$(du -sh "$work/tamis/debian/$package" | cut -f1)

timed() { # DIR COMMAND...: seconds
    local dir=$1 start end
    shift
    sync
    start=$(date +%s.%N)
    (cd "$dir" && "$@" >/dev/null)
    end=$(date +%s.%N)
    awk "BEGIN { print $end - $start }"
}
sn=$(timed "$work/sn" dh_strip_nondeterminism)
tm=$(timed "$work/tamis" "$dh_tamis")
printf '%s (%s files, %s)\n' "$(basename "$deb")" "$files" "$size"
printf 'dh_strip_nondeterminism  %6.2f s\n' "$sn"
printf 'dh_tamis                 %6.2f s\n' "$tm"
printf 'ratio (dh_strip_nondeterminism / dh_tamis): %.1f\n' "$(awk "BEGIN { print $sn / $tm }")"
