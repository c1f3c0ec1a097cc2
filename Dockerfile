# Multi-stage build: the C libraries (SQLite, libpq, OpenSSL) are bundled, so the build stage
# needs only the Rust toolchain, a C compiler, perl and make.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# Only because the workspace lists it: cargo reads every member's manifest.
COPY bench ./bench
RUN cargo build --release --locked --bin tokenhub

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/tokenhub --create-home tokenhub
COPY --from=build /src/target/release/tokenhub /usr/local/bin/tokenhub
USER tokenhub
WORKDIR /var/lib/tokenhub
ENV TOKENHUB_HTTP__BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["tokenhub"]
CMD ["serve"]
