# nnbatch build. Override any variable on the command line, for example
#   make CC=clang CFLAGS='-O1 -g'
# Never add -ffast-math or -Ofast: NaN and infinity handling must hold.

CC       ?= gcc
CFLAGS   ?= -O2 -g
PREFIX   ?= /usr/local
PYTHON   ?= /usr/bin/python3
BUILD    ?= build

# Debian 12 paths of the OpenMP build of BLIS (package libblis-openmp-dev,
# pulled in by libblis-dev). The rpath pins that build at run time, because
# the libblis.so.4 alternative may point at the pthreads or serial build.
BLIS_CFLAGS ?= -isystem /usr/include/x86_64-linux-gnu/blis-openmp
BLIS_LIBS   ?= -L/usr/lib/x86_64-linux-gnu/blis-openmp \
               -Wl,-rpath,/usr/lib/x86_64-linux-gnu/blis-openmp -lblis
HDF5_CFLAGS ?= $(shell pkg-config --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial)
HDF5_LIBS   ?= $(shell pkg-config --libs hdf5 2>/dev/null || echo -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5)
CUNIT_LIBS  ?= -lcunit

WARNINGS  = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -fopenmp -fPIC $(WARNINGS) \
             -Iinclude -I. $(BLIS_CFLAGS) $(HDF5_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(HDF5_LIBS) $(BLIS_LIBS) -fopenmp -lm -lpthread

LIB_SRC  = $(wildcard engine/*.c graph/*.c io/*.c)
CLI_SRC  = $(wildcard cli/*.c)
TEST_SRC = $(wildcard tests/*.c)

LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)

LIB  = $(BUILD)/libnnbatch.a
CLI  = $(BUILD)/nnbatch
TEST = $(BUILD)/nnb_tests

DATA_DIR  ?= data
FASHION   = $(DATA_DIR)/fashion-mnist.h5
MODEL     = models/fashion_mlp.h5

.PHONY: all deps check test check-asan check-valgrind demo clean

all: $(LIB) $(CLI)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(CLI): $(CLI_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS_ALL)

$(TEST): $(TEST_OBJ) $(LIB) $(CLI)
	$(CC) $(ALL_CFLAGS) -o $@ $(TEST_OBJ) $(LIB) $(CUNIT_LIBS) $(LDLIBS_ALL)

# Install the Debian packages the build, tests and demo need (apt-get when
# run as root, else print the command to run).
deps:
	@sh tools/install-deps.sh

# The test command of the README: install what is missing, build, run the
# CUnit suites, then run them again under the sanitizers.
check: deps
	@$(MAKE) --no-print-directory test
	@$(MAKE) --no-print-directory BUILD=$(BUILD)-asan CFLAGS='$(ASAN_FLAGS)' test

test: $(TEST)
	NNB_CLI=$(CLI) NNB_PYTHON=$(PYTHON) $(TEST)
	NNB_CLI=$(CLI) $(PYTHON) tests/test_onnx2nnbatch.py || [ $$? -eq 77 ]

# The whole test suite under AddressSanitizer and UndefinedBehaviorSanitizer,
# built in its own directory so it never mixes with the normal build.
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
check-asan: deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD)-asan CFLAGS='$(ASAN_FLAGS)' test

# The in-process suites and the CLI end-to-end suite under valgrind memcheck
# (every CLI child too, through tools/valgrind-cli.sh): invalid accesses and
# definite leaks fail the run. Takes about 5 minutes.
VALGRIND = valgrind -q --error-exitcode=1 --leak-check=full \
           --errors-for-leak-kinds=definite --show-leak-kinds=definite
check-valgrind: deps
	@sh tools/install-deps.sh valgrind
	@$(MAKE) --no-print-directory $(TEST)
	$(VALGRIND) $(TEST) ops graph model_file io
	NNB_CLI=tools/valgrind-cli.sh NNB_CLI_BINARY=$(CLI) $(VALGRIND) $(TEST) cli

# The main job: Fashion-MNIST test set through the committed model.
demo: deps
	@$(MAKE) --no-print-directory $(CLI) $(FASHION)
	./$(CLI) info $(MODEL)
	./$(CLI) score $(MODEL) $(FASHION) --input /test/images --labels /test/labels \
	    --output $(DATA_DIR)/fashion-predictions.h5
	$(PYTHON) tools/check_predictions.py $(MODEL) $(FASHION) $(DATA_DIR)/fashion-predictions.h5

$(FASHION): tools/fashion_mnist_to_h5.py
	@mkdir -p $(DATA_DIR)
	$(PYTHON) tools/fashion_mnist_to_h5.py --output $@

# Benchmarks: nnbatch against the GEMM and read ceilings and PyTorch; see
# bench/README.md. `make bench` is the full run (about an hour and 18 GB of
# generated data in bench/data), `make bench-quick` a few minutes.
BENCH_SRC = $(wildcard bench/*.c)
BENCH_OBJ = $(BENCH_SRC:%.c=$(BUILD)/%.o)
BENCH     = $(BUILD)/nnb_bench
.PHONY: bench bench-quick bench-deps

$(BENCH): $(BENCH_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(BENCH_OBJ) $(LIB) $(LDLIBS_ALL)

bench-deps:
	@sh tools/install-deps.sh gnuplot-nox python3-torch

bench: bench-deps
	@$(MAKE) --no-print-directory $(BENCH) $(FASHION)
	$(PYTHON) bench/bench.py --binary $(BENCH) $(BENCH_ARGS)

bench-quick: bench-deps
	@$(MAKE) --no-print-directory $(BENCH) $(FASHION)
	$(PYTHON) bench/bench.py --quick --binary $(BENCH) $(BENCH_ARGS)

# Fuzzing with libFuzzer (clang), in its own build directory; see
# tests/fuzz/README.md. FUZZ_SECONDS is the run time of each target.
FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
              -fno-sanitize-recover=undefined
FUZZERS = fuzz_model_bytes fuzz_model_graph fuzz_dataset
FUZZ_COMMON = tests/fuzz/fuzz_common.c tests/fuzz/fuzz_model.c
.PHONY: fuzz fuzz-build fuzz-binaries

fuzz-build:
	@sh tools/install-deps.sh clang libclang-rt-14-dev libomp-14-dev
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS='$(FUZZ_CFLAGS)' \
	    fuzz-binaries

fuzz-binaries: $(FUZZERS:%=$(BUILD)/%)

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_COMMON:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS_ALL)

fuzz: fuzz-build
	sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZERS)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(FUZZ_BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
-include $(FUZZ_COMMON:%.c=$(BUILD)/%.d) $(FUZZERS:%=$(BUILD)/tests/fuzz/%.d)
-include $(BENCH_OBJ:.o=.d)
