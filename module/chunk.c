// SPDX-License-Identifier: GPL-2.0
/*
 * Chunks: the copy of one chunk's original data, from the device to memory
 * to the difference storage, and image reads of copied chunks.
 *
 * The life of a chunk, written for the first time after take:
 *
 *   chunk_copy()       COPYING: buffer taken (may wait for the memory cap),
 *                      read of the original sent to the device (one bio
 *                      for a run of consecutive chunks a write needs)
 *   read completes     queued for the pass (nothing done in completion context)
 *   pass               CAPTURED under the diff_area's readers lock; waits
 *                      for image reads sent to the device before that; PASS:
 *                      the parked writes go on; queued for the store
 *   store work         original written to the storage, buffer freed
 *
 * A write to the chunk is released only at PASS, so the device's copy is
 * never changed before the original was read, nor while an image read of
 * the chunk is still reading the device. Any failure marks the chunk
 * failed and the snapshot broken, and still reaches PASS: parked writes are
 * never stranded.
 *
 * The store workers of a device (DIFF_AREA_STORES) write the originals
 * waiting for them, taken in the order they passed, as bios of up to
 * BIO_MAX_VECS pages at consecutive places of the storage: a 1 MiB write's
 * sixteen 64 KiB chunks, or the chunks that random writes had copied
 * meanwhile, cost one storage write, not one each (nor one kworker each,
 * blocked in its write). A backlog keeps them all writing at once; when
 * the storage is slower than the device, the memory cap makes the copies
 * wait for it. Writes to the device do not wait for the store, only for
 * the read.
 *
 * Locking: &chunk.lock (irq-safe) protects the data fields; the order is
 * &diff_area.readers_lock, then &chunk.lock. &diff_area.store_lock
 * (irq-safe) protects the store's list only.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-chunk: " fmt

#include <linux/bio.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include "chunk.h"
#include "diff_area.h"
#include "diff_buffer.h"
#include "diff_storage.h"
#include "snapshot.h"

struct bio_set chunk_io_bioset;
struct workqueue_struct *chunk_cow_wq;
struct workqueue_struct *chunk_store_wq;

/* Bios a copy or an image read always gets, even when the allocator fails. */
#define CHUNK_BIO_RESERVE 64


/**
 * chunk_init() - the bio set and the workqueues of copy-on-write.
 *
 * The workqueues have rescuers (WQ_MEM_RECLAIM): writes to the devices,
 * swap included, depend on them.
 *
 * Return: 0 or -ENOMEM.
 */
int chunk_init(void)
{
	int ret;

	/* Image reads allocate inside submit_bio(): punt to a rescuer if need be. */
	ret = bioset_init(&chunk_io_bioset, CHUNK_BIO_RESERVE, 0,
			  BIOSET_NEED_BVECS | BIOSET_NEED_RESCUER);
	if (ret)
		return ret;
	chunk_cow_wq = alloc_workqueue("blksnap-cow",
				       WQ_MEM_RECLAIM | WQ_UNBOUND, 0);
	if (!chunk_cow_wq)
		goto out_bioset;
	chunk_store_wq = alloc_workqueue("blksnap-store",
					 WQ_MEM_RECLAIM | WQ_UNBOUND, 0);
	if (!chunk_store_wq)
		goto out_cow_wq;
	return 0;

out_cow_wq:
	destroy_workqueue(chunk_cow_wq);
out_bioset:
	bioset_exit(&chunk_io_bioset);
	return -ENOMEM;
}

/**
 * chunk_exit() - free what chunk_init() made; no chunk may be left.
 */
void chunk_exit(void)
{
	destroy_workqueue(chunk_store_wq);
	destroy_workqueue(chunk_cow_wq);
	bioset_exit(&chunk_io_bioset);
}

/**
 * chunk_alloc() - a new chunk, COPYING, not yet copied.
 * @da: the device.
 * @number: the chunk's index.
 *
 * Context: a worker in a memalloc_noio scope.
 * Return: the chunk or NULL.
 */
struct chunk *chunk_alloc(struct diff_area *da, unsigned long number)
{
	sector_t first = diff_area_chunk_sector(da, number);
	struct chunk *c;

