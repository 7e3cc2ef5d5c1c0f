// SPDX-License-Identifier: GPL-2.0
/*
 * Copy-on-write of one device: which writes must wait, for which chunks,
 * and where an image read finds the original data.
 *
 * The bio path (diff_area_hold() and diff_area_submit_bio(), called through
 * the registry from the filter's hook) never sleeps and never allocates:
 * the caller may be inside
 * another driver's submit_bio() with current->bio_list set, where bios we
 * submitted would only be queued behind the one we hold. A write whose
 * chunks all pass goes on at once; any other is parked on a list and
 * handed to a worker, which allocates the chunks, starts their copies,
 * waits for them without blocking (the write is queued on the first chunk
 * that does not pass yet) and resubmits the write through the filter, so
 * that the trackers of the same disk see it again (a partition and its
 * whole disk may both be in snapshots).
 *
 * A write that must not wait (REQ_NOWAIT: io_uring's first attempt,
 * pwritev2() with RWF_NOWAIT) is never held nor parked: the bio path
 * returns FILTER_AGAIN and the filter ends it with BLK_STS_AGAIN. A write
 * refused for copies also asks the worker to copy its chunks (@wanted), so
 * that a submitter that tries again with the flag gets through once they
 * are copied, instead of being refused for ever; a discard asks for none
 * (a discard never causes a copy, see diff_area_cow_bio()).
 *
 * An image read of chunks not copied yet goes to the device, as one bio
 * for the whole run of such chunks it starts with; a copied chunk is read
 * from memory or the storage. A bio that goes on past its first run (or
 * its first copied chunk) is split there (@diff_area_split_bioset) and the
 * rest submitted again. A read sent to the device is registered
 * (@readers, with its range of chunks) before it is sent, under the lock
 * that the copy takes to move a chunk to CHUNK_CAPTURED; the copy lets
 * writes pass only once no read registered before that and covering the
 * chunk is in flight (as dm-snapshot counts its pending origin reads per
 * chunk).
 *
 * Locking: @park_lock and @readers_lock are irq-safe spinlocks held for a
 * few instructions; &chunk.lock nests inside @readers_lock. No lock is taken
 * by a write that passes.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-diff_area: " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/log2.h>
#include <linux/mempool.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include "chunk.h"
#include "diff_area.h"
#include "filter.h"
#include "image_write.h"
#include "params.h"
#include "snapimage.h"
#include "snapshot.h"

/* The largest chunk: BIO_MAX_VECS pages, one bio per copy. */
#define DIFF_AREA_CHUNK_MAX_SHIFT 20
/* Parked writes and image reads that always find a descriptor. */
#define DIFF_AREA_RESERVE 64

/**
 * struct diff_area_req - a parked write waiting for its chunks.
 * @link: entry in the &chunk.waiters of the chunk it waits for.
 * @da: the device.
 * @bio: the write.
 * @next: the first of its chunks not known to pass.
 * @last: its last chunk.
 */
struct diff_area_req {
	struct list_head link;
	struct diff_area *da;
	struct bio *bio;
	unsigned long next;
	unsigned long last;
};

/**
 * struct image_read - an image read's descriptor and its clone to the device.
 * @io: the descriptor.
 * @clone: the clone, sent only if the device serves the read; else it
 *	just carries @io.
 *
 * One allocation for both, from @diff_area_read_bioset's front pad: an
 * image read that went to the device cost a kmalloc and a bio before.
 */
struct image_read {
	struct image_io io;
	struct bio clone;
};

static mempool_t *diff_area_req_pool;
/*
 * The clones of image reads, and the front parts of image bios split where
 * the state of their chunks changes: two sets, since one submit_bio takes
 * from both. Reads only: the filter never looks at these for a copy.
 */
static struct bio_set diff_area_read_bioset;
static struct bio_set diff_area_split_bioset;

static void diff_area_park_work(struct work_struct *work);

/**
 * diff_area_init() - the parked writes' pool and the image reads' bio sets.
 *
 * Return: 0 or -ENOMEM.
 */
