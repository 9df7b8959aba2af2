# Airlock and the LORE demo app in one image.
#
#   docker build -t airlock .
#   docker compose up --build        # redis, two airlock instances and LORE: see docker-compose.yml
#
# Stage 1 builds release binaries; stage 2 is a slim Debian with nothing but them.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# `--bin airlock --example lore`: the server, and the demo app protected by edge-mw.
RUN cargo build --release --locked -p airlock -p edge-mw --bin airlock --example lore \
 && mkdir -p /out \
 && cp target/release/airlock target/release/examples/lore /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/airlock airlock
COPY --from=build /out/airlock /out/lore /usr/local/bin/
USER airlock
WORKDIR /var/lib/airlock
EXPOSE 7070 7071
# The embedded store's default (`./airlock-data`) lands in /var/lib/airlock; compose uses Redis.
CMD ["airlock", "serve", "--listen", "0.0.0.0:7070"]
