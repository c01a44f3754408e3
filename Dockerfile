# The milvus-admission webhook image: `make docker-build` (IMG=... to name it,
# VERSION=... for --version). `make image` builds the same image without a
# Docker engine (hack/image).
# The go build line is the Makefile's GO_BUILD plus the output and package;
# manifests/manifests_test.go keeps the two the same.

FROM golang:1.26.8 AS build
WORKDIR /src
# Dependencies first, so that a source change reuses the module layer.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
COPY internal/ internal/
# The release the binary's --version prints (make docker-build passes it).
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X github.com/milvus-admission/milvus-admission/internal/version.Version=${VERSION}" -o /out/webhook ./cmd/webhook

# A static binary needs no libc or shell; the :nonroot variant runs as 65532,
# the user the Deployment requires (runAsNonRoot, runAsUser 65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/webhook /webhook
USER 65532:65532
ENTRYPOINT ["/webhook"]
