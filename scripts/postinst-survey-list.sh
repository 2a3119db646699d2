#!/bin/sh
# The package list of the postinst survey (docs/postinst-survey.md), one name per line, sorted,
# from the host's apt package lists (a bookworm host: bookworm, bookworm-updates and
# bookworm-security, main). Reproducible: the same lists give the same names.
#
#   every package of Priority required, important or standard;
#   plus, of the packages named fonts-*, python3-* and *-doc whose Installed-Size is at most
#   20 MB (the survey installs each twice: no multi-gigabyte documentation), every 4th fonts-*
#   and every 35th python3-* and *-doc in name order: about 100 of each.
#
# Needs dctrl-tools (grep-dctrl). Usage: scripts/postinst-survey-list.sh > docs/postinst-survey/packages.txt
set -eu
avail=$(mktemp)
trap 'rm -f "$avail"' EXIT
apt-cache dumpavail > "$avail"
names() { grep-dctrl -n -s Package "$@" "$avail" | LC_ALL=C sort -u; }
small() { names -F Installed-Size --le 20000 -a -F Package -e "$1"; }
{
    names -F Priority -X required -o -F Priority -X important -o -F Priority -X standard
    small '^fonts-' | awk 'NR % 4 == 1'
    small '^python3-' | awk 'NR % 35 == 1'
    small '[-]doc$' | awk 'NR % 35 == 1'
} | LC_ALL=C sort -u
