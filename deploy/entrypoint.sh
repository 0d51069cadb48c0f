#!/bin/sh
# Start `omnify serve` with every plugin under /opt/omnify/plugins published
# (a version already published is left as it is); extra arguments follow.
set -eu
set -- serve "$@"
for component in /opt/omnify/plugins/*/*.wasm; do
    [ -e "$component" ] && set -- "$@" --plugin "$component"
done
exec /usr/local/bin/omnify "$@"
