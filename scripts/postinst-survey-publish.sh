#!/bin/sh
# Makes the committed survey results (docs/postinst-survey/results.jsonl) from raw result lines
# of `tamis postinst-check --jobs`: merged (one line per job, sorted), and small: without the
# two installations' conditions and what was not varied (the same for every job), the base's
# directory on the machine that ran it, the modification-time-only differences and apt's and
# dpkg's own files (counted in `counts`, not listed), and with the URLs of the apt sources in
# the logs' tails replaced by SOURCE. The counts and the remaining differences come out of it
# unchanged: `tamis postinst-check --merge docs/postinst-survey/results.jsonl`.
#
# Usage: scripts/postinst-survey-publish.sh RAW.jsonl... > docs/postinst-survey/results.jsonl
# Needs jq and tamis.
set -eu
tamis=${TAMIS:-tamis}
"$tamis" postinst-check --merge "$@" --json - |
    jq -c '
        del(.a, .b, .not_varied, .kept, .base.root)
        | if .findings then .findings |= map(select(.group != "mtime-only" and .class != "package-manager")) else . end
        | if .failure then .failure.log_tail |= gsub("[a-z]+://[^ ]+"; "SOURCE") else . end'
