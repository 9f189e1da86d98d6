# Multi-stage build: a static binary on a minimal base image.
#
# Both bases are pinned by digest, with the tag beside it for people: the tag says what the image
# is, the digest decides which one. The digests are the ones that many public Dockerfiles pin for
# these tags (multi-platform index digests); no registry could be reached where this file was
# written, so check them once with
#   docker buildx imagetools inspect golang:1.26.8-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
# and update both lines in one reviewed commit when you move to newer bases. The Go version
# matches go.mod.
FROM golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/monitor ./cmd/monitor

FROM gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639
COPY --from=build /out/monitor /usr/local/bin/monitor
USER nonroot:nonroot
EXPOSE 8080
# The image has no shell and no curl: the binary probes its own /readyz (exec form). Point it
# elsewhere with `healthcheck --url` if http.listen is not port 8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/monitor", "healthcheck", "--url", "http://127.0.0.1:8080/readyz", "--timeout", "4s"]
ENTRYPOINT ["/usr/local/bin/monitor"]
CMD ["serve", "--config", "/etc/monitor/monitor.yaml"]
