# podid's image for those who build with Docker (BuildKit). It gives the same
# layout as `make image` (cmd/podid-image, internal/image), which builds the
# image without Docker: a static podid at /usr/local/bin/podid, /etc/passwd
# and /etc/group from internal/image/rootfs (user nonroot, uid 65532), a home
# directory and /tmp, running as 65532:65532.
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(git log -1 --format=%cI) -t REGISTRY/podid:0.1.0 --push .
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH
ARG VERSION=0.1.0 COMMIT=unknown DATE=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= \
        -X github.com/podid/podid/internal/version.version=${VERSION} \
        -X github.com/podid/podid/internal/version.commit=${COMMIT} \
        -X github.com/podid/podid/internal/version.date=${DATE}" \
      -o /out/podid ./cmd/podid \
 && mkdir -p /out/nonroot /out/tmp && chmod 0700 /out/nonroot && chmod 1777 /out/tmp

FROM scratch
ARG VERSION=0.1.0 COMMIT=unknown DATE=unknown
COPY internal/image/rootfs/ /
COPY --from=build --chown=65532:65532 /out/nonroot /home/nonroot
COPY --from=build /out/tmp /tmp
COPY --from=build /out/podid /usr/local/bin/podid
LABEL org.opencontainers.image.title=podid \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.revision=${COMMIT} \
      org.opencontainers.image.created=${DATE} \
      org.opencontainers.image.source=https://github.com/podid/podid \
      org.opencontainers.image.licenses=Apache-2.0
ENV PATH=/usr/local/bin:/usr/bin:/bin
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/podid"]
CMD ["version"]
