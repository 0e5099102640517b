# syntax=docker/dockerfile:1
# One image, three services: the workload picks its binary
# (/usr/local/bin/patient-service, data-service or monitor-service).
#
#   docker build -t icu-monitor .                    # everything, in a Rust builder image
#   make image                                       # here: binaries built on the host, then
#       podman build --build-context builder=DIR --target runtime .
#
# Both ways the runtime stage copies the same tree, /out/ of the stage
# named `builder` (or of DIR/out/ standing in for it).

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# librdkafka is compiled from source by rdkafka-sys: it needs a C toolchain, make
# and perl (Debian's rust image has them); CA certificates for the runtime image.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY . .
# glibc linked statically (crt-static): one self-contained binary per service,
# which resolves host names through /etc/hosts and DNS without any shared library.
ENV RUSTFLAGS="-C target-feature=+crt-static"
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-gnu \
        -p patient-service -p data-service -p monitor-service \
    && mkdir -p /out/usr/local/bin /out/etc/ssl/certs \
    && for bin in patient-service data-service monitor-service; do \
         cp target/x86_64-unknown-linux-gnu/release/$bin /out/usr/local/bin/; \
       done \
    && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
    && cp -r docker/rootfs/. /out/

FROM scratch AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="icu-monitor" \
      org.opencontainers.image.description="Emulated ICU ward: patient-service, data-service, monitor-service (static binaries)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/icu-monitor"
COPY --from=builder /out/ /
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# 65532 = "nonroot" in /etc/passwd; Kubernetes' runAsNonRoot needs a numeric user.
USER 65532:65532
EXPOSE 8000 8001 8002
CMD ["/usr/local/bin/monitor-service"]
