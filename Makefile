# vipd: `make demo` shows a failover; `make test` runs everything, installing what it needs.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/vipd/vipd/control.Version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
export CGO_ENABLED ?= 0

.PHONY: all build test unit vet demo demo-deps deps clean fuzz

all: build

build: bin/vipd bin/vipctl

bin/vipd: FORCE
	$(GO) build $(GOFLAGS_BUILD) -o $@ ./cmd/vipd

bin/vipctl: FORCE
	$(GO) build $(GOFLAGS_BUILD) -o $@ ./cmd/vipctl

FORCE:

## deps: install the Debian packages that the tests and the demo use.
deps: integration-deps kubelet-deps

## unit: the tests that need no root.
unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	cd manifests/podcheck && $(GO) test -count=1 ./...

## test: the whole suite. Needs root; installs its own packages, builds the images
## and a kubelet (cached under ~/.cache/vipd after the first time).
test: deps build image pause-image kubelet unit test-integration

## demo: three hosts in namespaces, a failover, and `vipctl status`.
demo: demo-deps build
	bash hack/demo.sh

DEMO_PKGS := iproute2 iputils-ping
demo-deps:
	@need=; for p in $(DEMO_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || need="$$need $$p"; \
	done; \
	if [ -n "$$need" ]; then \
		echo "demo-deps: installing$$need"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	fi

## fuzz: five minutes on the wire decoder.
fuzz:
	$(GO) test ./vrrp -run '^$$' -fuzz FuzzRoundTrip -fuzztime 5m

clean:
	rm -rf bin

include Makefile.integration
include Makefile.image
