/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_DIFF_AREA_H
#define __BLKSNAP_DIFF_AREA_H

#include <linux/types.h>
#include <linux/atomic.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/completion.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/uuid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include "compat.h"
#include "filter.h"

struct snapshot;
struct snapimage;
struct tracker;

/**
 * enum diff_area_state - what the bio path does with writes to the device.
 * @DIFF_AREA_IDLE: nothing: the snapshot is not taken yet.
 * @DIFF_AREA_HOLD: park every write: take is choosing its instant.
 * @DIFF_AREA_ACTIVE: copy-on-write.
 * @DIFF_AREA_STOPPED: nothing any more: the snapshot is being destroyed.
 */
enum diff_area_state {
	DIFF_AREA_IDLE = 0,
	DIFF_AREA_HOLD,
	DIFF_AREA_ACTIVE,
	DIFF_AREA_STOPPED,
};

/*
 * Store workers of a device: storage writes of its originals in flight at
 * once. One at a time left the writes parked behind the memory cap while
 * the storage, which takes several writes at once, sat idle between them.
 */
#define DIFF_AREA_STORES 4

/**
 * struct diff_area_store - one store worker of a device.
 * @work: writes batches of originals (chunk_store_work()).
 * @da: the device.
 * @bvec: BIO_MAX_VECS entries: the pages of its write.
 */
struct diff_area_store {
	struct work_struct work;
	struct diff_area *da;
	struct bio_vec *bvec;
};

/* Chunk ranges that refused REQ_NOWAIT writes asked to be copied. */
#define DIFF_AREA_WANTED 16

/* Chunks per page of &diff_area.passed. */
#define DIFF_AREA_PASSED_BITS (PAGE_SIZE * BITS_PER_BYTE)

/**
 * struct diff_area_range - chunks [@first, @last] of a device.
 * @first: the first chunk.
 * @last: the last chunk.
 */
struct diff_area_range {
	unsigned long first;
	unsigned long last;
};

/**
 * struct diff_area - copy-on-write of one device of a snapshot.
 * @snapshot: the snapshot, which owns this.
 * @tracker: the device's tracker (a reference); its bio path calls
 *	diff_area_submit_bio().
 * @dev: the device number.
 * @origin: the device, held open (read-only) until the snapshot ends.
 * @start: first sector of the device on its disk (0 for a whole disk).
 * @capacity: size in sectors at add; a change breaks the snapshot.
 * @chunk_shift: log2 of the chunk size in sectors.
 * @chunk_count: chunks of the device.
 * @state: enum diff_area_state; changed under @park_lock, read
 *	locklessly by the bio path.
 * @chunks: chunk number -> &struct chunk, only for chunks written since
 *	take (on the device or the image). Inserted by @park_work and
 *	@image_write_work (the loser of a race frees its chunk unused), read
 *	under RCU by the bio path; freed with the diff_area.
 * @passed: a bit per chunk that reached CHUNK_PASS, in pages of
 *	DIFF_AREA_PASSED_BITS bits, each allocated when the first of its
 *	chunks passes (NULL until then, or if that allocation failed). The
 *	bio path tests these bits before it looks in @chunks: a write to
 *	copied chunks costs a few loads instead of a walk of the tree.
 * @park_lock: protects @held, @parked, @wanted, @nr_wanted, @image_writes
 *	and the changes of @state.
 * @held: writes held during take, not counted by the tracker yet; sent on
 *	through the whole bio path once take is over.
 * @parked: writes that need copies, for @park_work.
 * @wanted: chunks that writes ended with BLK_STS_AGAIN (REQ_NOWAIT) need
 *	copied, for @park_work, so that they pass when tried again. Each
 *	entry holds a reference on @ios. When full, a refused write adds
 *	nothing (tried again, it asks again).
 * @nr_wanted: entries in @wanted.
 * @park_work: sends on the held writes; starts the copies the parked
 *	writes and @wanted need and resubmits the writes once their chunks
 *	pass.
 * @image_writes: writes to a writable image, for @image_write_work.
 * @image_write_work: serves them one after the other (image_write.c).
 * @stored_wq: woken when chunks are stored or lost (image writes wait for
 *	that before they overwrite the stored copy).
 * @store_lock: protects @reads_done and @stores.
 * @reads_done: chunks whose read is over (&chunk.link), for @pass_work.
 * @pass_work: lets the writes to those chunks pass, all with one plug
 *	(chunk_pass_work()), and hands them to the store workers.
 * @stores: chunks whose original is in memory and passes, to be written
 *	to the storage (&chunk.link), oldest first.
 * @store: the store workers; each writes as many of @stores as one bio
 *	holds at a time (chunk_store_work()). The first is woken by the pass,
 *	each wakes the next while some are left after its take.
 * @readers_lock: protects @readers and the step of a chunk to
 *	CHUNK_CAPTURED, so that an image read either sees the chunk copied or
 *	is seen by the copy.
 * @readers: image reads sent to the device (&image_io.reader), each with
 *	its range of chunks; as many as image reads in flight.
 * @readers_wq: woken when such a read completes.
 * @ios: parked writes, copies and image reads in flight, plus one held
 *	until destroy, which then waits for @ios_done.
 * @ios_done: completed by the last put of @ios (a completion, because
 *	its waiter frees the diff_area as soon as it returns).
 * @image: the image device, from take on.
 * @error: positive errno that broke the snapshot on this device, or 0.
 * @generation: CBT generation of the device at take.
 * @closed_number: CBT change number take closed.
 * @freeze: BLKSNAP_FREEZE_* result of take.
 * @freeze_error: positive errno of a failed freeze.
 * @writes_held: write bios held for copy-on-write.
 * @chunks_copied: originals read.
 * @chunks_stored: originals written to the storage.
 * @discards_dropped: discards completed without being sent.
 * @image_reads: image reads served: a run of chunks from the device, or
 *	one copied chunk.
 * @image_writes_done: image writes completed without error.
 * @nowait_refused: writes with REQ_NOWAIT ended with BLK_STS_AGAIN
 *	instead of being held or parked.
 */
