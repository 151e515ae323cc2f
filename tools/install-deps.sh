#!/bin/sh
# Install the Debian 12 packages that building, testing and the demo need.
# As root it runs apt-get; otherwise it prints the one command to run.
# Usage: sh tools/install-deps.sh [extra-package ...]
set -eu

packages="gcc make pkg-config libhdf5-dev libblis-dev libcunit1-dev \
python3 python3-numpy python3-h5py dataset-fashion-mnist $*"

missing=""
for package in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $package" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "install-deps: all required Debian packages are installed"
    exit 0
fi

echo "install-deps: missing Debian packages:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run this as root, then retry:" >&2
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi

echo "install-deps: installing with apt-get:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Word splitting of $missing is intended: one argument per package.
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
