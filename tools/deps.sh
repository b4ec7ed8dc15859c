#!/bin/sh
# Installs what zpar needs to build and test, from Debian's packages, when
# something is missing. Quiet when everything is there.
set -e

need=""
have_pkg () { pkg-config --exists "$1" 2>/dev/null; }
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
have_pkg libczmq   || need="$need libczmq-dev"
have_pkg libzmq    || need="$need libzmq3-dev"
have_pkg jansson   || need="$need libjansson-dev"
have_pkg libsodium || need="$need libsodium-dev"
have_pkg criterion || need="$need libcriterion-dev"
have_pkg sqlite3   || need="$need libsqlite3-dev"
# zpar top is tested inside tmux.
command -v tmux >/dev/null 2>&1 || need="$need tmux"
# Engines on other hosts: tested through Debian's sshd in network namespaces.
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v ssh >/dev/null 2>&1 || need="$need openssh-client"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
# Engines as an MPI job.
command -v mpiexec >/dev/null 2>&1 || need="$need openmpi-bin"
# Engines as a Slurm job, tested on a one-node Slurm cluster.
[ -x /usr/sbin/slurmctld ] || need="$need slurm-wlm"
[ -x /usr/sbin/munged ] || need="$need munge"
command -v valgrind >/dev/null 2>&1 || need="$need valgrind"
command -v gcc >/dev/null 2>&1 || need="$need gcc"
# make bench: the systems zpar is measured against, from Debian.
if [ "$1" = "bench" ]; then
    [ -x /usr/bin/python3 ] || need="$need python3"
    /usr/bin/python3 -c 'import ipyparallel' >/dev/null 2>&1 || need="$need python3-ipyparallel"
    /usr/bin/python3 -c 'import distributed' >/dev/null 2>&1 || need="$need python3-distributed"
fi
# make fuzz: clang with libFuzzer's runtime.
if [ "$1" = "fuzz" ]; then
    command -v clang >/dev/null 2>&1 || need="$need clang"
    ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 \
        || need="$need libclang-rt-dev"
fi

[ -z "$need" ] && exit 0

echo "zpar: installing$need (Debian packages)"
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "zpar: need root (or sudo) to install:$need" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $need >/dev/null
