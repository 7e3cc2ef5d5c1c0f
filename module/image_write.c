// SPDX-License-Identifier: GPL-2.0
/*
 * Writes to a writable snapshot image. They go to the difference storage,
 * never to the original device.
 *
 * One worker per device serves the image's writes, those queued meanwhile
 * as a batch, in the order they came:
 *
 *   1. it starts the copies of the chunks they cover that were never
 *      copied (diff_area_copy_chunks(), the very copy a write to the device
 *      causes: the original is read, then stored; from then on writes to
 *      the device pass those chunks and image reads come from the storage);
 *   2. for each write, it waits until each of its chunks is stored (a chunk
 *      whose original is still in memory would be stored later, over the
 *      write, and image reads would copy the old data from memory);
 *   3. it reads the stored pages the write covers only in part, merges the
 *      write and writes the pages back in place.
 *
 * So the space an image write takes is the chunk's copy, counted against
 * the limit like any other, and a full or failing storage breaks the
 * snapshot as copies do. Writes are served one at a time, so no two
 * overwrite the same pages at once. An image read that overlaps a write in
 * flight may see the old data, the new, or a mix (as on any disk); one
 * issued after the write completed sees the write.
 *
 * Flushes: a write completes once its storage write returned, so a
 * REQ_PREFLUSH (the storage is flushed first) covers every image write
 * completed before it, and REQ_FUA flushes the storage after the write.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-image_write: " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include "chunk.h"
#include "diff_area.h"
#include "diff_buffer.h"
#include "diff_storage.h"
#include "image_write.h"
#include "snapshot.h"

/*
 * Image writes wait for the copy and store workers (chunk_cow_wq,
 * chunk_store_wq): they must not take those queues' rescuers.
 */
static struct workqueue_struct *image_write_wq;

/**
 * image_write_init() - the workqueue of image writes.
 *
 * It has a rescuer (WQ_MEM_RECLAIM): a file system on an image may write
 * back its pages under memory pressure.
 *
 * Return: 0 or -ENOMEM.
 */
int image_write_init(void)
{
	image_write_wq = alloc_workqueue("blksnap-image-write",
					 WQ_MEM_RECLAIM | WQ_UNBOUND, 0);
	return image_write_wq ? 0 : -ENOMEM;
}

/**
 * image_write_exit() - free the workqueue; no image may be left.
 */
void image_write_exit(void)
{
	destroy_workqueue(image_write_wq);
}

/**
 * image_write_submit() - queue a write (or a flush) of a writable image.
 * @da: the image's device.
 * @bio: a REQ_OP_WRITE bio, possibly empty with REQ_PREFLUSH.
 *
 * Context: the image's submit_bio; does not sleep.
 */
void image_write_submit(struct diff_area *da, struct bio *bio)
{
	unsigned long flags;

	diff_area_io_get(da);
	spin_lock_irqsave(&da->park_lock, flags);
	bio_list_add(&da->image_writes, bio);
	spin_unlock_irqrestore(&da->park_lock, flags);
	queue_work(image_write_wq, &da->image_write_work);
}

/* The chunks a write changes, if it is inside the device. */
static bool image_write_chunks(struct diff_area *da, struct bio *bio,
			       unsigned long *first, unsigned long *last)
{
	if (!bio_sectors(bio) || bio_end_sector(bio) > da->capacity)
		return false;
	*first = bio->bi_iter.bi_sector >> da->chunk_shift;
	*last = (bio_end_sector(bio) - 1) >> da->chunk_shift;
	return true;
}

/* Whether the chunk's copy is over: its original stored, or lost. */
static bool image_write_settled(struct chunk *c)
{
	unsigned long flags;
	bool settled;

	spin_lock_irqsave(&c->lock, flags);
	settled = c->stored || c->failed;
	spin_unlock_irqrestore(&c->lock, flags);
	return settled;
}

/* Copy @len bytes of @bio from @it into @bvec, @offset bytes in. */
static void image_write_merge(struct bio_vec *bvec, u32 nr_pages, u32 offset,
			      u32 len, struct bio *bio, struct bvec_iter *it)
{
	struct iov_iter to;
	struct bio_vec bv;

	iov_iter_bvec(&to, ITER_DEST, bvec, nr_pages,
		      (size_t)nr_pages << PAGE_SHIFT);
	iov_iter_advance(&to, offset);
	while (len) {
		bv = bio_iter_iovec(bio, *it);
		bv.bv_len = min(bv.bv_len, len);
		copy_page_to_iter(bv.bv_page, bv.bv_offset, bv.bv_len, &to);
		bio_advance_iter_single(bio, it, bv.bv_len);
		len -= bv.bv_len;
	}
}

