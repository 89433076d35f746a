#!/usr/bin/env bash
# Bad input is refused cleanly: the daemon exits non-zero (not by a signal, not hanging) with one
# line on stderr, mounts nothing, and leaves what it was pointed at as it was. Cases: archive path
# is a regular file, garbage in ARCHIVE/index, a non-empty directory that is no archive, an
# unknown -o option, bad option values, a missing mountpoint, a mountpoint already in use, no
# arguments, an unknown flag.
. "$(dirname "$0")/lib.sh"
require_boafs

t=$(it_tmpdir)
mkdir "$t/mnt"

# Every case is checked even when an earlier one fails; the test fails at the end if any did.
# A case that leaves a mount or hangs stops the test at once.
failures=0
soft_fail() {
	printf 'FAIL: %s\n' "$*" >&2
	failures=$((failures + 1))
}

# refused WHAT ARGS...: boafs ARGS (daemonizing form, so a wrongly successful start returns) must
# be refused. Its stderr is left in $t/err.
refused() {
	local what=$1 rc=0
	shift
	timeout -k 5 "$MOUNT_TIMEOUT" "$BOAFS_BIN" "$@" </dev/null >"$t/out" 2>"$t/err" || rc=$?
	note "$what: exit $rc: $(head -c 300 "$t/err")"
	[ -z "$(mounts_under "$t")" ] || fail "$what: left a mount: $(mounts_under "$t")"
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "$what: hung (killed by timeout)"
	if [ "$rc" -eq 0 ]; then
		soft_fail "$what: accepted (exit status 0)"
	elif [ "$rc" -ge 128 ]; then
		soft_fail "$what: died of signal $((rc - 128))"
	fi
	if grep -Eq 'Sanitizer|runtime error:' "$t/err"; then
		soft_fail "$what: sanitizer report"
	fi
	return 0
}
# one_line WHAT: the error is exactly one non-empty line.
one_line() {
	local lines
	lines=$(grep -c '' "$t/err" || true)
	if [ "$lines" -ne 1 ] || [ -z "$(tr -d '[:space:]' <"$t/err")" ]; then
		soft_fail "$1: expected one line on stderr, got $lines: $(cat "$t/err")"
	fi
}

printf 'not an archive\n' >"$t/regular"
refused "archive is a regular file" "$t/regular" "$t/mnt"
one_line "archive is a regular file"
assert_eq "not an archive" "$(cat "$t/regular")" "the regular file's content"

mkdir -p "$t/garbage/index" "$t/garbage/seg"
head -c 65536 /dev/urandom >"$t/garbage/index/data.mdb"
sum=$(sha256sum <"$t/garbage/index/data.mdb")
refused "garbage in ARCHIVE/index" "$t/garbage" "$t/mnt"
one_line "garbage in ARCHIVE/index"
assert_eq "$sum" "$(sha256sum <"$t/garbage/index/data.mdb")" "garbage data.mdb left as it was"

# An archive of another format version: a real archive whose meta format_version is then set to
# 99, a version no build knows (index/FORMAT.md: key "format_version", u64 little-endian; 1 and 2
# are valid) through liblmdb.
mount_boafs "$t/old" "$t/mnt"
printf 'keep me' >"$t/mnt/f"
unmount_boafs "$t/mnt" || fail "unmount"
python3 - "$t/old/index" <<'PY' || fail "could not rewrite format_version"
import ctypes, ctypes.util, sys
lib = ctypes.CDLL(ctypes.util.find_library("lmdb") or "liblmdb.so.0")
class Val(ctypes.Structure):
    _fields_ = [("mv_size", ctypes.c_size_t), ("mv_data", ctypes.c_void_p)]
def ok(rc, what):
    if rc:
        sys.exit("%s: %s" % (what, ctypes.string_at(lib.mdb_strerror(rc))))
lib.mdb_strerror.restype = ctypes.c_void_p
env, txn, dbi = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_uint()
ok(lib.mdb_env_create(ctypes.byref(env)), "env_create")
ok(lib.mdb_env_set_maxdbs(env, 16), "set_maxdbs")
ok(lib.mdb_env_set_mapsize(env, ctypes.c_size_t(1 << 30)), "set_mapsize")
ok(lib.mdb_env_open(env, sys.argv[1].encode(), 0, 0o600), "env_open")
ok(lib.mdb_txn_begin(env, None, 0, ctypes.byref(txn)), "txn_begin")
ok(lib.mdb_dbi_open(txn, b"meta", 0, ctypes.byref(dbi)), "dbi_open meta")
key, cur = b"format_version", Val()
k = Val(len(key), ctypes.cast(ctypes.c_char_p(key), ctypes.c_void_p))
ok(lib.mdb_get(txn, dbi, ctypes.byref(k), ctypes.byref(cur)), "get format_version")
assert ctypes.string_at(cur.mv_data, cur.mv_size) == (1).to_bytes(8, "little"), "not version 1"
future = ctypes.create_string_buffer((99).to_bytes(8, "little"), 8)
v = Val(8, ctypes.cast(future, ctypes.c_void_p))
ok(lib.mdb_put(txn, dbi, ctypes.byref(k), ctypes.byref(v), 0), "put format_version")
ok(lib.mdb_txn_commit(txn), "commit")
lib.mdb_env_close(env)
PY
sum=$(cd "$t/old" && find . -type f ! -name lock.mdb -exec sha256sum {} + | sort)
refused "archive of another format version" "$t/old" "$t/mnt"
one_line "archive of another format version"
assert_eq "$sum" "$(cd "$t/old" && find . -type f ! -name lock.mdb -exec sha256sum {} + | sort)" \
	"the archive of another version left as it was"

