#!/bin/bash
# Runs `tamis postinst-check` job lines on several hosts with GNU parallel (--sshlogin), then
# merges the results with `tamis postinst-check --merge`. No scheduler of tamis' own: parallel
# sends each chunk of job lines to a host's `tamis postinst-check --jobs -` over ssh and
# collects the result lines.
#
#   scripts/postinst-survey-parallel.sh [options] JOBS OUT_DIR [-- POSTINST-CHECK OPTIONS]
#     -S LOGIN        a GNU parallel sshlogin (repeat: one per host), e.g. 2/root@builder1;
#                     every host needs root, tamis, mmdebstrap, faketime (and disorderfs
#                     for --variations readdir-all)
#     --localhost     add this machine, reached over ssh: an sshd of the script's own on
#                     127.0.0.1, with a key made in the script's temporary directory (both gone
#                     at the end); needs openssh-server and root
#     --tamis PATH    the tamis binary on the hosts (default: tamis)
#     -N LINES        job lines per ssh call (default 5: one base set-up per call)
#     -- ...          after JOBS OUT_DIR: given to every `tamis postinst-check` (--cache, --variations ..)
#
# Writes OUT_DIR/results-parallel.jsonl (result lines as they came), OUT_DIR/merged.jsonl and
# OUT_DIR/table.txt (`tamis postinst-check --merge`). Needs GNU parallel locally.
set -euo pipefail

logins=() tamis=tamis chunk=5 localhost=0 extra=()
while [[ $# -gt 0 ]]; do
    case $1 in
        -S) logins+=("$2"); shift 2 ;;
        --localhost) localhost=1; shift ;;
        --tamis) tamis=$2; shift 2 ;;
        -N) chunk=$2; shift 2 ;;
        --) shift; extra=("$@"); set --; break ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[[ $# -ge 2 ]] || { sed -n '2,20p' "$0" >&2; exit 2; }
jobs=$1 out=$2
shift 2
if [[ ${1:-} == -- ]]; then shift; extra=("$@"); fi
mkdir -p "$out"

tmp=$(mktemp -d)
sshd_pid=
cleanup() {
    if [[ -n $sshd_pid ]]; then kill "$sshd_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

ssh_cmd=(ssh)
if [[ $localhost == 1 ]]; then
    # An sshd of our own: its host key, the client key and the authorised keys live in $tmp.
    port=$((20000 + RANDOM % 20000))
    ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$tmp/client_key"
    cp "$tmp/client_key.pub" "$tmp/authorized_keys"
    mkdir -p /run/sshd
    cat > "$tmp/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $tmp/host_key
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
PidFile $tmp/sshd.pid
EOF
    /usr/sbin/sshd -D -e -f "$tmp/sshd_config" 2>"$tmp/sshd.log" &
    sshd_pid=$!
    cat > "$tmp/ssh_config" <<EOF
Host tamis-localhost
    HostName 127.0.0.1
    Port $port
    User root
    IdentityFile $tmp/client_key
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile $tmp/known_hosts
    BatchMode yes
EOF
    ssh_cmd=(ssh -F "$tmp/ssh_config")
    for _ in $(seq 50); do
        "${ssh_cmd[@]}" tamis-localhost true 2>/dev/null && break
        sleep 0.2
    done
    "${ssh_cmd[@]}" tamis-localhost true
    logins+=("1/tamis-localhost")
fi
[[ ${#logins[@]} -gt 0 ]] || { echo "no host: give -S LOGIN or --localhost" >&2; exit 2; }

sshlogins=()
for l in "${logins[@]}"; do sshlogins+=(-S "$l"); done
remote="$tamis postinst-check ${extra[*]@Q} --jobs -"
# Job lines without blanks and comments; --pipe -N sends each chunk on the remote's stdin.
grep -v -e '^[[:space:]]*$' -e '^[[:space:]]*#' "$jobs" |
    parallel --ssh "${ssh_cmd[*]}" "${sshlogins[@]}" --pipe -N "$chunk" --joblog "$out/joblog" "$remote" \
        > "$out/results-parallel.jsonl"
"$tamis" postinst-check --merge "$out/results-parallel.jsonl" --json "$out/merged.jsonl" > "$out/table.txt"
cat "$out/table.txt"
