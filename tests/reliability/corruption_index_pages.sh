#!/usr/bin/env bash
# corruption.sh with every branch and leaf page of the LMDB index overwritten in turn. Known to
# fail today on some pages (LMDB follows garbage page numbers: assertion abort or SIGBUS, each
# with a one-line log): kept as the measure of that open problem, not run in CI.
TREE_PAGES=1 exec bash "$(dirname "$0")/corruption.sh" "$@"