	c = kzalloc(sizeof(*c), GFP_NOIO);
	if (!c)
		return NULL;
	c->da = da;
	c->number = number;
	c->size = min_t(sector_t, 1U << da->chunk_shift,
			da->capacity - first) << SECTOR_SHIFT;
	c->cow = CHUNK_COPYING;
	spin_lock_init(&c->lock);
	INIT_LIST_HEAD(&c->waiters);
	INIT_LIST_HEAD(&c->link);
	return c;
}

/**
 * chunk_free() - free a chunk of a diff_area with nothing in flight.
 * @c: the chunk.
 */
void chunk_free(struct chunk *c)
{
	WARN_ON(!list_empty(&c->waiters));
	if (c->buf)
		diff_buffer_put(c->buf);
	kfree(c);
}

/*
 * Queue chunks whose read is over (@done, emptied) for their device's pass
 * worker: letting writes pass may sleep (image readers), and resubmits
 * them. The reference keeps the diff_area until queue_work() returns: the
 * worker may be done with the chunks, and the diff_area destroyed, before.
 * Context: any.
 */
static void chunk_reads_done(struct diff_area *da, struct list_head *done)
{
	unsigned long flags;

	diff_area_io_get(da);
	spin_lock_irqsave(&da->store_lock, flags);
	list_splice_tail_init(done, &da->reads_done);
	spin_unlock_irqrestore(&da->store_lock, flags);
	queue_work(chunk_cow_wq, &da->pass_work);
	diff_area_io_put(da);
}

static void chunk_read_endio(struct bio *bio)
{
	struct chunk *c = bio->bi_private;
	struct diff_area *da = c->da;
	LIST_HEAD(done);

	/* The chunks read: a ring through &chunk.link, @c first. Head it. */
	list_add_tail(&done, &c->link);
	list_for_each_entry(c, &done, link)
		c->read_status = bio->bi_status;
	bio_put(bio);
	chunk_reads_done(da, &done);
}

/* Drops the chunk's buffer, if any; the original is lost. */
static void chunk_lose(struct chunk *c)
{
	struct diff_buffer *buf;
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	c->failed = true;
	buf = c->buf;
	c->buf = NULL;
	spin_unlock_irqrestore(&c->lock, flags);
	if (buf)
		diff_buffer_put(buf);
}

/*
 * A buffer for each chunk of @run (@nr_pages in all), charged at once.
 * Return: false if the snapshot no longer copies or broke.
 */
static bool chunk_buffers_alloc(struct diff_area *da, struct list_head *run,
				u32 nr_pages)
{
	struct diff_buffer *buf;
	struct chunk *c;
	int ret;

	if (!diff_area_cows(da))
		return false;
	ret = diff_buffer_charge(nr_pages);
	if (ret) {
		diff_area_broken(da, -ret);
		return false;
	}
	list_for_each_entry(c, run, link) {
		buf = diff_buffer_alloc(c->size);
		if (!buf) {
			diff_buffer_uncharge(nr_pages);
			diff_area_broken(da, ENOMEM);
			return false;
		}
		nr_pages -= buf->nr_pages;
		/* Image reads look at @buf only from CHUNK_CAPTURED on. */
		c->buf = buf;
	}
	return true;
}

/**
 * chunk_copy() - start copying the originals of new chunks.
 * @run: chunks from chunk_alloc(), just inserted into their diff_area, in
 *	order, with consecutive numbers and BIO_MAX_VECS pages at most in
 *	all, linked through &chunk.link; emptied.
 *
 * Their originals are read with one bio: a 1 MiB write's chunks cost one
 * allocation, submission and completion, not one each. Waits while chunk
 * buffers exceed the memory cap, at most cow_memory_timeout_ms (then the
 * snapshot breaks with ETIMEDOUT). The chunks reach CHUNK_PASS later in any
 * case (if the snapshot no longer copies, or buffers cannot be had, at
 * once and without their originals).
 *
 * Context: the diff_area's park worker, in a memalloc_noio scope.
 */