mkdir -p "$t/index-file"
printf 'garbage' >"$t/index-file/index"
mkdir "$t/index-file/seg"
refused "ARCHIVE/index is a file" "$t/index-file" "$t/mnt"
one_line "ARCHIVE/index is a file"

mkdir "$t/other"
printf 'somebody else' >"$t/other/notes.txt"
refused "a non-empty directory that is not an archive" "$t/other" "$t/mnt"
one_line "a non-empty directory that is not an archive"
assert_eq "notes.txt" "$(ls -A "$t/other")" "the other directory's entries"

refused "unknown -o option" "$t/new1" "$t/mnt" -o no_such_option=1
one_line "unknown -o option"
refused "unknown -o flag among good ones" "$t/new2" "$t/mnt" -o zstd_level=3,frobnicate
one_line "unknown -o flag among good ones"
for v in 3000 2K 2M 0 abc 128Q; do
	refused "block_size=$v" "$t/new-bs-$v" "$t/mnt" -o block_size="$v"
	one_line "block_size=$v"
done
refused "zstd_level=abc" "$t/new3" "$t/mnt" -o zstd_level=abc
one_line "zstd_level=abc"
refused "cache_size=lots" "$t/new4" "$t/mnt" -o cache_size=lots
one_line "cache_size=lots"
for o in recompress=sometimes recompress=cold:soon boa_level=0 boa_level=99 threads=65 \
	fuse_threads=0; do
	refused "$o" "$t/new-$o" "$t/mnt" -o "$o"
	one_line "$o"
done
refused "model=a missing file" "$t/new-model" "$t/mnt" -o model="$t/no-such-model.boam"
one_line "model=a missing file"
printf 'not a model' >"$t/bad.boam"
refused "model=a file that is not a model" "$t/new-model2" "$t/mnt" -o model="$t/bad.boam"
one_line "model=a file that is not a model"

refused "mountpoint missing" "$t/new5" "$t/no-such-dir"
one_line "mountpoint missing"
refused "archive parent missing" "$t/no/such/parent/archive" "$t/mnt"
one_line "archive parent missing"

# A mountpoint already in use (by another boafs); an archive already mounted elsewhere.
mount_boafs "$t/archive" "$t/mnt"
printf 'still here' >"$t/mnt/f"
before=$(mounts_under "$t")
timeout -k 5 "$MOUNT_TIMEOUT" "$BOAFS_BIN" "$t/archive2" "$t/mnt" </dev/null >"$t/out" 2>"$t/err" && rc=0 || rc=$?
note "mountpoint in use: exit $rc: $(head -c 300 "$t/err")"
[ "$rc" -ne 0 ] && [ "$rc" -lt 124 ] || fail "mountpoint in use: exit status $rc"
assert_eq "$before" "$(mounts_under "$t")" "mounts after refusing a used mountpoint"
one_line "mountpoint in use"
mkdir "$t/mnt2"
timeout -k 5 "$MOUNT_TIMEOUT" "$BOAFS_BIN" "$t/archive" "$t/mnt2" </dev/null >"$t/out" 2>"$t/err" && rc=0 || rc=$?
note "archive in use by another daemon: exit $rc: $(head -c 300 "$t/err")"
# One daemon per archive (ARCHIVE/lock): the second is refused, and says where it is mounted.
if [ "$rc" -eq 0 ]; then
	track_mount "$t/mnt2"
	fail "the archive was mounted a second time while mounted on $t/mnt"
fi
[ "$rc" -lt 124 ] || fail "archive in use: exit status $rc"
one_line "archive in use"
grep -qF "$t/mnt" "$t/err" || soft_fail "the error does not name the mountpoint: $(cat "$t/err")"
assert_eq "still here" "$(cat "$t/mnt/f")" "the existing mount after the refusals"
unmount_boafs "$t/mnt" || fail "unmount"

refused "no arguments"
refused "only an archive" "$t/archive"
refused "unknown flag" --no-such-flag "$t/archive" "$t/mnt"
refused "too many arguments" "$t/archive" "$t/mnt" "$t/extra"
[ "$failures" -eq 0 ] || fail "$failures bad-input case(s) failed (see above)"
