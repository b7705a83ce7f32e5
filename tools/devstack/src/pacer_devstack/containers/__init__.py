"""``make containers-up`` / ``containers-down``: the production Compose stack on this machine's
Docker engine, with locally built images and one override file (deploy/docker-compose.local.yml).

engine   the Docker engine and Compose v2 (tools/containers/ensure-engine.sh), and how to call them
images   base images from Debian's packages and the service images, each tagged by its content
stack    secrets, the Caddyfile and the settings file; up, ready, down
"""
