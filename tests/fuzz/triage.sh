#!/bin/sh
# Sort fuzz crash inputs by where they fail: in nnbatch or inside libhdf5.
#
# Usage: tests/fuzz/triage.sh TARGET FILE...
#   tests/fuzz/triage.sh build-fuzz/fuzz_model_bytes build-fuzz/crashes/model_bytes-*
#
# Runs TARGET on each FILE alone and prints one line per file:
#   nnbatch  FILE  the first frame outside the sanitizer runtime, or the
#                  failed check of the target
#   libhdf5  FILE  the top frame, a function of libhdf5
#   unknown  FILE  the report has no stack (a timeout can print none)
#   passes   FILE  the input no longer fails
# Each run stops after 20 seconds (a timeout counts as a failure).
# A report counts as libhdf5's when its first frame outside the sanitizer
# runtime, libFuzzer, the C library and the allocation functions lies in
# libhdf5. Such
# inputs go to tests/fuzz/hdf5-crashes/ (see tests/fuzz/README.md). Runs
# with the same sanitizer options as `make fuzz`.
set -u

if [ "$#" -lt 2 ]; then
    echo "usage: $0 TARGET FILE..." >&2
    exit 2
fi
target=$1
shift
here=$(dirname "$0")
name=$(basename "$target")
name=${name#fuzz_}
suppressions=
if [ -f "$here/$name.lsan.supp" ]; then
    suppressions="suppressions=$here/$name.lsan.supp"
fi
report=$(mktemp)
trap 'rm -f "$report"' EXIT

for file in "$@"; do
    ASAN_OPTIONS=fast_unwind_on_malloc=0:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS="$suppressions" \
        "$target" -timeout=20 -rss_limit_mb=2048 "$file" >"$report" 2>&1
    status=$?
    if [ "$status" -eq 0 ]; then
        printf 'passes   %s\n' "$file"
        continue
    fi
    # The target's own checks and the HDF5 identifier check print a line
    # and abort; a sanitizer prints "ERROR:" and a stack.
    check=$(grep -m 1 -E 'check failed:|identifiers are open' "$report")
    if [ -n "$check" ]; then
        printf 'nnbatch  %s  %s\n' "$file" "$check"
        continue
    fi
    # Skip the frames of the sanitizers, libFuzzer and the C library (the
    # signal handler of a timeout), and the allocation functions.
    frame=$(awk '
        /ERROR: |runtime error:/ { in_report = 1 }
        in_report && /^    #[0-9]+ / {
            if ($0 ~ /__interceptor_|__asan|__lsan|__ubsan|__sanitizer|fuzzer::|libc\.so|sysdeps\//)
                next
            if ($0 ~ / in (malloc|calloc|realloc|free|memcpy|memmove|memset|strlen|strdup|aligned_alloc|posix_memalign) /)
                next
            print
            exit
        }' "$report")
    case "$frame" in
        "") where=unknown ;;
        *libhdf5*) where=libhdf5 ;;
        *) where=nnbatch ;;
    esac
    summary=$(grep -m 1 -E 'SUMMARY:|ERROR:' "$report")
    printf '%s  %s  %s |%s\n' "$where" "$file" "$summary" "$frame"
done