int diff_area_init(void)
{
	diff_area_req_pool = mempool_create_kmalloc_pool(DIFF_AREA_RESERVE,
					sizeof(struct diff_area_req));
	if (!diff_area_req_pool)
		return -ENOMEM;
	/* Both are taken inside submit_bio(): punt to a rescuer if need be. */
	if (bioset_init(&diff_area_read_bioset, DIFF_AREA_RESERVE,
			offsetof(struct image_read, clone), BIOSET_NEED_RESCUER))
		goto out_req_pool;
	if (bioset_init(&diff_area_split_bioset, DIFF_AREA_RESERVE, 0,
			BIOSET_NEED_RESCUER))
		goto out_read_bioset;
	return 0;

out_read_bioset:
	bioset_exit(&diff_area_read_bioset);
out_req_pool:
	mempool_destroy(diff_area_req_pool);
	return -ENOMEM;
}

/**
 * diff_area_exit() - free the pools and the bio set.
 */
void diff_area_exit(void)
{
	bioset_exit(&diff_area_split_bioset);
	bioset_exit(&diff_area_read_bioset);
	mempool_destroy(diff_area_req_pool);
}

/* Chunks: the module's minimum, the device's io_min, a power of two. */
static u32 diff_area_chunk_shift(struct block_device *bdev)
{
	u32 bytes = max3(1U << chunk_minimum_shift, bdev_io_min(bdev),
			 bdev_logical_block_size(bdev));

	return min_t(u32, order_base_2(bytes), DIFF_AREA_CHUNK_MAX_SHIFT) -
	       SECTOR_SHIFT;
}

/* Pages of &diff_area.passed a device of @chunk_count chunks needs. */
static unsigned long diff_area_passed_pages(unsigned long chunk_count)
{
	return DIV_ROUND_UP(chunk_count, DIFF_AREA_PASSED_BITS);
}

/* Free a diff_area whose device is closed (or was never opened). */
static void diff_area_free(struct diff_area *da)
{
	unsigned long i;

	for (i = 0; da->passed && i < diff_area_passed_pages(da->chunk_count);
	     i++)
		free_page((unsigned long)da->passed[i]);
	kvfree(da->passed);
	for (i = 0; i < DIFF_AREA_STORES; i++)
		kfree(da->store[i].bvec);
	kfree(da);
}

/**
 * diff_area_create() - open a device for copy-on-write, not yet active.
 * @snapshot: the snapshot it joins.
 * @dev: the device number.
 *
 * Return: the diff_area, or ERR_PTR(): -ENODEV no such device or no
 * sectors, -EOPNOTSUPP a DAX or zoned device, one written without bios, or
 * a snapshot image; -ENOMEM.
 */
struct diff_area *diff_area_create(struct snapshot *snapshot, dev_t dev)
{
	struct block_device *bdev;
	struct diff_area *da;
	int ret, i;

