#!/usr/bin/env bash
# concurrency.sh for longer and with more processes (EX_SECONDS, EX_PROCS, FIO_SIZE override).
# Run by hand:  BOAFS_BUILD=build-rel tests/reliability/concurrency_long.sh
EX_SECONDS=${EX_SECONDS:-300} EX_PROCS=${EX_PROCS:-8} FIO_SIZE=${FIO_SIZE:-128M} \
	exec bash "$(dirname "$0")/concurrency.sh" "$@"
