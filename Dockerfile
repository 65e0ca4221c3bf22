# nrm-compendium: `docker build -t nrm . && docker run --rm -v "$PWD/paper:/home/nrm/app/paper" nrm`
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends make git libjemalloc2 libmimalloc2.0 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 nrm
USER nrm
WORKDIR /home/nrm/app

# the pinned environment first (a layer that changes only with the lock), then nrm itself
COPY --chown=nrm:nrm requirements.lock ./
RUN python -m venv .venv \
    && .venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY --chown=nrm:nrm pyproject.toml README.md Makefile environment.yml ./
COPY --chown=nrm:nrm nrm ./nrm
RUN .venv/bin/pip install --no-cache-dir --no-deps -e . \
    && .venv/bin/nrm check-lock --installed && touch .venv/.installed-stamp
COPY --chown=nrm:nrm . .

ENV MPLBACKEND=Agg
CMD ["make", "paper"]