	da = kzalloc(sizeof(*da), GFP_KERNEL);
	if (!da)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < DIFF_AREA_STORES; i++) {
		da->store[i].bvec = kmalloc_array(BIO_MAX_VECS,
						  sizeof(*da->store[i].bvec),
						  GFP_KERNEL);
		if (!da->store[i].bvec) {
			diff_area_free(da);
			return ERR_PTR(-ENOMEM);
		}
		da->store[i].da = da;
		INIT_WORK(&da->store[i].work, chunk_store_work);
	}
	ret = compat_bdev_open(dev, &da->origin);
	if (ret) {
		diff_area_free(da);
		return ERR_PTR(ret == -ENOMEM ? ret : -ENODEV);
	}
	bdev = da->origin.bdev;
	if (!bdev_nr_sectors(bdev))
		ret = -ENODEV;
	else if (blk_queue_dax(bdev_get_queue(bdev)) || bdev_is_zoned(bdev) ||
		 compat_bdev_writes_without_bios(bdev) || snapimage_owns(bdev))
		ret = -EOPNOTSUPP;
	if (ret) {
		compat_bdev_close(&da->origin);
		diff_area_free(da);
		return ERR_PTR(ret);
	}
	da->snapshot = snapshot;
	da->dev = dev;
	da->start = bdev->bd_start_sect;
	da->capacity = bdev_nr_sectors(bdev);
	da->chunk_shift = diff_area_chunk_shift(bdev);
	da->chunk_count = DIV_ROUND_UP_SECTOR_T(da->capacity,
						1U << da->chunk_shift);
	da->passed = kvcalloc(diff_area_passed_pages(da->chunk_count),
			      sizeof(*da->passed), GFP_KERNEL);
	if (!da->passed) {
		compat_bdev_close(&da->origin);
		diff_area_free(da);
		return ERR_PTR(-ENOMEM);
	}
	da->state = DIFF_AREA_IDLE;
	xa_init(&da->chunks);
	spin_lock_init(&da->park_lock);
	bio_list_init(&da->held);
	bio_list_init(&da->parked);
	INIT_WORK(&da->park_work, diff_area_park_work);
	bio_list_init(&da->image_writes);
	INIT_WORK(&da->image_write_work, image_write_work);
	init_waitqueue_head(&da->stored_wq);
	spin_lock_init(&da->store_lock);
	INIT_LIST_HEAD(&da->reads_done);
	INIT_WORK(&da->pass_work, chunk_pass_work);
	INIT_LIST_HEAD(&da->stores);
	spin_lock_init(&da->readers_lock);
	INIT_LIST_HEAD(&da->readers);
	init_waitqueue_head(&da->readers_wq);
	atomic_set(&da->ios, 1);
	init_completion(&da->ios_done);
	return da;
}

/**
 * diff_area_destroy() - wait for everything in flight and free.
 * @da: a diff_area the bio path can no longer reach (never activated, or
 *	stopped and unlinked from its tracker after a grace period), whose
 *	image is gone.
 */
void diff_area_destroy(struct diff_area *da)
{
	struct chunk *c;
	unsigned long i;

	/* Parked writes are released by the worker: the area is stopped. */
	diff_area_io_put(da);
	wait_for_completion(&da->ios_done);
	flush_work(&da->park_work);
	flush_work(&da->image_write_work);
	flush_work(&da->pass_work);
	/* None wakes another now: @stores is empty (each chunk holds @ios). */
	for (i = 0; i < DIFF_AREA_STORES; i++)
		flush_work(&da->store[i].work);
	xa_for_each(&da->chunks, i, c)
		chunk_free(c);
	xa_destroy(&da->chunks);
	compat_bdev_close(&da->origin);
	diff_area_free(da);
}

/**
 * diff_area_cows() - whether copy-on-write goes on.
 * @da: the device.
 *
 * Return: true while active and the snapshot is not broken.
 */
bool diff_area_cows(struct diff_area *da)
{
	return READ_ONCE(da->state) == DIFF_AREA_ACTIVE &&
	       !snapshot_broken(da->snapshot);
}

/**
 * diff_area_broken() - copy-on-write of the device failed.
 * @da: the device.
 * @error: positive errno.
 *
 * The snapshot breaks: its images fail, and writes pass from now on.
 *
 * Context: any.
 */
void diff_area_broken(struct diff_area *da, int error)
{
	cmpxchg(&da->error, 0, error);
	snapshot_break_device(da->snapshot, error, da->dev);
}

/**
 * diff_area_set_state() - change what the bio path does.
 * @da: the device.
 * @state: enum diff_area_state.
 *
 * Writes parked while holding are handed to the worker on the way out.
 */
void diff_area_set_state(struct diff_area *da, int state)
{
	spin_lock_irq(&da->park_lock);
	WRITE_ONCE(da->state, state);
	spin_unlock_irq(&da->park_lock);
	if (state != DIFF_AREA_HOLD)
		queue_work(chunk_cow_wq, &da->park_work);
}

/*
 * Hand a write to the worker, held for take or parked for copies.
 * Context: the bio path; does not sleep.
 */
