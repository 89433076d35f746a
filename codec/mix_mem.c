#include <stdlib.h>
#include <sys/mman.h>

#include "mix_mem.h"

#define LINE ((size_t)64)
#define HUGE ((size_t)2 << 20)

void *mix_table_alloc(size_t size)
{
	void *t;

	if (size < HUGE)
		return aligned_alloc(LINE, (size + LINE - 1) & ~(LINE - 1));
	size = (size + HUGE - 1) & ~(HUGE - 1); /* aligned_alloc wants a multiple */
	t = aligned_alloc(HUGE, size);
#ifdef MADV_HUGEPAGE
	if (t)
		(void)madvise(t, size, MADV_HUGEPAGE); /* a hint: without it, 4 KiB pages */
#endif
	return t;
}