void chunk_copy(struct list_head *run)
{
	struct chunk *first = list_first_entry_or_null(run, struct chunk, link);
	struct diff_area *da;
	struct chunk *c;
	struct bio *bio;
	u32 nr_pages = 0, i, left;

	if (!first)
		return;
	da = first->da;
	list_for_each_entry(c, run, link) {
		/* Held until the original is stored or lost. */
		diff_area_io_get(da);
		nr_pages += DIV_ROUND_UP(c->size, PAGE_SIZE);
	}
	if (!chunk_buffers_alloc(da, run, nr_pages)) {
		list_for_each_entry(c, run, link) {
			c->read_status = BLK_STS_IOERR;
			chunk_lose(c);
		}
		chunk_reads_done(da, run);
		return;
	}
	bio = bio_alloc_bioset(da->origin.bdev, nr_pages, REQ_OP_READ,
			       GFP_NOIO, &chunk_io_bioset);
	bio->bi_iter.bi_sector = diff_area_chunk_sector(da, first->number);
	list_for_each_entry(c, run, link) {
		for (i = 0, left = c->size; i < c->buf->nr_pages;
		     i++, left -= PAGE_SIZE)
			__bio_add_page(bio, c->buf->bvec[i].bv_page,
				       min_t(u32, left, PAGE_SIZE), 0);
	}
	bio->bi_private = first;
	bio->bi_end_io = chunk_read_endio;
	/* The completion finds the chunks as a ring, the head taken out. */
	list_del_init(run);
	submit_bio(bio);
}

/*
 * Let the writes waiting for @c go on. Return: whether its original is in
 * memory, to be stored; else the chunk is done with.
 */
static bool chunk_pass(struct chunk *c)
{
	struct diff_area *da = c->da;
	unsigned long flags;
	LIST_HEAD(waiters);
	bool lost;

	/* Before CAPTURED: no image read may copy a failed read's buffer. */
	if (c->read_status) {
		if (!c->failed)
			diff_area_broken(da, EIO);
		chunk_lose(c);
	} else {
		atomic64_inc(&da->chunks_copied);
	}
	spin_lock_irqsave(&da->readers_lock, flags);
	WRITE_ONCE(c->cow, CHUNK_CAPTURED);
	spin_unlock_irqrestore(&da->readers_lock, flags);

	/*
	 * An image read that went to the device before CAPTURED must see the
	 * original there: the first write may go only after it completed.
	 */
	wait_event(da->readers_wq, !diff_area_has_readers(da, c->number));

	spin_lock_irqsave(&c->lock, flags);
	WRITE_ONCE(c->cow, CHUNK_PASS);
	list_splice_init(&c->waiters, &waiters);
	lost = c->failed;
	spin_unlock_irqrestore(&c->lock, flags);

	diff_area_run_waiters(&waiters);
	/* After the waiters: its allocation may wait for reclaim. */
	diff_area_chunk_passed(da, c->number);
	if (lost) {
		/* Image writes waiting for it fail (image_write.c). */
		wake_up_all(&da->stored_wq);
		diff_area_io_put(da);
	}
	return !lost;
}

/**
 * chunk_pass_work() - let the writes to the chunks read meanwhile go on.
 * @work: &diff_area.pass_work.
 *
 * The writes are resubmitted under one plug, so a device gets them in as
 * few requests (and notifications) as it can; the chunks whose originals
 * are in memory go to the store worker, in the order they passed.
 *
 * Context: chunk_cow_wq; may sleep (waits for image reads).
 */
void chunk_pass_work(struct work_struct *work)
{
	struct diff_area *da = container_of(work, struct diff_area, pass_work);
	struct chunk *c, *next;
	struct blk_plug plug;
	LIST_HEAD(done);
	LIST_HEAD(stored);

	for (;;) {
		spin_lock_irq(&da->store_lock);
		list_splice_tail_init(&da->reads_done, &done);
		spin_unlock_irq(&da->store_lock);
		if (list_empty(&done))
			break;
		blk_start_plug(&plug);
		list_for_each_entry_safe(c, next, &done, link) {
			list_del_init(&c->link);
			if (chunk_pass(c))
				list_add_tail(&c->link, &stored);
		}
		blk_finish_plug(&plug);
		if (list_empty(&stored))
			continue;
		/* As in chunk_reads_done(): the store may be done first. */
		diff_area_io_get(da);
		spin_lock_irq(&da->store_lock);
		list_splice_tail_init(&stored, &da->stores);
		spin_unlock_irq(&da->store_lock);
		queue_work(chunk_store_wq, &da->store[0].work);
		diff_area_io_put(da);
	}
}

