// SPDX-License-Identifier: GPL-2.0
/*
 * Buffers for the original data of chunks between the read from the origin
 * and the write to the difference storage, and bounce pages for image reads
 * from the storage.
 *
 * Two rules keep copy-on-write going under memory pressure and bounded:
 *  - pages come from a mempool, so a copy always gets its pages eventually
 *    (they come back when earlier chunks reach the storage), even when the
 *    allocator fails;
 *  - the bytes of all buffers alive are capped (cow_memory_limit_mib). Above
 *    the cap, diff_buffer_charge() sleeps, holding no lock, until buffers are
 *    freed. Its callers are copy workers; freeing is done by the storage
 *    workers, which never wait for a buffer, so the wait ends as soon as
 *    the storage answers. Storage that does not answer for
 *    cow_memory_timeout_ms ends the wait with ETIMEDOUT: the snapshot
 *    breaks and the origin's writes go on.
 *
 * Pages of freed buffers are kept for the next ones, up to the cap: a page
 * from the allocator is zeroed first on kernels built with init_on_alloc
 * (Debian's), a cost per byte copied that reuse avoids. They are given
 * back when a snapshot is torn down (diff_buffer_trim()) and at unload.
 * A kept page holds old data only until a read of an original or of the
 * storage overwrites all of it; a short last chunk's tail is zeroed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-diff_buffer: " fmt

#include <linux/bio.h>
#include <linux/highmem.h>
#include <linux/mempool.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include "diff_buffer.h"
#include "params.h"

/* Enough pages for the largest chunk (1 MiB), so one copy always proceeds. */
#define DIFF_BUFFER_RESERVE_PAGES 256

static mempool_t *diff_buffer_page_pool;
/* Bytes of buffers alive, against the cap. */
static atomic_long_t diff_buffer_bytes = ATOMIC_LONG_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(diff_buffer_wait);
/* Free pages kept for reuse (&page.lru), at most the cap's worth. */
static DEFINE_SPINLOCK(diff_buffer_cache_lock);
static LIST_HEAD(diff_buffer_cache);
static unsigned long diff_buffer_cached;

/*
 * Fill @bvec with @n pages: kept ones first (under one lock for all), then
 * from the pool. Context: process, may sleep.
 */
static void diff_buffer_pages_get(struct bio_vec *bvec, u32 n)
{
	struct page *page;
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&diff_buffer_cache_lock, flags);
	for (i = 0; i < n && diff_buffer_cached; i++) {
		page = list_first_entry(&diff_buffer_cache, struct page, lru);
		list_del(&page->lru);
		diff_buffer_cached--;
		bvec_set_page(&bvec[i], page, PAGE_SIZE, 0);
	}
	spin_unlock_irqrestore(&diff_buffer_cache_lock, flags);
	for (; i < n; i++)
		bvec_set_page(&bvec[i],
			      mempool_alloc(diff_buffer_page_pool, GFP_NOIO),
			      PAGE_SIZE, 0);
}

/* Keep the @n pages of @bvec for reuse, up to the cap; give back the rest. */
static void diff_buffer_pages_put(const struct bio_vec *bvec, u32 n)
{
	unsigned long keep = (unsigned long)cow_memory_limit_mib <<
			     (20 - PAGE_SHIFT);
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&diff_buffer_cache_lock, flags);
	for (i = 0; i < n && diff_buffer_cached < keep; i++) {
		list_add(&bvec[i].bv_page->lru, &diff_buffer_cache);
		diff_buffer_cached++;
	}
	spin_unlock_irqrestore(&diff_buffer_cache_lock, flags);
	for (; i < n; i++)
		mempool_free(bvec[i].bv_page, diff_buffer_page_pool);
}

/**
 * diff_buffer_trim() - give the kept pages back.
 *
 * Context: process.
 */
void diff_buffer_trim(void)
{
	struct page *page, *next;
	unsigned long flags;
	LIST_HEAD(pages);

	spin_lock_irqsave(&diff_buffer_cache_lock, flags);
	list_splice_init(&diff_buffer_cache, &pages);
	diff_buffer_cached = 0;
	spin_unlock_irqrestore(&diff_buffer_cache_lock, flags);
	list_for_each_entry_safe(page, next, &pages, lru) {
		list_del(&page->lru);
		mempool_free(page, diff_buffer_page_pool);
	}
}

/**
 * diff_buffer_init() - create the page pool.
 *
 * Return: 0 or -ENOMEM.
 */
int diff_buffer_init(void)
{
	diff_buffer_page_pool =
		mempool_create_page_pool(DIFF_BUFFER_RESERVE_PAGES, 0);
	return diff_buffer_page_pool ? 0 : -ENOMEM;
}

/**
 * diff_buffer_exit() - free the page pool; every buffer must be gone.
 */
void diff_buffer_exit(void)
{
	WARN_ON(atomic_long_read(&diff_buffer_bytes));
	diff_buffer_trim();
	mempool_destroy(diff_buffer_page_pool);
}

static long diff_buffer_limit(void)
{
	return (long)cow_memory_limit_mib << 20;
}

/* A charge larger than the cap is let through when nothing else is alive. */
static bool diff_buffer_try_charge(long bytes)
{
	long old = atomic_long_read(&diff_buffer_bytes);

	do {
		if (old && old + bytes > diff_buffer_limit())
			return false;
	} while (!atomic_long_try_cmpxchg(&diff_buffer_bytes, &old,
					  old + bytes));
	return true;
}

