#!/usr/bin/perl
# The debhelper sequence add-on of tamis: `Build-Depends: dh-sequence-tamis` (or
# `dh $@ --with tamis`) runs dh_tamis on every package's staged tree.
#
# Where: right after dh_strip_nondeterminism, so before dh_compress, dh_fixperms, dh_md5sums
# and dh_builddeb. By then every dh_install* command has staged its files; dh_md5sums must
# see the final bytes; dh_compress writes gzip -n files that are reproducible already. After
# dh_strip_nondeterminism (rather than only "before dh_compress") so that a package keeping
# both sees tamis last: what it leaves is what is shipped.
use warnings;
use strict;
use Debian::Debhelper::Dh_Lib;

insert_after("dh_strip_nondeterminism", "dh_tamis");

1;
