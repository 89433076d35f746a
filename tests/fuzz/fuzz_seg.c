/* fuzz_seg — libFuzzer target for the segment record parser (index/seg.c).
 *
 * Input: a flags byte, 40 bytes of extent fields, then the bytes of a segment file. The file is
 * written as segment 1 of a scratch seg/ directory and walked with seg_each_record; each record
 * it yields is read back through seg_record_read with an extent made from its header (the path a
 * good record takes), and the fuzzed extent is read too (any segment, offset and lengths).
 * Flag bit 0 makes the harness write valid magic, version, header length and header checksum
 * into every header it finds (so that the fuzzer gets past the checksum to the length and
 * extent checks); bit 1 clamps each record's stored_len to the bytes left. Must never crash,
 * leak or read out of bounds; errors are expected. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "seg.h"

static char seg_dir[256];
static uint8_t payload[(1 << 20) + 64];

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	(void)argc;
	(void)argv;
	snprintf(seg_dir, sizeof(seg_dir), "%s/boafs-fuzz-seg.XXXXXX", base);
	if (!mkdtemp(seg_dir)) {
		perror("fuzz_seg: mkdtemp");
		abort();
	}
	return 0;
}

struct walk {
	struct seg_store *s;
	unsigned records;
	uint64_t sum;
};

static int on_record(void *arg, uint64_t offset, const struct seg_record_info *info,
                     const void *bytes, uint32_t stored_len)
{
	struct walk *w = arg;
	const uint8_t *p = bytes;
	struct extent e = {0};

	for (uint32_t i = 0; i < stored_len; i += 61)
		w->sum += p[i]; /* touch the payload: ASan checks its bounds */
	if (w->records++ < 4) {
		e.segment = 1;
		e.offset = offset;
		e.stored_len = stored_len;
		e.record_len = SEG_HEADER_LEN + stored_len;
		e.raw_len = info->raw_len;
		e.codec = info->codec;
		e.model_id = info->model_id;
		e.raw_xxh64 = info->raw_xxh64;
		if (stored_len <= sizeof(payload))
			seg_record_read(w->s, &e, payload, sizeof(payload));
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[320];
	uint8_t *file;
	size_t len;
	struct extent e = {0};
	struct walk w = {0};
	uint8_t flags;
	int fd;

	if (size < 41)
		return 0;
	flags = data[0];
	e.segment = data[1] % 4; /* 1 exists; 0, 2, 3 do not */
	e.offset = le32(data + 2);
	e.stored_len = le32(data + 6) & 0xfffff;
	e.record_len = flags & 4 ? SEG_HEADER_LEN + e.stored_len : le32(data + 10);
	e.raw_len = le32(data + 14);
	e.codec = data[18];
	e.model_id = le32(data + 19);
	e.raw_xxh64 = le64(data + 23);
	e.written_at_ns = (int64_t)le64(data + 31);
	len = size - 41;
	file = malloc(len ? len : 1);
	if (!file)
		return 0;
	memcpy(file, data + 41, len);
	if (flags & 1) {
		for (size_t off = 0; off + SEG_HEADER_LEN <= len;) {
			uint8_t *h = file + off;
			uint32_t stored = le32(h + 16);

			if (flags & 2 && stored > len - off - SEG_HEADER_LEN) {
				stored = (uint32_t)(len - off - SEG_HEADER_LEN);
				put32(h + 16, stored);
			}
			memcpy(h, "BOAR", 4);
			h[5] = 1;
			h[6] = SEG_HEADER_LEN;
			h[7] = 0;
			put32(h + 20, 0);
			put32(h + 20, (uint32_t)XXH64(h, SEG_HEADER_LEN, 0));
			if (stored > len - off - SEG_HEADER_LEN)
				break;
			off += SEG_HEADER_LEN + (size_t)stored;
		}
	}
	snprintf(path, sizeof(path), "%s/0000000000000001.seg", seg_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, file, len) != (ssize_t)len)
		abort();
	close(fd);
	free(file);

	if (seg_open(seg_dir, 0, &w.s))
		return 0;
	seg_each_record(w.s, 1, on_record, &w);
	if (e.stored_len <= sizeof(payload))
		seg_record_read(w.s, &e, payload, sizeof(payload));
	seg_record_read(w.s, &e, payload, 16); /* a buffer too small: -EINVAL, no overflow */
	seg_close(w.s);
	return 0;
}