struct diff_area {
	struct snapshot *snapshot;
	struct tracker *tracker;
	dev_t dev;
	struct compat_bdev origin;
	sector_t start;
	sector_t capacity;
	u32 chunk_shift;
	unsigned long chunk_count;
	int state;
	struct xarray chunks;
	unsigned long **passed;
	spinlock_t park_lock; /* see @park_lock above */
	struct bio_list held;
	struct bio_list parked;
	struct diff_area_range wanted[DIFF_AREA_WANTED];
	unsigned int nr_wanted;
	struct work_struct park_work;
	struct bio_list image_writes;
	struct work_struct image_write_work;
	wait_queue_head_t stored_wq;
	spinlock_t store_lock; /* see @store_lock above */
	struct list_head reads_done;
	struct work_struct pass_work;
	struct list_head stores;
	struct diff_area_store store[DIFF_AREA_STORES];
	spinlock_t readers_lock; /* see @readers_lock above */
	struct list_head readers;
	wait_queue_head_t readers_wq;
	atomic_t ios;
	struct completion ios_done;
	struct snapimage *image;
	int error;
	uuid_t generation;
	u8 closed_number;
	u8 freeze;
	int freeze_error;
	atomic64_t writes_held;
	atomic64_t chunks_copied;
	atomic64_t chunks_stored;
	atomic64_t discards_dropped;
	atomic64_t image_reads;
	atomic64_t image_writes_done;
	atomic64_t nowait_refused;
};

/**
 * struct image_io - one image read being served.
 * @da: the device.
 * @bio: the image bio (or the front part of one) it serves: chunks @first
 *	to @last, all on the device, or a part of the copied chunk @first
 *	(= @last).
 * @first: its first chunk.
 * @last: its last chunk.
 * @reader: entry in &diff_area.readers while the read is at the device.
 * @work: reads the storage (chunk.c).
 * @offset: for @work: where the chunk's original is in the storage.
 */
struct image_io {
	struct diff_area *da;
	struct bio *bio;
	unsigned long first;
	unsigned long last;
	struct list_head reader;
	struct work_struct work;
	u64 offset;
};

int diff_area_init(void);
void diff_area_exit(void);
struct diff_area *diff_area_create(struct snapshot *snapshot, dev_t dev);
void diff_area_destroy(struct diff_area *da);
enum filter_verdict diff_area_hold(struct diff_area *da, struct bio *bio);
enum filter_verdict diff_area_submit_bio(struct diff_area *da,
					 struct bio *bio,
					 struct block_device *bdev,
					 sector_t sector, sector_t count);
void diff_area_set_state(struct diff_area *da, int state);
void diff_area_image_read(struct diff_area *da, struct bio *bio);
bool diff_area_copy_chunks(struct diff_area *da, unsigned long first,
			   unsigned long last);
void diff_area_image_done(struct image_io *io, blk_status_t status);
void diff_area_run_waiters(struct list_head *waiters);
bool diff_area_has_readers(struct diff_area *da, unsigned long chunk);
bool diff_area_cows(struct diff_area *da);
void diff_area_broken(struct diff_area *da, int error);
void diff_area_chunk_passed(struct diff_area *da, unsigned long chunk);

/* Whether &diff_area.passed has the bits of chunks [@first, @last] set. */
static __always_inline bool diff_area_passed(struct diff_area *da,
					     unsigned long first,
					     unsigned long last)
{
	unsigned long n, *bits;

	for (n = first; n <= last; n++) {
		/* The page was zeroed before it was published (cmpxchg). */
		bits = READ_ONCE(da->passed[n / DIFF_AREA_PASSED_BITS]);
		if (!bits || !test_bit(n % DIFF_AREA_PASSED_BITS, bits))
			return false;
	}
	return true;
}

/**
 * diff_area_bio_passes() - whether a counted write surely goes on in @da:
 *	the snapshot is active and every chunk the write changes was copied.
 * @da: a device's copy-on-write, found under RCU.
 * @bdev: as for diff_area_submit_bio().
 * @sector: as for diff_area_submit_bio().
 * @count: as for diff_area_submit_bio().
 *
 * The bits only, inline in the counting: a write to copied chunks, the
 * common one in a long snapshot, then needs no call for its decision.
 * False is no verdict: diff_area_submit_bio() decides then.
 *
 * Context: the RCU read-side section in which the write was counted.
 */
static __always_inline bool diff_area_bio_passes(struct diff_area *da,
						 struct block_device *bdev,
						 sector_t sector,
						 sector_t count)
{
	if (READ_ONCE(da->state) != DIFF_AREA_ACTIVE)
		return false;
	if (bdev && bdev_nr_sectors(bdev) != da->capacity)
		return false;
	if (sector >= da->capacity)
		return false;
	count = min(count, da->capacity - sector);
	return diff_area_passed(da, sector >> da->chunk_shift,
				(sector + count - 1) >> da->chunk_shift);
}

static inline void diff_area_io_get(struct diff_area *da)
{
	atomic_inc(&da->ios);
}

static inline void diff_area_io_put(struct diff_area *da)
{
	if (atomic_dec_and_test(&da->ios))
		complete(&da->ios_done);
}

static inline sector_t diff_area_chunk_sector(struct diff_area *da,
					      unsigned long chunk)
{
	return (sector_t)chunk << da->chunk_shift;
}

#endif /* __BLKSNAP_DIFF_AREA_H */
