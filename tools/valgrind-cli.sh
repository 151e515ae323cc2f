#!/bin/sh
# Run build/nnbatch (or $NNB_CLI_BINARY) under valgrind memcheck, so the CLI
# test suite checks every child run for invalid accesses and leaks. Exit
# status 99 marks a valgrind error, which the tests see as a wrong status.
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite "${NNB_CLI_BINARY:-build/nnbatch}" "$@"
