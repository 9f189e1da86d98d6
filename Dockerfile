# Multi-stage build: a static binary on a minimal base image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/monitor ./cmd/monitor

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/monitor /usr/local/bin/monitor
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/monitor"]
CMD ["serve", "--config", "/etc/monitor/monitor.yaml"]
