# syntax=docker/dockerfile:1
#
# The Personas image: one static binary that runs any stage (`run`, `ingest`,
# `aggregate`, `emit`) or tool (`generate`, `query`, `forget`, ...).
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t personas .
#   docker run --rm personas version
#
# deploy/deploy_test.go checks this file (go test ./deploy/...), and runs the
# same go build, because nothing on the development machines can run Docker.

# The compiler runs on the build host's platform even when the image is for
# another one (docker buildx --platform linux/arm64): with CGO off, Go
# cross-compiles natively, which is much faster than compiling under QEMU.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src

# Download modules in their own layer so that a code change does not download
# them all again.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
# VERSION ends up in `personas version` and the "starting" log line.
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
# CGO_ENABLED=0: the runtime image has no libc, so the binary must be static.
# -trimpath keeps the build machine's paths out of the binary and its panics.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o /personas ./cmd/personas

# distroless/static has no shell, package manager or libc: CA certificates
# (for rediss:// and Kafka TLS), tzdata and /etc/passwd are all it needs.
# The :nonroot tag runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /personas /personas
USER nonroot:nonroot

# /healthz, /readyz and /metrics. The binary still listens on 127.0.0.1 by
# default, so a bare `docker run -p 9464:9464` shows nothing: the deployment
# must opt in with PERSONAS_HTTP_LISTEN=0.0.0.0:9464 and
# PERSONAS_HTTP_PUBLIC_OK=true (docker-compose.yml does). That is deliberate:
# the server also serves /debug/pprof, and the image should not widen that on
# hosts where it runs with --network host.
EXPOSE 9464

# No HEALTHCHECK: it would need a shell or an HTTP client inside the image,
# and distroless has neither. Orchestrators probe from outside instead:
# Kubernetes with httpGet on /healthz (liveness) and /readyz (readiness);
# docker-compose.yml with a blackbox exporter that probes /readyz for
# Prometheus.
ENTRYPOINT ["/personas"]
CMD ["run"]
