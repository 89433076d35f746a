#!/usr/bin/env bash
# Extended attributes in the user.* namespace: set, get, list, replace, binary and 64 KiB values,
# XATTR_CREATE/XATTR_REPLACE, remove, ENODATA for a missing name, on files and directories;
# kept across a remount, gone with the file.
. "$(dirname "$0")/lib.sh"
require_boafs
require_cmd setfattr getfattr

t=$(it_tmpdir)
mkdir "$t/mnt"
mount_boafs "$t/archive" "$t/mnt"
m=$t/mnt

printf 'data' >"$m/f"
mkdir "$m/d"
setfattr -n user.colour -v blue "$m/f"
setfattr -n user.empty "$m/f"
setfattr -n user.bin -v 0x00ff00fe0a "$m/f"
setfattr -n user.dir -v yes "$m/d"
assert_eq blue "$(getfattr --only-values -n user.colour "$m/f")" "user.colour"
assert_eq yes "$(getfattr --only-values -n user.dir "$m/d")" "user.dir on a directory"
getfattr -d -e hex "$m/f" >"$t/dump"
grep -qx 'user.bin=0x00ff00fe0a' "$t/dump" || fail "binary value: $(cat "$t/dump")"
assert_eq "user.bin user.colour user.empty" \
	"$(getfattr --absolute-names -d -m '^user\.' "$m/f" | sed -n 's/=.*//p' | sort | xargs)" \
	"listed names"
setfattr -n user.colour -v red "$m/f"
assert_eq red "$(getfattr --only-values -n user.colour "$m/f")" "replaced value"

python3 - "$m" <<'PY' || fail "xattr system calls"
import errno, os, sys
m = sys.argv[1]
f = os.path.join(m, "f")
big = bytes(range(256)) * 256  # 64 KiB
os.setxattr(f, "user.big", big)
assert os.getxattr(f, "user.big") == big, "64 KiB value"
assert os.getxattr(f, "user.empty") == b""
assert sorted(os.listxattr(f)) == ["user.big", "user.bin", "user.colour", "user.empty"], \
    os.listxattr(f)
for call, err in ((lambda: os.setxattr(f, "user.colour", b"x", os.XATTR_CREATE), errno.EEXIST),
                  (lambda: os.setxattr(f, "user.none", b"x", os.XATTR_REPLACE), errno.ENODATA),
                  (lambda: os.getxattr(f, "user.none"), errno.ENODATA),
                  (lambda: os.removexattr(f, "user.none"), errno.ENODATA)):
    try:
        call()
    except OSError as e:
        assert e.errno == err, "got %s, expected %s" % (errno.errorcode[e.errno],
                                                        errno.errorcode[err])
    else:
        raise AssertionError("no error, expected " + errno.errorcode[err])
assert os.getxattr(f, "user.colour") == b"red", "XATTR_CREATE overwrote an existing value"
os.setxattr(f, "user.new", b"1", os.XATTR_CREATE)
os.setxattr(f, "user.new", b"2", os.XATTR_REPLACE)
assert os.getxattr(f, "user.new") == b"2"
# The size query (a zero-length buffer) of getxattr and listxattr, as libattr uses it.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
n = libc.getxattr(f.encode(), b"user.big", None, ctypes.c_size_t(0))
assert n == len(big), "getxattr size query: %d" % n
n = libc.listxattr(f.encode(), None, ctypes.c_size_t(0))
want = sum(len(x) + 1 for x in os.listxattr(f))
assert n == want, "listxattr size query: %d, expected %d" % (n, want)
buf = ctypes.create_string_buffer(10)
assert libc.getxattr(f.encode(), b"user.big", buf, ctypes.c_size_t(10)) == -1
assert ctypes.get_errno() == errno.ERANGE, "small buffer: errno %d" % ctypes.get_errno()
PY

setfattr -x user.new "$m/f"
if getfattr -n user.new "$m/f" >/dev/null 2>"$t/err"; then
	fail "user.new still there after setfattr -x"
fi
grep -q 'No such attribute' "$t/err" || fail "getfattr of a removed name: $(cat "$t/err")"
expect_errno ENODATA "os.getxattr('$m/f', 'user.new')"

getfattr -d -e hex "$m/f" "$m/d" >"$t/before"
remount_boafs "$t/archive" "$m"
getfattr -d -e hex "$m/f" "$m/d" >"$t/after"
diff "$t/before" "$t/after" || fail "xattrs differ after remount"
python3 -c "import os; assert os.getxattr('$m/f', 'user.big') == bytes(range(256)) * 256" ||
	fail "64 KiB value after remount"

# A new file with the old name has none of the old file's attributes.
rm "$m/f"
printf 'new' >"$m/f"
assert_eq "" "$(getfattr --absolute-names -d -m '^user\.' "$m/f")" "xattrs of a new file"
