# syntax=docker/dockerfile:1.7
# One image, two binaries: `dzinza` (every service and `migrate`) and `dzinza-operator`.
#   docker build -t ghcr.io/dzinza/dzinza:dev .
# The runtime is distroless (glibc, CA certificates, no shell) and runs as UID 65532, which the
# operator's pod security contexts expect; the root filesystem can be mounted read-only.

# --- the web app (SPA), when the workspace has one
FROM docker.io/library/node:22-bookworm-slim AS web
WORKDIR /src
COPY services/ services/
RUN mkdir -p /out && if [ -f services/web/package.json ]; then \
      cd services/web && npm ci --no-audit --no-fund && npm run build && cp -r dist/. /out/; \
    fi

# --- the Rust binaries
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p dzinza -p dzinza-operator \
    && mkdir -p /out \
    && cp target/release/dzinza target/release/dzinza-operator /out/

# --- runtime
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="dzinza" \
      org.opencontainers.image.description="Dzinza genealogy platform and its Kubernetes operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/dzinza /usr/local/bin/dzinza
COPY --from=build /out/dzinza-operator /usr/local/bin/dzinza-operator
COPY --from=web /out/ /usr/share/dzinza/web/
ENV DZINZA_LISTEN=0.0.0.0:8080 \
    DZINZA_DATA_DIR=/var/lib/dzinza \
    DZINZA_SPA_DIR=/usr/share/dzinza/web
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dzinza"]
CMD ["serve"]
