# syntax=docker/dockerfile:1
#
# Two images from one build:
#   docker build -t cf-invalidator .                          # the worker (default, last stage)
#   docker build -t cf-invalidator-cfsim --target cfsim .     # the CloudFront simulator
#
# Both binaries are static (CGO_ENABLED=0) and run as the distroless
# "nonroot" user (uid 65532).

# golang:1.26 is the latest 1.26.x; go.mod asks for go 1.26.8 or newer and the
# official images set GOTOOLCHAIN=local, so pull a current image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/worker ./cmd/worker && \
    go build -trimpath -ldflags="-s -w" -o /out/cfsim ./cmd/cfsim

# The CloudFront simulator (cmd/cfsim), for local stacks: docker-compose.yml
# runs it under the "cfsim" profile.
FROM gcr.io/distroless/static-debian12:nonroot AS cfsim
COPY --from=build /out/cfsim /cfsim
EXPOSE 8090
ENTRYPOINT ["/cfsim"]
CMD ["--addr", "0.0.0.0:8090", "--complete-after", "15s"]

# The worker. Mount your configuration at /etc/invalidator/worker.yaml (the
# copy baked in is the annotated reference, configs/worker.yaml, whose queue
# and distributions are examples) or override keys with INVALIDATOR_<KEY>.
# Set INVALIDATOR_HTTP_ADDR=0.0.0.0:9090 to reach /metrics from outside the
# container. AWS credentials come from the SDK chain (task role, IRSA, env).
FROM gcr.io/distroless/static-debian12:nonroot AS worker
COPY --from=build /out/worker /worker
COPY configs/worker.yaml /etc/invalidator/worker.yaml
USER nonroot:nonroot
EXPOSE 9090
ENTRYPOINT ["/worker"]
CMD ["run", "--config", "/etc/invalidator/worker.yaml"]
