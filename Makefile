# The two commands of the README's quick start are `make demo` and `make test`.

GO ?= go
BIN := bin/nas
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: build demo test vet fmt bench data

build:
	$(GO) build -o $(BIN) ./cmd/nas

# Fashion-MNIST comes from Debian's package; install it when it is missing (needs root).
data:
	@test -e $(FMNIST)/train-images-idx3-ubyte.gz || { \
		echo "installing Debian's dataset-fashion-mnist"; \
		apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }

# The main job: a real run on Fashion-MNIST that ends in a report.
demo: build data
	$(BIN) train configs/baselines/small/resnet20_mnist.yaml --data fashion-mnist --epochs 1

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test: fmt vet
	$(GO) test -count=1 -timeout 25m ./...

bench:
	$(GO) test -run X -bench . ./engine/...
