#!/bin/bash
# Makes the samples of tests/golden.rs with the real tools, once: one file per format handler,
# dated in 2026 (after the tests' epoch), as a build would leave it. The samples are committed
# so that the golden digests of the handlers' output do not depend on the tools' versions; run
# this again only to add a format (then pin its digest in tests/golden.rs).
set -euo pipefail
cd "$(dirname "$0")"
export TZ=UTC LC_ALL=C
unset SOURCE_DATE_EPOCH
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
date='2026-06-01 12:34:56'
# libfaketime preloaded by hand, not the faketime wrapper: the wrapper fails when a semaphore
# named after its PID is left over in /dev/shm.
clock=(env LD_PRELOAD="$(echo /usr/lib/*/faketime/libfaketime.so.1)" FAKETIME="$date")
printf 'the same text\n%.0s' {1..50} > "$work/text"
touch -d "$date" "$work/text"
(cd "$work" && gzip -k text && mv text.gz "$OLDPWD/sample.gz")
(cd "$work" && zip -q -X0 sample.zip text && zip -q sample.zip text && mv sample.zip "$OLDPWD/sample.zip")
(cd "$work" && ar rcsU sample.a text 2>/dev/null && mv sample.a "$OLDPWD/sample.a")
python3 - "$work/sample.png" <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 2, 2, 8, 2, 0, 0, 0))
png += chunk(b'tIME', struct.pack('>HBBBBB', 2026, 6, 1, 12, 34, 56))
png += chunk(b'tEXt', b'date:create\x002026-06-01T12:34:56+00:00')
png += chunk(b'IDAT', zlib.compress(b'\x00' + b'\xff\x00\x00' * 2 + b'\x00' + b'\x00\xff\x00' * 2))
png += chunk(b'IEND', b'')
open(sys.argv[1], 'wb').write(png)
PY
mv "$work/sample.png" sample.png
printf 'msgid ""\nmsgstr ""\n"PO-Revision-Date: 2026-06-01 12:34+0200\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\nmsgid "Hello"\nmsgstr "Bonjour"\n' > "$work/t.po"
msgfmt -o sample.mo "$work/t.po"
printf 'X = 1\n' > "$work/m.py"
touch -d "$date" "$work/m.py"
python3 -c "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2])" "$work/m.py" sample.pyc
mkdir -p "$work/src/p"
printf 'package p;\n/** A class. */\npublic class A {}\n' > "$work/src/p/A.java"
(cd "$work" && "${clock[@]}" javadoc -quiet -d api -sourcepath src p >/dev/null 2>&1)
cp "$work/api/p/A.html" sample-javadoc.html
printf 'echo boot\n' > "$work/boot.txt"
"${clock[@]}" mkimage -A arm -O linux -T script -C none -n boot -d "$work/boot.txt" sample.scr >/dev/null
(cd "$work" && echo text | cpio --quiet -o -H newc > "$OLDPWD/sample.cpio")
ls -l