/* The chunks of one storage write: done with (stored or lost). */
static void chunk_store_done(struct diff_area *da, struct list_head *batch,
			     u64 pos, int error)
{
	struct diff_buffer *buf;
	struct chunk *c, *next;
	unsigned long flags;

	/* @da outlives this: diff_area_destroy() flushes the store workers. */
	list_for_each_entry_safe(c, next, batch, link) {
		list_del_init(&c->link);
		if (error) {
			chunk_lose(c);
		} else {
			spin_lock_irqsave(&c->lock, flags);
			buf = c->buf;
			c->offset = pos;
			c->stored = true;
			c->buf = NULL;
			spin_unlock_irqrestore(&c->lock, flags);
			pos += (u64)buf->nr_pages << PAGE_SHIFT;
			diff_buffer_put(buf);
			atomic64_inc(&da->chunks_stored);
		}
		diff_area_io_put(da);
	}
	/* Image writes wait for their chunks to be stored (image_write.c). */
	wake_up_all(&da->stored_wq);
}

/*
 * Write the originals of @batch (@nr_pages pages in all) to consecutive
 * places of the storage. When they do not all fit, or their space would
 * raise an event, each is stored on its own: the storage fills up to the
 * last chunk that fits, and the events name the chunk that caused them,
 * as one chunk at a time would.
 */
static void chunk_store_batch(struct diff_area *da, struct bio_vec *bvec,
			      struct list_head *batch, u32 nr_pages)
{
	struct diff_storage *ds = snapshot_storage(da->snapshot);
	struct chunk *c, *next;
	u64 pos;
	u32 n = 0;
	int ret;

	if (!diff_area_cows(da)) {
		chunk_store_done(da, batch, 0, ECANCELED);
		return;
	}
	if (list_is_singular(batch))
		ret = diff_storage_alloc(ds, nr_pages << PAGE_SHIFT, &pos);
	else
		ret = diff_storage_alloc_batch(ds, nr_pages << PAGE_SHIFT,
					       &pos);
	if (ret == -EAGAIN) {
		list_for_each_entry_safe(c, next, batch, link) {
			LIST_HEAD(one);

			list_move(&c->link, &one);
			chunk_store_batch(da, bvec, &one, c->buf->nr_pages);
		}
		return;
	}
	if (ret) {
		diff_area_broken(da, -ret);
		chunk_store_done(da, batch, 0, -ret);
		return;
	}
	/* Only this worker changes @buf of a chunk of its batch. */
	list_for_each_entry(c, batch, link) {
		memcpy(&bvec[n], c->buf->bvec, c->buf->nr_pages * sizeof(*bvec));
		n += c->buf->nr_pages;
	}
	ret = diff_storage_write(ds, pos, bvec, nr_pages);
	if (ret) {
		pr_err_ratelimited("storage write of %u bytes at %llu failed: %d\n",
				   nr_pages << PAGE_SHIFT, pos, ret);
		diff_area_broken(da, EIO);
		ret = EIO;
	}
	chunk_store_done(da, batch, pos, ret);
}

/**
 * chunk_store_work() - write the originals waiting in &diff_area.stores.
 * @work: &diff_area_store.work of one of the device's store workers.
 *
 * Takes them oldest first, as many as fit in one bio, until none is left.
 * When some are left after a take, the next store worker is woken to write
 * them meanwhile: a backlog is written DIFF_AREA_STORES bios at a time,
 * while a trickle (random writes) wakes only one worker.
 *
 * Context: chunk_store_wq; may sleep.
 */
