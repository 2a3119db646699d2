#!/usr/bin/env bash
# Builds the Debian package of tamis from a clean checkout:
#   target/debian/tamis_<version>_<arch>.deb
# holding tamis and dh_tamis, a man page per command (written from the clap definitions by the
# binaries themselves: `tamis generate-docs`, `dh_tamis --generate-docs`), bash/zsh/fish
# completions, the docs, the live-build hook (/usr/share/tamis/live-build/) and the debhelper
# add-on (Provides: dh-sequence-tamis). Then lintian, which must find no error.
#
#   scripts/build-deb.sh            # the dist profile (thin LTO, what a distribution ships)
#   PROFILE=release scripts/build-deb.sh
#
# Why cargo-deb and not a debian/ directory: a debian/ source package built the Debian way
# (dh-cargo) needs every crate tamis uses packaged in Debian, at the versions Cargo.lock names;
# many are not (zlib-rs, lz4_flex and others at these versions), so it could only be built
# from vendored sources. cargo-deb builds the binary package from the workspace as it is, from
# one metadata table ([package.metadata.deb] in bins/tamis/Cargo.toml) next to the code it
# packages. It is installed (cargo install --locked cargo-deb) when missing.
#
# Reproducible: SOURCE_DATE_EPOCH (default: the date of the last commit) dates the man pages
# and every member of the package; man pages are compressed with gzip -9n.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

log() { printf 'build-deb.sh: %s\n' "$*" >&2; }
profile=${PROFILE:-dist}

if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH

if ! cargo deb --version >/dev/null 2>&1; then
    log "installing cargo-deb"
    cargo install --locked cargo-deb
fi

log "building tamis and dh_tamis (profile $profile)"
cargo build --locked --profile "$profile" -p tamis -p dh_tamis
bin=target/$profile

assets=target/debian-assets
rm -rf "$assets"
"$bin/tamis" generate-docs "$assets" 2>/dev/null
"$bin/dh_tamis" --generate-docs "$assets" 2>/dev/null
gzip -9n "$assets"/man/man1/*.1
# A native package's changelog (Debian policy 12.7), dated SOURCE_DATE_EPOCH.
version=$("$bin/tamis" --version | cut -d' ' -f2)
maintainer=$(sed -n 's/^maintainer = "\(.*\)"$/\1/p' bins/tamis/Cargo.toml)
{
    printf 'tamis (%s) unstable; urgency=medium\n\n' "$version"
    printf '  * Built from commit %s.\n\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf ' -- %s  %s\n' "$maintainer" "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} > "$assets/changelog"
gzip -9n "$assets/changelog"

log "packaging"
rm -f target/debian/tamis_*.deb
# --strip: the release profile keeps debug info (debug = 1), which lintian calls an error in a
# package (unstripped-binary-or-object); a Debian package ships stripped binaries.
cargo deb -p tamis --no-build --profile "$profile" --strip
deb=$(ls target/debian/tamis_*.deb)
log "built $deb"

if command -v lintian >/dev/null; then
    # Errors fail the build; the warnings accepted are listed (with why) in docs/debian.md.
    lintian --fail-on error --tag-display-limit 0 "$deb"
else
    log "lintian is not installed: not checked"
fi
printf '%s\n' "$deb"