static bool diff_area_park(struct diff_area *da, struct bio *bio, bool hold)
{
	unsigned long flags;
	bool parked = true;

	spin_lock_irqsave(&da->park_lock, flags);
	if (hold && da->state != DIFF_AREA_HOLD)
		parked = false;
	else
		bio_list_add(hold ? &da->held : &da->parked, bio);
	hold = da->state == DIFF_AREA_HOLD;
	spin_unlock_irqrestore(&da->park_lock, flags);
	if (!parked)
		return false;
	/* Polling a bio that a worker submits later would never find it. */
	bio_clear_polled(bio);
	diff_area_io_get(da);
	atomic64_inc(&da->writes_held);
	if (!hold)
		queue_work(chunk_cow_wq, &da->park_work);
	return true;
}

/**
 * diff_area_hold() - hold a write while take chooses the snapshot's instant.
 * @da: the device's copy-on-write.
 * @bio: a write not counted by the device's tracker.
 *
 * A write with REQ_NOWAIT is not held (the hold lasts grace periods and
 * the longest write in flight): it is refused, neither counted nor marked,
 * and does not reach the device.
 *
 * Return: FILTER_TAKEN if the bio was held: take sends it on when it is
 * over; FILTER_AGAIN if it would have been, but must not wait; else
 * FILTER_PASS.
 *
 * Context: the RCU read-side section in which the bio would be counted;
 * does not sleep.
 */
enum filter_verdict diff_area_hold(struct diff_area *da, struct bio *bio)
{
	if (READ_ONCE(da->state) != DIFF_AREA_HOLD)
		return FILTER_PASS;
	if (bio->bi_opf & REQ_NOWAIT) {
		atomic64_inc(&da->nowait_refused);
		return FILTER_AGAIN;
	}
	return diff_area_park(da, bio, true) ? FILTER_TAKEN : FILTER_PASS;
}

/*
 * Ask the worker to copy chunks [@first, @last] for a write refused with
 * BLK_STS_AGAIN. Context: the bio path; does not sleep.
 */
static void diff_area_want(struct diff_area *da, unsigned long first,
			   unsigned long last)
{
	struct diff_area_range *r;
	unsigned long flags;
	bool queued = false;

	spin_lock_irqsave(&da->park_lock, flags);
	r = da->nr_wanted ? &da->wanted[da->nr_wanted - 1] : NULL;
	/* The same write tried again before the worker ran. */
	if (r && r->first == first && r->last == last)
		goto out_unlock;
	if (da->state != DIFF_AREA_ACTIVE || da->nr_wanted == DIFF_AREA_WANTED)
		goto out_unlock;
	r = &da->wanted[da->nr_wanted++];
	r->first = first;
	r->last = last;
	diff_area_io_get(da);
	queued = true;
out_unlock:
	spin_unlock_irqrestore(&da->park_lock, flags);
	if (queued)
		queue_work(chunk_cow_wq, &da->park_work);
}

/* Send a parked write on its way: through the filter again, then down. */
static void diff_area_release(struct diff_area *da, struct bio *bio)
{
	filter_resubmit_bio(bio);
	diff_area_io_put(da);
}

/**
 * diff_area_chunk_passed() - note that a chunk reached CHUNK_PASS.
 * @da: the device.
 * @chunk: the chunk's number.
 *
 * Without memory for its page of bits the chunk is only found passing in
 * &diff_area.chunks, which the bio path looks in when a bit is not set.
 *
 * Context: a worker; may sleep (the allocation does no I/O).
 */
void diff_area_chunk_passed(struct diff_area *da, unsigned long chunk)
{
	unsigned long **slot = &da->passed[chunk / DIFF_AREA_PASSED_BITS];
	unsigned long *bits = READ_ONCE(*slot), *fresh;

	if (!bits) {
		fresh = (unsigned long *)get_zeroed_page(GFP_NOIO |
							  __GFP_NOWARN);
		if (!fresh)
			return;
		/* Another chunk of the page may have passed meanwhile. */
		bits = cmpxchg(slot, NULL, fresh);
		if (bits)
			free_page((unsigned long)fresh);
		else
			bits = fresh;
	}
	set_bit(chunk % DIFF_AREA_PASSED_BITS, bits);
}

