# mechlab — build, test, sanitize, bench. GNU make.
#
#   make            build/libmechlab.a and build/mechlab
#   make test       build and run the Criterion suite (installs libcriterion-dev if it can)
#   make sanitize   the suite under AddressSanitizer + UndefinedBehaviorSanitizer, fails on leaks
#   make bench      one machine-readable line per figure
#   make demo       the main job: mechlab run induction, then where its report is
#   make fuzz       libFuzzer targets for every parser (clang); make fuzz-run runs each
#                   for FUZZ_SECONDS (default 60); see tests/fuzz/README.md
#
# Options: CC=clang, NATIVE=1 (adds -march=native), WERROR=1 (adds -Werror; CI sets it),
#          BUILD=dir (output folder, default build).

CC      ?= cc
BUILD   ?= build
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wpedantic -Wshadow
STD     := -std=c11 -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64
ifeq ($(WERROR),1)
WARN    += -Werror
endif
ifeq ($(NATIVE),1)
CFLAGS  += -march=native
endif
ALL_CFLAGS = $(STD) $(WARN) $(CFLAGS) -I. -MMD -MP -pthread
LDLIBS  := -lm -pthread

LIB_SRC   := $(sort $(wildcard model/*.c datasets/*.c train/*.c interp/*.c))
CLI_SRC   := $(sort $(wildcard experiments/*.c))
TEST_SRC  := $(sort $(wildcard tests/*.c))
BENCH_SRC := $(sort $(wildcard tests/bench/*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)

LIB   := $(BUILD)/libmechlab.a
CLI   := $(BUILD)/mechlab
TESTS := $(BUILD)/test_mechlab
BENCH := $(BUILD)/bench_mechlab

# The suite's Criterion flags: plain ASCII summary, no colour, parallel jobs = cores.
TEST_FLAGS ?=

.PHONY: all test sanitize bench bench-build demo experiments clean check-criterion tests-build fuzz fuzz-build \
        fuzz-run

all: $(LIB) $(CLI)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(CLI): $(CLI_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(TESTS): $(TEST_OBJ) $(LIB) | check-criterion
	$(CC) $(ALL_CFLAGS) -o $@ $(TEST_OBJ) $(LIB) -lcriterion $(LDLIBS)

$(BENCH): $(BENCH_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(BENCH_OBJ) $(LIB) $(LDLIBS)

check-criterion:
	@sh tests/ensure-criterion.sh "$(CC)"

tests-build: $(TESTS) $(CLI)

# Every test is listed with its result ([PASS] suite::name), then Criterion's summary line.
test: $(TESTS) $(CLI)
	@LC_ALL=C MECHLAB_CLI=$(abspath $(CLI)) ./$(TESTS) --color=never --verbose $(TEST_FLAGS) \
	  > $(BUILD)/test.log 2>&1; rc=$$?; grep -v '^\[RUN ' $(BUILD)/test.log; exit $$rc

# Sanitizers: a separate build folder; UBSan findings abort the test (so Criterion reports a
# crash); LeakSanitizer reports do not fail a Criterion test, so the log is checked for them.
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
sanitize:
	$(MAKE) --no-print-directory BUILD=build-san CFLAGS="$(SAN_FLAGS)" tests-build
	@\
	LC_ALL=C MECHLAB_CLI=$(abspath build-san/mechlab) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1 ./build-san/test_mechlab --color=never $(TEST_FLAGS) \
	  > build-san/sanitize.log 2>&1; rc=$$?; cat build-san/sanitize.log; \
	if grep -qE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' build-san/sanitize.log; then \
	  echo "sanitize: sanitizer findings above"; exit 1; fi; \
	exit $$rc

bench-build: $(BENCH)

bench: $(BENCH) $(CLI)
	MECHLAB_CLI=$(abspath $(CLI)) ./$(BENCH)

# The flagship experiment: trains the induction-head model and its 1-layer control (about 30 s
# on two idle cores), then says where the report is.
demo: $(CLI)
	./$(CLI) run induction
	@echo
	@echo "demo: open runs/induction/report.html in a browser (summary: runs/induction/summary.json)"

# Every reproduction at its default size (about 6½ minutes on two idle cores; fashion needs
# Debian's dataset-fashion-mnist). A run that completes exits 0 even when a check misses, so this
# reads each summary.json and ends with one line per experiment; it fails only if a run failed.
EXPERIMENTS ?= induction superposition sae-toy curves fashion
experiments: $(CLI)
	@rm -f $(BUILD)/experiments.log.tmp; fail=0; for e in $(EXPERIMENTS); do \
	  echo "== mechlab run $$e"; \
	  if ./$(CLI) run $$e; then \
	    m=$$(sed -n 's/.*"checks_missed": *\([0-9]*\).*/\1/p' runs/$$e/summary.json); \
	    echo "experiments: $$e completed, $${m:-?} check(s) missed" >> $(BUILD)/experiments.log.tmp; \
	  else \
	    echo "experiments: $$e FAILED" >> $(BUILD)/experiments.log.tmp; fail=1; \
	  fi; \
	done; echo; cat $(BUILD)/experiments.log.tmp; rm -f $(BUILD)/experiments.log.tmp; exit $$fail

# Fuzzing: the library rebuilt with clang, ASan+UBSan and libFuzzer's coverage hooks in
# build-fuzz/, one binary per tests/fuzz/fuzz_*.c. fuzz-run keeps what it learns in
# build-fuzz/corpus/<name>, seeded from tests/fuzz/seeds/<name> (and tests/ref for the binary
# formats).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=all -fsanitize=fuzzer-no-link
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/%)

fuzz:
	$(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) CFLAGS="$(FUZZ_SAN)" fuzz-build

fuzz-build: $(FUZZ_BIN)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) $(LDLIBS)

fuzz-run: fuzz
	@for t in json safetensors npy idx; do \
	  mkdir -p build-fuzz/corpus/$$t; \
	  seeds=tests/fuzz/seeds/$$t; [ $$t = json ] || seeds="$$seeds tests/ref"; \
	  echo "fuzz-run: fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  ./build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -dict=tests/fuzz/$$t.dict \
	    build-fuzz/corpus/$$t $$seeds || exit 1; \
	done

clean:
	rm -rf build build-san build-clang build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d) $(FUZZ_BIN:=.d)
