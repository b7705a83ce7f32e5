# Local stand-in for redis:8-bookworm, from Debian's redis-server (sid, 8.0).
# Tagged pacer-local/redis:<content hash>, never `redis:*`. As in the official
# image: redis-server and redis-cli on PATH, /data the working directory, run as
# the redis user,
# protected mode off (redis-entrypoint.sh says why).
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