/*
 * Whether each of chunks [@first, @last] has a chunk that reached
 * CHUNK_PASS in the tree: one walk for the range (a 1 MiB write spans 16
 * chunks of 64 KiB), not one lookup per chunk.
 */
static noinline bool diff_area_chunks_found_passing(struct diff_area *da,
						    unsigned long first,
						    unsigned long last)
{
	XA_STATE(xas, &da->chunks, first);
	unsigned long next = first;
	bool pass = true;
	struct chunk *c;

	rcu_read_lock();
	xas_for_each(&xas, c, last) {
		if (xas_retry(&xas, c))
			continue;
		/* The walk skips chunks with no entry: not copied. */
		if (xas.xa_index != next || !chunk_passes(c)) {
			pass = false;
			break;
		}
		next++;
	}
	rcu_read_unlock();
	return pass && next == last + 1;
}

/*
 * Whether writes to chunks [@first, @last] may go to the device now: the
 * bits, else the tree (a bit not set yet, or not allocated).
 */
static __always_inline bool diff_area_chunks_pass(struct diff_area *da,
						  unsigned long first,
						  unsigned long last)
{
	return likely(diff_area_passed(da, first, last)) ||
	       diff_area_chunks_found_passing(da, first, last);
}

/**
 * diff_area_submit_bio() - copy-on-write decision for a bio being submitted.
 * @da: the device's copy-on-write.
 * @bio: a write, discard, secure erase or write-zeroes of @count sectors.
 * @bdev: the device, or NULL when the bio was sent to its whole disk.
 * @sector: first sector of the bio relative to the device.
 * @count: sectors of the device the bio changes, non-zero.
 *
 * A bio with REQ_NOWAIT whose chunks do not all pass is refused, and the
 * copies of those chunks are started (not for a discard), so that it
 * passes when tried again. This holds for the remainder of a bio split
 * above us too (dm sends it on with the flag): the first part may then
 * have reached the device (after its copies), and the whole bio ends with
 * BLK_STS_AGAIN; trying it again writes the same data.
 *
 * Return: FILTER_TAKEN if the bio was taken: parked until its chunks are
 * copied, or (a discard of chunks not copied yet) to be completed without
 * being sent; FILTER_AGAIN if it would have been, but must not wait;
 * FILTER_PASS: the caller submits it now.
 *
 * Context: rcu_read_lock() held by the filter; does not sleep.
 */
enum filter_verdict diff_area_submit_bio(struct diff_area *da,
					 struct bio *bio,
					 struct block_device *bdev,
					 sector_t sector, sector_t count)
{
	unsigned long first, last;

	/* Before take is over a write that was not held goes on. */
	if (READ_ONCE(da->state) != DIFF_AREA_ACTIVE)
		return FILTER_PASS;
	/* Our own writes (storage) never need a copy. */
	if (bio->bi_pool == &chunk_io_bioset)
		return FILTER_PASS;
	if (snapshot_broken(da->snapshot))
		return FILTER_PASS;
	if (unlikely(bdev && bdev_nr_sectors(bdev) != da->capacity)) {
		diff_area_broken(da, ERANGE);
		return FILTER_PASS;
	}
	if (sector >= da->capacity)
		return FILTER_PASS;
	count = min(count, da->capacity - sector);
	first = sector >> da->chunk_shift;
	last = (sector + count - 1) >> da->chunk_shift;
	if (diff_area_chunks_pass(da, first, last))
		return FILTER_PASS;
	if (bio->bi_opf & REQ_NOWAIT) {
		if (bio_op(bio) != REQ_OP_DISCARD)
			diff_area_want(da, first, last);
		atomic64_inc(&da->nowait_refused);
		return FILTER_AGAIN;
	}
	/* A discard of chunks not copied is ended by the worker, not sent. */
	diff_area_park(da, bio, false);
	return FILTER_TAKEN;
}

