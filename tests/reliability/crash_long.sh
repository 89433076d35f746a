#!/usr/bin/env bash
# crash.sh with 500 rounds (ITER overrides): about 20 minutes. Run by hand:
#   BOAFS_BUILD=build-rel tests/reliability/crash_long.sh
ITER=${ITER:-500} exec bash "$(dirname "$0")/crash.sh" "$@"
