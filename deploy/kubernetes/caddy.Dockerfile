# The edge on Kubernetes: Caddy and the browser client (web/) in one image,
# tagged with the release like the services (Compose mounts web/ instead).
# Build from the repository root:
#   docker build -f deploy/kubernetes/caddy.Dockerfile -t REGISTRY/pacer/caddy:TAG .
# The Caddyfile is not baked in: it is a ConfigMap (base/Caddyfile).
FROM caddy:2.11.7-alpine
COPY web/ /srv/web/