/**
 * diff_buffer_charge() - take room under the cap for buffers of @nr_pages.
 * @nr_pages: pages of the buffers to allocate, all at once.
 *
 * Waits while the buffers alive exceed cow_memory_limit_mib, at most
 * cow_memory_timeout_ms: buffers are freed by storage writes, and storage
 * that stops answering must not hold the origin's writes for ever. The
 * room for all the buffers of one read is taken at once: holding some
 * while waiting for the rest could wait for ever, as they are freed only
 * once read and stored.
 *
 * Context: process (a copy worker), may sleep; no lock held.
 * Return: 0, or -ETIMEDOUT when the cap stayed full for the whole wait.
 */
int diff_buffer_charge(u32 nr_pages)
{
	long bytes = (long)nr_pages << PAGE_SHIFT;

	if (!wait_event_timeout(diff_buffer_wait, diff_buffer_try_charge(bytes),
				msecs_to_jiffies(cow_memory_timeout_ms)))
		return -ETIMEDOUT;
	return 0;
}

/**
 * diff_buffer_uncharge() - give back room taken and not used.
 * @nr_pages: pages of it.
 *
 * Context: any.
 */
void diff_buffer_uncharge(u32 nr_pages)
{
	atomic_long_sub((long)nr_pages << PAGE_SHIFT, &diff_buffer_bytes);
	wake_up_all(&diff_buffer_wait);
}

/**
 * diff_buffer_charged() - bytes of chunk buffers alive, for the counters.
 *
 * Return: the bytes.
 */
long diff_buffer_charged(void)
{
	return atomic_long_read(&diff_buffer_bytes);
}

/**
 * diff_buffer_pages_alloc() - pages for @size bytes, from the pool.
 * @size: bytes, non-zero.
 * @nr_pages: receives the number of entries.
 *
 * Context: process, may sleep; not charged against the cap (bounce pages
 * of image reads are released as soon as the read is copied).
 * Return: an array of page-sized bio_vecs, or NULL when the array itself
 * cannot be allocated.
 */
struct bio_vec *diff_buffer_pages_alloc(u32 size, u32 *nr_pages)
{
	u32 n = DIV_ROUND_UP(size, PAGE_SIZE);
	struct bio_vec *bvec;

	bvec = kmalloc_array(n, sizeof(*bvec), GFP_NOIO);
	if (!bvec)
		return NULL;
	diff_buffer_pages_get(bvec, n);
	*nr_pages = n;
	return bvec;
}

/**
 * diff_buffer_pages_free() - give pages back to the pool.
 * @bvec: the array from diff_buffer_pages_alloc().
 * @nr_pages: its entries.
 *
 * Context: any.
 */
void diff_buffer_pages_free(struct bio_vec *bvec, u32 nr_pages)
{
	diff_buffer_pages_put(bvec, nr_pages);
	kfree(bvec);
}

/**
 * diff_buffer_alloc() - a buffer for a chunk of @size bytes.
 * @size: bytes, 1 to 1 MiB.
 *
 * Its pages were charged before (diff_buffer_charge()); the buffer holds
 * that charge until its last reference goes.
 *
 * Context: process (a copy worker), may sleep; no lock held.
 * Return: the buffer with one reference, or NULL when its descriptor could
 * not be allocated (the charge is still the caller's).
 */
struct diff_buffer *diff_buffer_alloc(u32 size)
{
	u32 n = DIV_ROUND_UP(size, PAGE_SIZE), tail;
	struct diff_buffer *buf;

	buf = kmalloc(struct_size(buf, bvec, n), GFP_NOIO);
	if (!buf)
		return NULL;
	kref_init(&buf->kref);
	buf->size = size;
	buf->nr_pages = n;
	diff_buffer_pages_get(buf->bvec, n);
	/* The tail of a short last chunk reaches the storage: no stale data. */
	tail = size & (PAGE_SIZE - 1);
	if (tail)
		memzero_page(buf->bvec[n - 1].bv_page, tail, PAGE_SIZE - tail);
	return buf;
}

static void diff_buffer_release(struct kref *kref)
{
	struct diff_buffer *buf = container_of(kref, struct diff_buffer, kref);
	u32 nr_pages = buf->nr_pages;

	diff_buffer_pages_put(buf->bvec, nr_pages);
	kfree(buf);
	diff_buffer_uncharge(nr_pages);
}

/**
 * diff_buffer_put() - drop a reference; the last one frees the buffer.
 * @buf: the buffer.
 *
 * Context: any (bio completion included).
 */
void diff_buffer_put(struct diff_buffer *buf)
{
	kref_put(&buf->kref, diff_buffer_release);
}

/**
 * diff_buffer_copy_to_bio() - fill a read bio from pages.
 * @bvec: the source pages.
 * @nr_pages: entries in @bvec.
 * @offset: byte in the source where the bio's data starts.
 * @bio: the bio; all of its remaining data is filled.
 */
void diff_buffer_copy_to_bio(const struct bio_vec *bvec, u32 nr_pages,
			     u32 offset, struct bio *bio)
{
	struct iov_iter from;
	struct bvec_iter it;
	struct bio_vec bv;

	iov_iter_bvec(&from, ITER_SOURCE, bvec, nr_pages,
		      (size_t)nr_pages << PAGE_SHIFT);
	iov_iter_advance(&from, offset);
	bio_for_each_segment(bv, bio, it)
		copy_page_from_iter(bv.bv_page, bv.bv_offset, bv.bv_len, &from);
}
