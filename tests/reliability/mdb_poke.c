/* mdb_poke — reads and writes single entries of an archive's LMDB index through the raw LMDB
 * API, for tests that need an index boafs would never write (another format version, a damaged
 * extent) or need to look an entry up (index/FORMAT.md has the layouts).
 *
 *   mdb_poke get  INDEXDIR DB KEYHEX           prints the value in hex (exit 1: no such key)
 *   mdb_poke put  INDEXDIR DB KEYHEX VALUEHEX
 *   mdb_poke del  INDEXDIR DB KEYHEX
 *   mdb_poke list INDEXDIR DB                  prints "KEYHEX VALUEHEX" per entry
 *
 * Keys and values are hex strings (an empty value is "-"; "@FILE" reads the hex from FILE, for
 * values too long for a command line, such as a stored model). Exit status 2 on any LMDB error. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unhex(const char *s, unsigned char *out, size_t cap, size_t *len)
{
	size_t n;

	if (s[0] == '@') { /* the hex is in a file */
		static char text[(1 << 21) + 2];
		FILE *f = fopen(s + 1, "r");
		size_t got;

		if (!f)
			return -1;
		got = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		while (got && (text[got - 1] == '\n' || text[got - 1] == '\r'))
			got--;
		text[got] = '\0';
		s = text;
	}
	n = strlen(s);

	if (!strcmp(s, "-")) {
		*len = 0;
		return 0;
	}
	if (n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	*len = n / 2;
	return 0;
}

static void print_hex(const MDB_val *v)
{
	const unsigned char *p = v->mv_data;

	if (!v->mv_size)
		fputc('-', stdout);
	for (size_t i = 0; i < v->mv_size; i++)
		printf("%02x", p[i]);
}

static int check(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "mdb_poke: %s: %s\n", what, mdb_strerror(rc));
		exit(2);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char key[512], value[1 << 20];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {0, key}, v = {0, value};
	const char *cmd = argc > 1 ? argv[1] : "";
	int write = !strcmp(cmd, "put") || !strcmp(cmd, "del");
	int want = !strcmp(cmd, "put") ? 6 : !strcmp(cmd, "list") ? 4 : 5;
	int rc = 0;

	if ((strcmp(cmd, "get") && strcmp(cmd, "list") && !write) || argc != want) {
		fprintf(stderr,
		        "usage: mdb_poke get|put|del|list INDEXDIR DB [KEYHEX [VALUEHEX]]\n");
		return 2;
	}
	if (argc > 4 && unhex(argv[4], key, sizeof(key), &k.mv_size)) {
		fprintf(stderr, "mdb_poke: bad key hex\n");
		return 2;
	}
	if (argc > 5 && unhex(argv[5], value, sizeof(value), &v.mv_size)) {
		fprintf(stderr, "mdb_poke: bad value hex\n");
		return 2;
	}
	check(mdb_env_create(&env), "env_create");
	check(mdb_env_set_maxdbs(env, 16), "set_maxdbs");
	check(mdb_env_set_mapsize(env, (size_t)1 << 30), "set_mapsize");
	check(mdb_env_open(env, argv[2], write ? 0 : MDB_RDONLY, 0600), argv[2]);
	check(mdb_txn_begin(env, NULL, write ? 0 : MDB_RDONLY, &txn), "txn_begin");
	check(mdb_dbi_open(txn, argv[3], 0, &dbi), argv[3]);
	if (!strcmp(cmd, "get")) {
		MDB_val got;

		rc = mdb_get(txn, dbi, &k, &got);
		if (rc == MDB_NOTFOUND) {
			rc = 1;
		} else {
			check(rc, "get");
			print_hex(&got);
			putchar('\n');
		}
	} else if (!strcmp(cmd, "list")) {
		MDB_cursor *c;
		MDB_val ck, cv;
		int r;

		check(mdb_cursor_open(txn, dbi, &c), "cursor_open");
		for (r = mdb_cursor_get(c, &ck, &cv, MDB_FIRST); r == 0;
		     r = mdb_cursor_get(c, &ck, &cv, MDB_NEXT)) {
			print_hex(&ck);
			putchar(' ');
			print_hex(&cv);
			putchar('\n');
		}
		if (r != MDB_NOTFOUND)
			check(r, "cursor_get");
		mdb_cursor_close(c);
	} else if (!strcmp(cmd, "put")) {
		check(mdb_put(txn, dbi, &k, &v, 0), "put");
	} else {
		rc = mdb_del(txn, dbi, &k, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 1;
		else
			check(rc, "del");
	}
	if (write && rc == 0)
		check(mdb_txn_commit(txn), "commit");
	else
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}
