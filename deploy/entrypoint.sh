#!/bin/sh
# Start `omnify serve` with every plugin under /opt/omnify/plugins published
# (a version already published is left as it is); extra arguments follow.
# Of several hosts on one store, one publishes: OMNIFY_PUBLISH_PLUGINS=0
# on the others (each would sign with a development key of its own).
set -eu
set -- serve "$@"
if [ "${OMNIFY_PUBLISH_PLUGINS:-1}" = 1 ]; then
    for component in /opt/omnify/plugins/*/*.wasm; do
        [ -e "$component" ] && set -- "$@" --plugin "$component"
    done
fi
exec /usr/local/bin/omnify "$@"