void chunk_store_work(struct work_struct *work)
{
	struct diff_area_store *st = container_of(work, struct diff_area_store,
						  work);
	struct diff_area *da = st->da;
	struct diff_area_store *next =
		&da->store[(st - da->store + 1) % DIFF_AREA_STORES];
	unsigned int noio = memalloc_noio_save();
	struct chunk *c, *tmp;
	bool more;
	u32 nr_pages;

	for (;;) {
		LIST_HEAD(batch);

		nr_pages = 0;
		spin_lock_irq(&da->store_lock);
		list_for_each_entry_safe(c, tmp, &da->stores, link) {
			if (nr_pages + c->buf->nr_pages > BIO_MAX_VECS)
				break;
			nr_pages += c->buf->nr_pages;
			list_move_tail(&c->link, &batch);
		}
		more = !list_empty(&da->stores);
		spin_unlock_irq(&da->store_lock);
		if (!nr_pages)
			break;
		/* The chunks of @batch hold the diff_area until they are done. */
		if (more && next != st)
			queue_work(chunk_store_wq, &next->work);
		chunk_store_batch(da, st->bvec, &batch, nr_pages);
	}
	memalloc_noio_restore(noio);
}

/**
 * chunk_wait() - wait for a chunk to let writes pass.
 * @c: the chunk.
 * @link: &diff_area_req.link of the parked write.
 *
 * Return: true if the chunk passes now; false if @link was queued and
 * diff_area_run_waiters() will be called for it when it does.
 */
bool chunk_wait(struct chunk *c, struct list_head *link)
{
	unsigned long flags;
	bool passes;

	spin_lock_irqsave(&c->lock, flags);
	passes = c->cow == CHUNK_PASS;
	if (!passes)
		list_add_tail(link, &c->waiters);
	spin_unlock_irqrestore(&c->lock, flags);
	return passes;
}

static void chunk_storage_read_work(struct work_struct *work)
{
	struct image_io *io = container_of(work, struct image_io, work);
	struct diff_storage *ds = snapshot_storage(io->da->snapshot);
	struct bio *bio = io->bio;
	u32 offset = io->offset & (PAGE_SIZE - 1);
	u32 len = bio->bi_iter.bi_size, nr_pages;
	unsigned int noio = memalloc_noio_save();
	blk_status_t status = BLK_STS_OK;
	struct bio_vec *bvec;

	bvec = diff_buffer_pages_alloc(offset + len, &nr_pages);
	if (!bvec) {
		status = BLK_STS_RESOURCE;
		goto out;
	}
	if (diff_storage_read(ds, round_down(io->offset, PAGE_SIZE), bvec,
			      nr_pages))
		status = BLK_STS_IOERR;
	else
		diff_buffer_copy_to_bio(bvec, nr_pages, offset, bio);
	diff_buffer_pages_free(bvec, nr_pages);
out:
	memalloc_noio_restore(noio);
	diff_area_image_done(io, status);
}

/**
 * chunk_image_read() - serve an image read from a copied chunk.
 * @c: a chunk at CHUNK_CAPTURED or later.
 * @io: the image read, inside the chunk.
 * @offset: byte of the chunk where the read starts.
 *
 * From memory at once while the original is there, else from the storage
 * by a worker; EIO for a chunk whose original was lost.
 */
void chunk_image_read(struct chunk *c, struct image_io *io, u32 offset)
{
	struct diff_buffer *buf;
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	if (c->failed) {
		spin_unlock_irqrestore(&c->lock, flags);
		diff_area_image_done(io, BLK_STS_IOERR);
		return;
	}
	buf = c->buf;
	if (buf) {
		diff_buffer_get(buf);
		spin_unlock_irqrestore(&c->lock, flags);
		diff_buffer_copy_to_bio(buf->bvec, buf->nr_pages, offset,
					io->bio);
		diff_buffer_put(buf);
		diff_area_image_done(io, BLK_STS_OK);
		return;
	}
	io->offset = c->offset + offset;
	spin_unlock_irqrestore(&c->lock, flags);
	INIT_WORK(&io->work, chunk_storage_read_work);
	queue_work(chunk_store_wq, &io->work);
}
