#!/bin/sh
# As the official image does (it builds Redis with protected mode off by default):
# with no config file, protected mode would refuse every client that is not on
# loopback, and on the Compose network none is. The network is private to the
# stack; nothing publishes Redis's port.
set -eu
if [ "${1:-}" = redis-server ]; then
    shift
    exec redis-server --protected-mode no "$@"
fi
exec "$@"
