# Local stand-in for postgres:18-bookworm, from Debian's postgresql-18 (sid).
# Tagged pacer-local/postgres:<content hash>, never `postgres:*`. It keeps the
# parts of the official image the Compose file uses: POSTGRES_USER / _DB /
# _PASSWORD_FILE on first start, PGDATA under /var/lib/postgresql/18/docker,
# `postgres` and `pg_isready` on PATH. It runs as the postgres user throughout
# (the official entrypoint starts as root and drops to it).
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/no-main.conf \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends postgresql-18 \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && mkdir -p /var/lib/postgresql/18/docker /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 0700 /var/lib/postgresql/18/docker
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/18/bin:$PATH \
    PGDATA=/var/lib/postgresql/18/docker \
    LANG=C.UTF-8
USER postgres
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
