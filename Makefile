# tabula's two set-up commands on a fresh Debian 12 machine with Go:
#   make hello   build tabula, build the seeds' hello image and run it
#   make test    install what the tests need (as root) and run every test

GO        ?= go
BIN       := bin/tabula
GOFLAGS_  := -trimpath -ldflags "-s -w -X main.version=$(shell git describe --always --dirty 2>/dev/null || echo dev)"

.PHONY: tabula hello test deps bench clean

# The binary is linked beside bin/tabula and copied into place: the file the
# linker writes sits in the page cache in single pages, and starts 0.6 ms
# slower than the same bytes installed (see bench/gobuild).
tabula:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_) -o $(BIN).linked ./cmd/tabula
	install -m 0755 $(BIN).linked $(BIN)
	rm -f $(BIN).linked

hello: tabula
	cd examples/hello && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o app .
	$(BIN) build -t hello examples/hello
	$(BIN) images hello
	$(BIN) image files hello
	$(BIN) run --rm hello

deps:
	hack/install-test-deps

test: deps
	CGO_ENABLED=0 $(GO) vet ./...
	$(GO) test -timeout 40m ./...

bench: tabula
	bench/run-all

clean:
	rm -rf bin examples/hello/app
