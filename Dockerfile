# Builds both binaries; docker-compose.yml runs each from this image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --workspace --bins

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/orderflow-api /src/target/release/orderflow-worker /usr/local/bin/
ENV APP_HOST=0.0.0.0 LOG_FORMAT=json
EXPOSE 8000
CMD ["orderflow-api", "serve"]
