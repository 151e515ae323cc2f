#!/bin/sh
# Run fuzz targets one after the other, each for SECONDS seconds, then sort
# the failures they saved. Used by `make fuzz`; see tests/fuzz/README.md.
#
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS TARGET...
#   tests/fuzz/run.sh build-fuzz 60 fuzz_model_bytes fuzz_model_graph fuzz_dataset
#
# Each target runs in libFuzzer's fork mode with one worker process, so it
# keeps going after a crash, timeout or out-of-memory input and saves each
# one to BUILD_DIR/crashes/NAME-*. The inputs it finds are kept in
# BUILD_DIR/corpus/NAME/ and the seeds are read from tests/fuzz/corpus/NAME/,
# where NAME is the target without its "fuzz_" prefix. Exits 1 when a saved
# input fails in nnbatch's own code or with no stack to tell
# (tests/fuzz/triage.sh decides), 0 when all fail inside libhdf5.
set -u

if [ "$#" -lt 3 ]; then
    echo "usage: $0 BUILD_DIR SECONDS TARGET..." >&2
    exit 2
fi
build=$1
seconds=$2
shift 2
here=$(dirname "$0")
mkdir -p "$build/crashes"
found=0

for target in "$@"; do
    name=${target#fuzz_}
    mkdir -p "$build/corpus/$name"
    options="-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1"
    options="$options -max_total_time=$seconds -timeout=20 -rss_limit_mb=2048"
    if [ -f "$here/$name.dict" ]; then
        options="$options -dict=$here/$name.dict"
    fi
    suppressions=
    if [ -f "$here/$name.lsan.supp" ]; then
        suppressions="suppressions=$here/$name.lsan.supp"
    fi

    # Slow unwinding records allocation stacks through libhdf5, which is
    # built without frame pointers, so the suppressions can match them.
    # Allocations too large for AddressSanitizer return NULL, as malloc
    # does, instead of stopping the run.
    before=$(ls "$build/crashes" | grep -c "^$name-" || true)
    echo "fuzz: $target for $seconds s"
    # Word splitting of $options is intended: one argument per option.
    # shellcheck disable=SC2086
    ASAN_OPTIONS=fast_unwind_on_malloc=0:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS="$suppressions" \
        "$build/$target" $options -artifact_prefix="$build/crashes/$name-" \
        "$build/corpus/$name" "$here/corpus/$name" >"$build/$name.log" 2>&1
    after=$(ls "$build/crashes" | grep -c "^$name-" || true)
    echo "fuzz: $target: $((after - before)) new failing inputs (log: $build/$name.log)"
done

# A worker that crashed could not remove its file in /dev/shm.
rm -f /dev/shm/nnb-fuzz-*.h5

# Sort every saved input, old and new, so a fix shows up as "passes".
for target in "$@"; do
    name=${target#fuzz_}
    files=$(ls "$build/crashes" | grep "^$name-" | sed "s|^|$build/crashes/|")
    [ -n "$files" ] || continue
    # shellcheck disable=SC2086
    "$here/triage.sh" "$build/$target" $files | tee "$build/$name.triage"
    if grep -q -E '^(nnbatch|unknown)' "$build/$name.triage"; then
        found=1
    fi
done

if [ "$found" -ne 0 ]; then
    echo "fuzz: inputs failing in nnbatch, or with no stack, are listed above;" \
        "see tests/fuzz/README.md" >&2
    exit 1
fi
exit 0