/*
 * The chunks a parked bio changes. The bio's sector is taken relative to
 * the whole disk (a partition's bio may already be remapped), then to the
 * device.
 */
static bool diff_area_bio_chunks(struct diff_area *da, struct bio *bio,
				 unsigned long *first, unsigned long *last)
{
	sector_t from = bio->bi_iter.bi_sector, to;
	sector_t end = da->start + da->capacity;

	if (!bio_flagged(bio, BIO_REMAPPED))
		from += bio->bi_bdev->bd_start_sect;
	to = from + bio_sectors(bio);
	if (to <= da->start || from >= end)
		return false;
	from = max(from, da->start) - da->start;
	to = min(to, end) - da->start;
	*first = from >> da->chunk_shift;
	*last = (to - 1) >> da->chunk_shift;
	return true;
}

/* Go on with the chunks after the one that passed; release when done. */
static void diff_area_req_advance(struct diff_area_req *req)
{
	struct diff_area *da = req->da;
	struct bio *bio;

	for (; req->next <= req->last; req->next++) {
		if (!chunk_wait(xa_load(&da->chunks, req->next), &req->link))
			return;
	}
	bio = req->bio;
	mempool_free(req, diff_area_req_pool);
	diff_area_release(da, bio);
}

/**
 * diff_area_run_waiters() - a chunk passes: move its waiting writes on.
 * @waiters: the &diff_area_req.link entries taken from the chunk.
 *
 * Context: a worker.
 */
void diff_area_run_waiters(struct list_head *waiters)
{
	struct diff_area_req *req, *next;

	list_for_each_entry_safe(req, next, waiters, link) {
		list_del(&req->link);
		req->next++;
		diff_area_req_advance(req);
	}
}

/**
 * diff_area_copy_chunks() - start the copies of chunks not started yet.
 * @da: the device.
 * @first: the first chunk.
 * @last: the last chunk.
 *
 * Each run of consecutive chunks not started yet is read with one bio (of
 * BIO_MAX_VECS pages at most).
 *
 * Context: a worker in a memalloc_noio scope (the park worker, or the
 * image writes' worker, which may race it: the chunk inserted first wins).
 * Return: false if the snapshot broke (no memory for a chunk).
 */
bool diff_area_copy_chunks(struct diff_area *da, unsigned long first,
			   unsigned long last)
{
	u32 pages = 0, chunk_pages;
	LIST_HEAD(run);
	struct chunk *c;
	unsigned long n;
	int ret;

	for (n = first; n <= last; n++) {
		c = NULL;
		ret = -EEXIST;
		if (!xa_load(&da->chunks, n)) {
			c = chunk_alloc(da, n);
			ret = c ? xa_insert(&da->chunks, n, c, GFP_NOIO) :
				  -ENOMEM;
		}
		chunk_pages = ret ? 0 : DIV_ROUND_UP(c->size, PAGE_SIZE);
		/* A chunk not added, or one page too many, ends the run. */
		if (ret || pages + chunk_pages > BIO_MAX_VECS) {
			chunk_copy(&run);
			pages = 0;
		}
		if (ret) {
			kfree(c);
			/* Started before, or by the other worker meanwhile. */
			if (ret == -EEXIST || ret == -EBUSY)
				continue;
			diff_area_broken(da, ENOMEM);
			return false;
		}
		list_add_tail(&c->link, &run);
		pages += chunk_pages;
		cond_resched();
	}
	chunk_copy(&run);
	return true;
}

