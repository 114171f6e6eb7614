# Builds both binaries; docker-compose.yml and deploy/kubernetes run each from this image.
# Base images are pinned to exact versions; bump them deliberately.
FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when a manifest or the lock file
# changes, not on every source edit.
COPY Cargo.toml Cargo.lock ./
COPY api/Cargo.toml api/Cargo.toml
COPY worker/Cargo.toml worker/Cargo.toml
COPY shared/Cargo.toml shared/Cargo.toml
COPY testkit/Cargo.toml testkit/Cargo.toml
COPY bench/Cargo.toml bench/Cargo.toml
COPY chaos/Cargo.toml chaos/Cargo.toml
RUN for crate in api worker shared testkit bench chaos; do \
        mkdir -p $crate/src $crate/benches && touch $crate/src/lib.rs; \
    done \
    && for crate in api worker bench chaos; do echo 'fn main() {}' > $crate/src/main.rs; done \
    && echo 'fn main() {}' > chaos/src/soak_main.rs \
    && echo 'fn main() {}' > api/benches/hot_paths.rs \
    && echo 'fn main() {}' > shared/benches/domain.rs \
    && cargo build --release --locked -p orderflow-api -p orderflow-worker \
    && rm -rf api/src worker/src shared/src testkit/src bench/src chaos/src api/benches shared/benches
# Then the sources (touched so cargo rebuilds them over the placeholders). The image has no
# .git: `docker build --build-arg ORDERFLOW_COMMIT=$(git rev-parse --short=12 HEAD)` names the
# commit in orderflow_build_info (shared/build.rs).
COPY . .
ARG ORDERFLOW_COMMIT=unknown
RUN find api worker shared -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p orderflow-api -p orderflow-worker

FROM debian:bookworm-20251117-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 orderflow \
    && useradd --system --uid 10001 --gid orderflow --no-create-home --shell /usr/sbin/nologin orderflow
COPY --from=build /src/target/release/orderflow-api /src/target/release/orderflow-worker /usr/local/bin/
USER 10001:10001
ENV APP_HOST=0.0.0.0 LOG_FORMAT=json
EXPOSE 8000 9000 9001
# The API's liveness; the worker's service overrides it (port 9001) in compose.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${APP_PORT:-8000} && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ' 200 ' <&3"]
CMD ["orderflow-api", "serve"]
