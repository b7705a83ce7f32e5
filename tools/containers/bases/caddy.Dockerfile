# Local stand-in for caddy:2-alpine, from Debian's caddy package (sid, 2.11).
# Tagged pacer-local/caddy:<content hash>, never `caddy:*`. As in the official
# image: XDG folders /config and /data, the config at /etc/caddy/Caddyfile, and
# an `nc` for the Compose health check. Unlike it, it runs as the caddy user
# (binding 443 needs no capability: Docker lets containers bind low ports).
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends caddy netcat-openbsd ca-certificates \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && mkdir -p /config/caddy /data/caddy /etc/caddy /srv \
 && chown -R caddy:caddy /config /data
ENV XDG_CONFIG_HOME=/config \
    XDG_DATA_HOME=/data
USER caddy
EXPOSE 80 443
WORKDIR /srv
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
