# Multi-stage build: the C libraries (SQLite, libpq, OpenSSL) are bundled, so the build stage
# needs only the Rust toolchain, a C compiler, perl and make (the full rust image has all four;
# the slim one lacks the perl modules OpenSSL's build wants). Base images are pinned to exact
# versions so that a rebuild gets the same toolchain and OS until someone bumps them on purpose.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# Only because the workspace lists it: cargo reads every member's manifest.
COPY bench ./bench
RUN cargo build --release --locked --bin tokenhub

FROM debian:bookworm-20260824-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/tokenhub --create-home tokenhub
COPY --from=build /src/target/release/tokenhub /usr/local/bin/tokenhub
USER tokenhub
WORKDIR /var/lib/tokenhub
ENV TOKENHUB_HTTP__BIND=0.0.0.0:8080
EXPOSE 8080
# Exec form, the binary itself: the image needs neither a shell nor curl for its health check.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/tokenhub", "healthcheck"]
ENTRYPOINT ["tokenhub"]
CMD ["serve"]
