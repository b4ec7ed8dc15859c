#!/bin/sh
# The README's first command: a real 4-engine cluster in a fresh profile,
# the seed's hello on every engine, the cluster's status, then stop.
set -e
build=${1:-build}
bin=$(cd "$build/bin" && pwd)
export PATH="$bin:$PATH"
export ZPAR_DIR="${ZPAR_DIR:-$HOME/.zpar}"
profile="demo-$$"

echo "\$ ipcluster start -n 4 --daemonize --profile $profile"
ipcluster start -n 4 --daemonize --profile "$profile"
trap 'ipcluster stop --profile "$profile" >/dev/null 2>&1 || true; rm -rf "$ZPAR_DIR/profile_$profile"' EXIT
echo
echo "\$ $build/examples/hello $profile"
"$build/examples/hello" "$profile"
echo
echo "\$ zpar status --profile $profile"
zpar status --profile "$profile"
echo
echo "\$ zpar engines --profile $profile"
zpar engines --profile "$profile"
echo
echo "\$ ipcluster stop --profile $profile"
ipcluster stop --profile "$profile"
trap 'rm -rf "$ZPAR_DIR/profile_$profile"' EXIT
