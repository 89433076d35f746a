/* mix_mem — memory for the BOA coder's large tables (hashed contexts, match table, APMs).
 *
 * Owns: how such a table is allocated: 64-byte aligned, and one of 2 MB or more on huge pages
 * where the kernel offers them on request (transparent huge pages in "madvise" mode). Those
 * tables are read at a random place once or more a bit; with 4 KiB pages nearly every such
 * access would also miss the TLB.
 * Does not own: what is in a table (left undefined; its owner clears what it uses).
 * Threads: no state. Errors: NULL when memory runs out; free the table with free(). */
#ifndef BOAFS_MIX_MEM_H
#define BOAFS_MIX_MEM_H

#include <stddef.h>

void *mix_table_alloc(size_t size);

#endif