/* A parked write: copy its chunks not copied yet, then wait for them. */
static void diff_area_cow_bio(struct diff_area *da, struct bio *bio)
{
	unsigned long first, last;
	struct diff_area_req *req;

	if (!diff_area_cows(da) || !bio_sectors(bio) ||
	    !diff_area_bio_chunks(da, bio, &first, &last)) {
		diff_area_release(da, bio);
		return;
	}
	if (bio_op(bio) == REQ_OP_DISCARD &&
	    !diff_area_chunks_pass(da, first, last)) {
		/*
		 * A hint: the device may ignore it. Sent, it could change what
		 * the image shows; copying the chunks would only fill the
		 * storage with data the file system has freed.
		 */
		atomic64_inc(&da->discards_dropped);
		bio_endio(bio);
		diff_area_io_put(da);
		return;
	}
	if (!diff_area_copy_chunks(da, first, last)) {
		diff_area_release(da, bio);
		return;
	}
	req = mempool_alloc(diff_area_req_pool, GFP_NOIO);
	req->da = da;
	req->bio = bio;
	req->next = first;
	req->last = last;
	diff_area_req_advance(req);
}

static void diff_area_park_work(struct work_struct *work)
{
	struct diff_area *da = container_of(work, struct diff_area, park_work);
	unsigned int noio = memalloc_noio_save();
	struct blk_plug plug;
	struct bio *bio;

	/*
	 * The reads of the copies of all the writes parked meanwhile go to
	 * the device together: adjacent chunks merge into one request, and
	 * the device is notified once, not once per chunk.
	 */
	blk_start_plug(&plug);
	for (;;) {
		struct diff_area_range want = { 0, 0 };
		bool held = false, wanted = false;

		spin_lock_irq(&da->park_lock);
		if (da->state == DIFF_AREA_HOLD) {
			bio = NULL;
		} else {
			bio = bio_list_pop(&da->held);
			held = bio;
			if (!bio)
				bio = bio_list_pop(&da->parked);
			/* Writes waiting first; refused ones try again later. */
			if (!bio && da->nr_wanted) {
				want = da->wanted[--da->nr_wanted];
				wanted = true;
			}
		}
		spin_unlock_irq(&da->park_lock);
		if (held) {
			filter_release_held_bio(bio);
			diff_area_io_put(da);
		} else if (bio) {
			diff_area_cow_bio(da, bio);
		} else if (wanted) {
			if (diff_area_cows(da))
				diff_area_copy_chunks(da, want.first, want.last);
			diff_area_io_put(da);
		} else {
			break;
		}
	}
	blk_finish_plug(&plug);
	memalloc_noio_restore(noio);
}

/**
 * diff_area_has_readers() - whether image reads of a chunk are at the device.
 * @da: the device.
 * @chunk: the chunk number.
 *
 * A read registers only chunks not captured yet, so the reads found here
 * were all sent before the chunk was captured: waiting for them ends.
 *
 * Return: true while one whose range covers the chunk runs.
 */
bool diff_area_has_readers(struct diff_area *da, unsigned long chunk)
{
	struct image_io *io;
	unsigned long flags;
	bool found = false;

	spin_lock_irqsave(&da->readers_lock, flags);
	list_for_each_entry(io, &da->readers, reader) {
		if (io->first <= chunk && chunk <= io->last) {
			found = true;
			break;
		}
	}
	spin_unlock_irqrestore(&da->readers_lock, flags);
	return found;
}

/*
 * Register a read of the device for the chunks from @io->first up to @last
 * that still hold their original there: the run up to the first captured
 * one, which ends at @io->last. Return: false, nothing registered and
 * @io->last = @io->first, if @io->first is captured.
 */
static bool diff_area_reader_add(struct diff_area *da, struct image_io *io,
				 unsigned long last)
{
	XA_STATE(xas, &da->chunks, io->first);
	unsigned long flags, end = last + 1;
	struct chunk *c;
	bool device;

	spin_lock_irqsave(&da->readers_lock, flags);
	/* One walk visits only the chunks ever touched, not every number. */
	rcu_read_lock();
	xas_for_each(&xas, c, last) {
		if (xas_retry(&xas, c))
			continue;
		if (READ_ONCE(c->cow) != CHUNK_COPYING) {
			end = xas.xa_index;
			break;
		}
	}
	rcu_read_unlock();
	device = end > io->first;
	io->last = device ? end - 1 : io->first;
	if (device)
		list_add_tail(&io->reader, &da->readers);
	spin_unlock_irqrestore(&da->readers_lock, flags);
	return device;
}

