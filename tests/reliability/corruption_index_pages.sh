#!/usr/bin/env bash
# corruption.sh with every branch and leaf page of the LMDB index overwritten in turn (CI takes 8
# of them). Run by hand: bash tests/reliability/corruption_index_pages.sh
TREE_PAGES=all exec bash "$(dirname "$0")/corruption.sh" "$@"