/*
 * Write @len bytes of @bio from @it at byte @offset of chunk @c, over its
 * stored copy.
 */
static blk_status_t image_write_chunk(struct diff_area *da, struct chunk *c,
				      u32 offset, u32 len, struct bio *bio,
				      struct bvec_iter *it)
{
	struct diff_storage *ds = snapshot_storage(da->snapshot);
	u32 first = offset >> PAGE_SHIFT, nr_pages;
	blk_status_t status = BLK_STS_OK;
	struct bio_vec *bvec;
	unsigned long flags;
	bool failed;
	u64 pos;
	int ret;

	if (!c)
		return BLK_STS_IOERR;
	wait_event(da->stored_wq, image_write_settled(c));
	spin_lock_irqsave(&c->lock, flags);
	failed = c->failed;
	pos = c->offset + ((u64)first << PAGE_SHIFT);
	spin_unlock_irqrestore(&c->lock, flags);
	if (failed || !diff_area_cows(da))
		return BLK_STS_IOERR;

	bvec = diff_buffer_pages_alloc(offset + len - (first << PAGE_SHIFT),
				       &nr_pages);
	if (!bvec)
		return BLK_STS_RESOURCE;
	/* Whole pages are overwritten; the others keep the rest of theirs. */
	if (!IS_ALIGNED(offset | len, PAGE_SIZE)) {
		ret = diff_storage_read(ds, pos, bvec, nr_pages);
		if (ret)
			goto out_error;
	}
	image_write_merge(bvec, nr_pages, offset & ~PAGE_MASK, len, bio, it);
	ret = diff_storage_write(ds, pos, bvec, nr_pages);
	if (ret)
		goto out_error;
	goto out_free;

out_error:
	pr_err_ratelimited("image write of %u bytes at storage %llu failed: %d\n",
			   nr_pages << PAGE_SHIFT, pos, ret);
	diff_area_broken(da, EIO);
	status = BLK_STS_IOERR;
out_free:
	diff_buffer_pages_free(bvec, nr_pages);
	return status;
}

/* Serve one image write whose copies were started. */
static blk_status_t image_write_bio(struct diff_area *da, struct bio *bio)
{
	struct diff_storage *ds = snapshot_storage(da->snapshot);
	u32 chunk_bytes = 1U << (da->chunk_shift + SECTOR_SHIFT);
	struct bvec_iter it = bio->bi_iter;
	sector_t sector = it.bi_sector;
	u32 left = it.bi_size, offset, len;
	unsigned long n;
	blk_status_t status;

	if (!diff_area_cows(da) || bio_end_sector(bio) > da->capacity)
		return BLK_STS_IOERR;
	if ((bio->bi_opf & REQ_PREFLUSH) && diff_storage_flush(ds))
		return BLK_STS_IOERR;
	while (left) {
		n = sector >> da->chunk_shift;
		offset = (sector - diff_area_chunk_sector(da, n)) <<
			 SECTOR_SHIFT;
		len = min(left, chunk_bytes - offset);
		status = image_write_chunk(da, xa_load(&da->chunks, n), offset,
					   len, bio, &it);
		if (status)
			return status;
		sector += len >> SECTOR_SHIFT;
		left -= len;
	}
	if ((bio->bi_opf & REQ_FUA) && diff_storage_flush(ds))
		return BLK_STS_IOERR;
	if (bio_sectors(bio))
		atomic64_inc(&da->image_writes_done);
	return BLK_STS_OK;
}

/**
 * image_write_work() - serve the writes queued for a device's image.
 * @work: &diff_area.image_write_work.
 *
 * The copies of all the writes queued meanwhile start together (their
 * reads reach the device under one plug), then the writes are served one
 * by one.
 *
 * Context: image_write_wq; sleeps.
 */
void image_write_work(struct work_struct *work)
{
	struct diff_area *da = container_of(work, struct diff_area,
					    image_write_work);
	unsigned int noio = memalloc_noio_save();
	unsigned long first, last;
	struct bio_list batch;
	struct blk_plug plug;
	struct bio *bio;

	for (;;) {
		spin_lock_irq(&da->park_lock);
		batch = da->image_writes;
		bio_list_init(&da->image_writes);
		spin_unlock_irq(&da->park_lock);
		if (bio_list_empty(&batch))
			break;
		blk_start_plug(&plug);
		bio_list_for_each(bio, &batch) {
			if (diff_area_cows(da) &&
			    image_write_chunks(da, bio, &first, &last))
				diff_area_copy_chunks(da, first, last);
		}
		blk_finish_plug(&plug);
		while ((bio = bio_list_pop(&batch))) {
			bio->bi_status = image_write_bio(da, bio);
			bio_endio(bio);
			diff_area_io_put(da);
		}
	}
	memalloc_noio_restore(noio);
}