/**
 * diff_area_image_done() - complete an image read.
 * @io: the read.
 * @status: its result.
 *
 * Context: any.
 */
void diff_area_image_done(struct image_io *io, blk_status_t status)
{
	struct diff_area *da = io->da;
	struct bio *bio = io->bio;

	bio_put(&container_of(io, struct image_read, io)->clone);
	/* Not OK over the error a part split off before may have left. */
	if (status)
		bio->bi_status = status;
	bio_endio(bio);
	diff_area_io_put(da);
}

static void diff_area_origin_endio(struct bio *clone)
{
	struct image_io *io = &container_of(clone, struct image_read, clone)->io;
	struct diff_area *da = io->da;
	blk_status_t status = clone->bi_status;
	unsigned long flags;

	spin_lock_irqsave(&da->readers_lock, flags);
	list_del(&io->reader);
	spin_unlock_irqrestore(&da->readers_lock, flags);
	/* Its barrier orders the removal before the look at the queue. */
	if (wq_has_sleeper(&da->readers_wq))
		wake_up_all(&da->readers_wq);
	diff_area_image_done(io, status);
}

/*
 * Serve the first @sectors of @bio now: return them as a bio of their own,
 * chained to @bio, whose rest goes through the image's submit_bio again.
 * Context: the image's submit_bio, which queues the rest behind the bios
 * it sends to the device.
 */
static struct bio *diff_area_image_split(struct bio *bio, sector_t sectors)
{
	struct bio *split;

	split = bio_split(bio, sectors, GFP_NOIO, &diff_area_split_bioset);
	bio_chain(split, bio);
	submit_bio_noacct(bio);
	return split;
}

/**
 * diff_area_image_read() - serve a read of the device's image.
 * @da: the device.
 * @bio: a read (the image bounds its size).
 *
 * The chunks it starts with that are still on the device are read from
 * there with one bio; if it starts with a copied chunk, that chunk is read
 * from memory or the storage. The rest, if any, is split off and served
 * the same way when it comes back.
 *
 * Context: the image's submit_bio; may sleep for a descriptor.
 */
void diff_area_image_read(struct diff_area *da, struct bio *bio)
{
	sector_t sector = bio->bi_iter.bi_sector, end;
	unsigned long last;
	struct image_io *io;
	struct bio *clone;
	bool device;

	if (!diff_area_cows(da) || bio_end_sector(bio) > da->capacity) {
		bio_io_error(bio);
		return;
	}
	if (!bio_sectors(bio)) {
		bio_endio(bio);
		return;
	}
	/* Cloned whole, and cut to the part the device serves below. */
	clone = bio_alloc_clone(da->origin.bdev, bio, GFP_NOIO,
				&diff_area_read_bioset);
	io = &container_of(clone, struct image_read, clone)->io;
	io->da = da;
	io->first = sector >> da->chunk_shift;
	last = (bio_end_sector(bio) - 1) >> da->chunk_shift;
	diff_area_io_get(da);
	/*
	 * Registered first, split after: the copy of a chunk the read covers
	 * waits for it meanwhile, which only delays the chunk's writes.
	 */
	device = diff_area_reader_add(da, io, last);
	end = diff_area_chunk_sector(da, io->last + 1);
	if (end < bio_end_sector(bio)) {
		bio = diff_area_image_split(bio, end - sector);
		bio_trim(clone, 0, end - sector);
	}
	io->bio = bio;
	atomic64_inc(&da->image_reads);
	if (device) {
		clone->bi_end_io = diff_area_origin_endio;
		submit_bio_noacct(clone);
		return;
	}
	chunk_image_read(xa_load(&da->chunks, io->first), io,
			 (sector - diff_area_chunk_sector(da, io->first)) <<
			 SECTOR_SHIFT);
}
