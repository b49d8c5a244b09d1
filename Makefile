# The two commands of the README:
#   make demo   set up, then dub the built-in demo scene offline
#   make test   set up (with test tools), then run the test suite
.PHONY: setup setup-test demo test bench clean

setup:
	bash scripts/setup.sh

setup-test:
	bash scripts/setup.sh --test

demo: setup
	.venv/bin/movietranslate demo --workdir demo-output

test: setup-test
	.venv/bin/python -m pytest -q

bench: setup-test
	for b in benchmarks/bench_*.py; do .venv/bin/python $$b || exit 1; done

clean:
	rm -rf demo-output test-artifacts .pytest_cache
