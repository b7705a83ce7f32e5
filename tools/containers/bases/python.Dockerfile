# Local stand-in for python:3.11-slim-bookworm, from Debian bookworm's packages
# (python3 3.11.2). Tagged pacer-local/python:<content hash>, never `python:*`.
# What the service Dockerfiles rely on: `python` and `pip` on PATH, pip free to
# install (no PEP 668 marker, as in the official image), groupadd/useradd, a CA
# store for PyPI.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends python3 python3-pip ca-certificates \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \
 && ln -s /usr/bin/python3 /usr/local/bin/python \
 && ln -s /usr/bin/pip3 /usr/local/bin/pip
ENV LANG=C.UTF-8
CMD ["python3"]
