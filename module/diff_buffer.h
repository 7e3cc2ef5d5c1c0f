/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_DIFF_BUFFER_H
#define __BLKSNAP_DIFF_BUFFER_H

#include <linux/types.h>
#include <linux/kref.h>
#include <linux/bvec.h>

struct bio;

/**
 * struct diff_buffer - memory holding the original data of one chunk.
 * @kref: one reference for the chunk, one per image reader copying from it.
 * @size: bytes of data the buffer holds (the chunk's size).
 * @nr_pages: entries in @bvec; their lengths add up to @size rounded up to
 *	a whole page, so the buffer can be written with direct I/O.
 * @bvec: the pages, each used from offset 0.
 *
 * Buffers are charged against cow_memory_limit_mib (diff_buffer_charge())
 * before they are allocated until
 * the last reference goes.
 */
struct diff_buffer {
	struct kref kref;
	u32 size;
	u32 nr_pages;
	struct bio_vec bvec[];
};

int diff_buffer_init(void);
void diff_buffer_exit(void);
void diff_buffer_trim(void);
int diff_buffer_charge(u32 nr_pages);
void diff_buffer_uncharge(u32 nr_pages);
struct diff_buffer *diff_buffer_alloc(u32 size);
void diff_buffer_put(struct diff_buffer *buf);
long diff_buffer_charged(void);
struct bio_vec *diff_buffer_pages_alloc(u32 size, u32 *nr_pages);
void diff_buffer_pages_free(struct bio_vec *bvec, u32 nr_pages);
void diff_buffer_copy_to_bio(const struct bio_vec *bvec, u32 nr_pages,
			     u32 offset, struct bio *bio);

static inline void diff_buffer_get(struct diff_buffer *buf)
{
	kref_get(&buf->kref);
}

#endif /* __BLKSNAP_DIFF_BUFFER_H */
