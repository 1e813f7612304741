# The two commands of the README. Everything else lives in scripts/.
.PHONY: run test build clean

run:
	scripts/run.sh

test:
	scripts/test.sh

build:
	scripts/deps.sh
	[ -f build/build.ninja ] || meson setup build
	ninja -C build

clean:
	rm -rf build build-asan build-fuzz build-tsan
