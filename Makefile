# The two commands of the README: `make run` and `make test`.
GO ?= go

.PHONY: run test build bench fuzz

build:
	$(GO) build -o bin/fusion ./cmd/fusion

run: build
	./bin/fusion serve --demo

test:
	$(GO) test -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
