// SPDX-License-Identifier: GPL-2.0
/*
 * The difference storage: space for the original data of copied chunks, in
 * areas used one after the other: the storage the snapshot was created
 * with, then each one added to it. An area is a block device (raw bios), a
 * regular file or an unnamed temporary file.
 *
 * A device is all there from the start. A file starts with one step
 * fallocated and grows by a step at a time, up to its limit, from a
 * worker: when less than half a step is left ready, the allocation that
 * sees it queues the growth, so copies find room ready and never wait for
 * the file system unless they outrun it. A copy that finds no ready room
 * while its area can still grow waits for the growth (at most
 * DIFF_STORAGE_GROW_WAIT), never the bio path: allocation is done by the
 * store worker only. A growth that fails (the file system is full) caps
 * the area at what it has; when the areas are used up, the copy fails
 * with ENOSPC and the snapshot overflows.
 *
 * I/O is synchronous and done only by workers (chunk.c, snapimage.c),
 * never in a bio submission or completion path: file systems may sleep,
 * allocate and take locks. Files use direct I/O where their file system
 * offers it, so the storage does not fill the page cache; tmpfs on kernels
 * without O_DIRECT for it keeps the data in its own pages either way.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-diff_storage: " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <uapi/linux/blksnap.h>
#include "chunk.h"
#include "diff_storage.h"
#include "event_queue.h"
#include "params.h"

#define DIFF_STORAGE_ALIGN PAGE_SIZE
#define DIFF_STORAGE_OFFSET_MASK (BIT_ULL(DIFF_STORAGE_AREA_SHIFT) - 1)
/* A file grows by an eighth of its limit at a time, within these bounds. */
#define DIFF_STORAGE_STEP_MIN (4ULL << 20)
/*
 * Longest wait of a copy for a growth step: a file system that takes
 * longer to fallocate one step is treated as full, so a stuck file system
 * overflows the snapshot rather than holding its chunk buffers (and with
 * them the writes waiting for buffers) for ever.
 */
#define DIFF_STORAGE_GROW_WAIT (30 * HZ)

static int diff_storage_open_bdev(struct diff_storage_area *area,
				  struct file *user, u64 limit, void *holder)
{
	struct block_device *bdev;
	u64 size;
	int ret;

	if (!(user->f_mode & FMODE_WRITE))
		return -EBADF;
	ret = compat_bdev_open_excl(file_inode(user)->i_rdev, holder,
				    &area->bdev);
	if (ret)
		return ret == -ENXIO ? -ENODEV : ret;
	bdev = area->bdev.bdev;
	size = round_down(bdev_nr_bytes(bdev), DIFF_STORAGE_ALIGN);
	if (bdev_read_only(bdev))
		ret = -EROFS;
	else if (limit > size || !size)
		ret = -ENOSPC;
	if (ret) {
		compat_bdev_close(&area->bdev);
		return ret;
	}
	area->kind = BLKSNAP_STORAGE_BDEV;
	area->dev = bdev->bd_dev;
	area->limit = min(limit ? limit : size, DIFF_STORAGE_OFFSET_MASK + 1);
	area->size = area->limit;
	return 0;
}

/* Direct I/O where the file system has it; buffered otherwise (tmpfs). */
static struct file *diff_storage_reopen(struct file *user)
{
	struct file *file;

	file = dentry_open(&user->f_path, O_RDWR | O_LARGEFILE | O_DIRECT,
			   current_cred());
	if (PTR_ERR_OR_ZERO(file) == -EINVAL)
		file = dentry_open(&user->f_path, O_RDWR | O_LARGEFILE,
				   current_cred());
	return file;
}

static struct file *diff_storage_tmpfile(struct file *dir)
{
	struct file *file;
	int ret;

	ret = mnt_want_write(dir->f_path.mnt);
	if (ret)
		return ERR_PTR(ret);
	file = compat_tmpfile_open(&dir->f_path,
				   O_RDWR | O_LARGEFILE | O_DIRECT);
	if (PTR_ERR_OR_ZERO(file) == -EINVAL)
		file = compat_tmpfile_open(&dir->f_path, O_RDWR | O_LARGEFILE);
	mnt_drop_write(dir->f_path.mnt);
	return file;
}

static int diff_storage_open_file(struct diff_storage_area *area,
				  struct file *user, u64 limit)
{
	struct inode *inode = file_inode(user);
	struct file *file;
	int ret;

	if (S_ISREG(inode->i_mode)) {
		if (!(user->f_mode & FMODE_WRITE))
			return -EBADF;
		if (!limit)
			limit = round_down(i_size_read(inode),
					   DIFF_STORAGE_ALIGN);
		if (!limit)
			return -EINVAL;
		file = diff_storage_reopen(user);
		area->kind = BLKSNAP_STORAGE_FILE;
	} else {
		if (!limit)
			return -EINVAL;
		file = diff_storage_tmpfile(user);
		area->kind = BLKSNAP_STORAGE_TMPFILE;
	}
	if (IS_ERR(file))
		return PTR_ERR(file);
	limit = min(limit, DIFF_STORAGE_OFFSET_MASK + 1);
	area->step = clamp_t(u64, round_up(limit / 8, DIFF_STORAGE_ALIGN),
			     DIFF_STORAGE_STEP_MIN,
			     (u64)storage_grow_step_mib << 20);
	area->size = min(limit, area->step);
	/* Too large for the file system: it could never grow that far. */
	ret = limit > file_inode(file)->i_sb->s_maxbytes ? -EFBIG :
	      vfs_fallocate(file, 0, 0, area->size);
	if (ret) {
		fput(file);
		return ret;
	}
	area->file = file;
	area->direct = file->f_flags & O_DIRECT;
	area->fs_bdev = file_inode(file)->i_sb->s_bdev;
	area->dev = file_inode(file)->i_sb->s_dev;
	area->limit = limit;
	return 0;
}

/**
 * diff_storage_area_open() - set up storage a user named by a descriptor.
 * @fd: a block device, a regular file or a directory; see
 *	&struct blksnap_snapshot_create for what each means.
 * @limit: bytes, rounded down to a page; 0 for all of a device or file.
 * @holder: the exclusive holder of a block device.
 *
 * Return: the area, or ERR_PTR() with the errno the UAPI header gives.
 */
struct diff_storage_area *diff_storage_area_open(int fd, u64 limit,
						 void *holder)
{
	struct diff_storage_area *area;
	struct file *user;
	umode_t mode;
	int ret;

	if (limit && limit < DIFF_STORAGE_ALIGN)
		return ERR_PTR(-EINVAL);
	limit = round_down(limit, DIFF_STORAGE_ALIGN);
	user = fget(fd);
	if (!user)
		return ERR_PTR(-EBADF);
	area = kzalloc(sizeof(*area), GFP_KERNEL);
	if (!area) {
		fput(user);
		return ERR_PTR(-ENOMEM);
	}
	mode = file_inode(user)->i_mode;
	if (S_ISBLK(mode))
		ret = diff_storage_open_bdev(area, user, limit, holder);
	else if (S_ISREG(mode) || S_ISDIR(mode))
		ret = diff_storage_open_file(area, user, limit);
	else
		ret = -EOPNOTSUPP;
	fput(user);
	if (ret) {
		kfree(area);
		return ERR_PTR(ret);
	}
	return area;
}

/**
 * diff_storage_area_close() - release an area; a temporary file disappears.
 * @area: the area, with no I/O in flight.
 */
void diff_storage_area_close(struct diff_storage_area *area)
{
	if (area->file)
		fput(area->file);
	else
		compat_bdev_close(&area->bdev);
	kfree(area);
}

/* Raises LOW_FREE_SPACE the first time free space is below the margin. */
static void __diff_storage_check_low(struct diff_storage *ds);

/* Extends the current area's file by one step; caps it if that fails. */
static void diff_storage_grow_work(struct work_struct *work)
{
	struct diff_storage *ds = container_of(work, struct diff_storage,
					       grow_work);
	struct diff_storage_area *area;
	unsigned int noio;
	unsigned long flags;
	u64 from, len;
	int ret;

	spin_lock_irqsave(&ds->lock, flags);
	area = ds->areas[ds->cur];
	from = area->size;
	len = min(area->step, area->limit - area->size);
	spin_unlock_irqrestore(&ds->lock, flags);

	ret = 0;
	if (len) {
		/* Reclaim must not write to a device waiting for our copies. */
		noio = memalloc_noio_save();
		ret = vfs_fallocate(area->file, 0, from, len);
		memalloc_noio_restore(noio);
	}

	spin_lock_irqsave(&ds->lock, flags);
	if (ret) {
		pr_warn("storage %u:%u cannot grow past %llu of %llu bytes (error %d)\n",
			MAJOR(area->dev), MINOR(area->dev), area->size,
			area->limit, ret);
		ds->limit -= area->limit - area->size;
		area->limit = area->size;
		__diff_storage_check_low(ds);
	} else {
		area->size += len;
		area->grown++;
		ds->size += len;
	}
	ds->growing = false;
	spin_unlock_irqrestore(&ds->lock, flags);
	wake_up_all(&ds->grow_wq);
}

/* Queues the growth of the current area, unless it is on its way. */
static void __diff_storage_grow(struct diff_storage *ds)
{
	lockdep_assert_held(&ds->lock);
	if (ds->growing)
		return;
	ds->growing = true;
	queue_work(system_unbound_wq, &ds->grow_work);
}

/**
 * diff_storage_new() - an empty storage; diff_storage_add() gives it space.
 * @events: where to raise low free space.
 *
 * Return: the storage or NULL.
 */
struct diff_storage *diff_storage_new(struct event_queue *events)
{
	struct diff_storage *ds = kzalloc(sizeof(*ds), GFP_KERNEL);

	if (!ds)
		return NULL;
	spin_lock_init(&ds->lock);
	INIT_WORK(&ds->grow_work, diff_storage_grow_work);
	init_waitqueue_head(&ds->grow_wq);
	ds->events = events;
	return ds;
}

/**
 * diff_storage_free() - close every area and free the storage.
 * @ds: the storage, with no I/O in flight.
 */
void diff_storage_free(struct diff_storage *ds)
{
	u32 i;

	cancel_work_sync(&ds->grow_work);
	for (i = 0; i < ds->nr_areas; i++)
		diff_storage_area_close(ds->areas[i]);
	kfree(ds);
}

static u64 __diff_storage_free_bytes(struct diff_storage *ds)
{
	u64 free = 0;
	u32 i;

	lockdep_assert_held(&ds->lock);
	/* The tail of an area left behind is too short for a chunk. */
	for (i = ds->cur; i < ds->nr_areas; i++)
		free += ds->areas[i]->limit - ds->areas[i]->used;
	return free;
}

static void __diff_storage_check_low(struct diff_storage *ds)
{
	lockdep_assert_held(&ds->lock);
	if (ds->low || __diff_storage_free_bytes(ds) >= ds->low_free)
		return;
	ds->low = true;
	event_queue_raise(ds->events, BLKSNAP_EVENT_LOW_FREE_SPACE, 0, 0,
			  ds->used, ds->limit);
}

/**
 * diff_storage_add() - give the storage one more area.
 * @ds: the storage.
 * @area: from diff_storage_area_open(), checked against the snapshots;
 *	@ds owns it from now on when 0 is returned.
 *
 * Re-arms LOW_FREE_SPACE: the next allocation that leaves less free space
 * than the margin raises it again.
 *
 * Context: the snapshot's lock held (one add at a time).
 * Return: 0, or -E2BIG when @ds has DIFF_STORAGE_AREAS_MAX areas.
 */
int diff_storage_add(struct diff_storage *ds, struct diff_storage_area *area)
{
	unsigned long flags;

	if (ds->nr_areas == DIFF_STORAGE_AREAS_MAX)
		return -E2BIG;
	spin_lock_irqsave(&ds->lock, flags);
	ds->areas[ds->nr_areas] = area;
	ds->nr_areas++;
	ds->limit += area->limit;
	ds->size += area->size;
	ds->low_free = min_t(u64, (u64)storage_low_free_mib << 20,
			     ds->limit / 2);
	ds->low = false;
	spin_unlock_irqrestore(&ds->lock, flags);
	return 0;
}

/*
 * The space for @len bytes: 0 with *@pos set, -EAGAIN when the current area
 * will have room once it grew, -ENOSPC when every area is full.
 */
static int __diff_storage_take(struct diff_storage *ds, u64 len, u64 *pos)
{
	struct diff_storage_area *area;

	lockdep_assert_held(&ds->lock);
	for (;;) {
		area = ds->areas[ds->cur];
		if (area->used + len <= area->size)
			break;
		if (area->used + len <= area->limit) {
			area->waits++;
			__diff_storage_grow(ds);
			return -EAGAIN;
		}
		if (ds->cur + 1 == ds->nr_areas)
			return -ENOSPC;
		ds->cur++;
	}
	*pos = (u64)ds->cur << DIFF_STORAGE_AREA_SHIFT | area->used;
	area->used += len;
	ds->used += len;
	if (area->size < area->limit && area->size - area->used < area->step / 2)
		__diff_storage_grow(ds);
	__diff_storage_check_low(ds);
	return 0;
}

/**
 * diff_storage_alloc() - take space for one chunk.
 * @ds: the storage.
 * @bytes: the chunk's size; rounded up to a page.
 * @pos: receives the position of the space (area and offset).
 *
 * Space comes from the areas in order; the tail of an area too short for
 * the chunk is left unused. When the current area has no ready room but
 * can grow, waits for its growth, at most DIFF_STORAGE_GROW_WAIT in all.
 * The allocation that leaves less than @ds->low_free bytes free raises
 * LOW_FREE_SPACE, under the lock: it is queued before the OVERFLOW of any
 * allocation that fails after it.
 *
 * Context: a worker; may sleep while the storage grows.
 * Return: 0, or -ENOSPC when every area is full or growth took too long.
 */
int diff_storage_alloc(struct diff_storage *ds, u32 bytes, u64 *pos)
{
	unsigned long deadline = jiffies + DIFF_STORAGE_GROW_WAIT;
	u64 len = round_up(bytes, DIFF_STORAGE_ALIGN);
	unsigned long flags;
	long left;
	int ret;

	for (;;) {
		spin_lock_irqsave(&ds->lock, flags);
		ret = __diff_storage_take(ds, len, pos);
		spin_unlock_irqrestore(&ds->lock, flags);
		if (ret != -EAGAIN)
			return ret;
		left = (long)(deadline - jiffies);
		if (left <= 0 ||
		    !wait_event_timeout(ds->grow_wq, !READ_ONCE(ds->growing),
					left))
			break;
	}
	pr_warn_ratelimited("storage did not grow within %u s: treated as full\n",
			    DIFF_STORAGE_GROW_WAIT / HZ);
	return -ENOSPC;
}

/**
 * diff_storage_usage() - bytes handed out so far, ready, and the limit.
 * @ds: the storage.
 * @used: receives the bytes handed out.
 * @size: receives the bytes ready (devices, and what files have grown to).
 * @limit: receives the bytes usable.
 *
 * Context: any.
 */
void diff_storage_usage(struct diff_storage *ds, u64 *used, u64 *size,
			u64 *limit)
{
	unsigned long flags;

	spin_lock_irqsave(&ds->lock, flags);
	*used = ds->used;
	*size = ds->size;
	*limit = ds->limit;
	spin_unlock_irqrestore(&ds->lock, flags);
}

/**
 * diff_storage_alloc_batch() - take space for several chunks at once.
 * @ds: the storage.
 * @bytes: their sizes, each rounded up to a page, added up.
 * @pos: receives the position of the space, in one area.
 *
 * Only when the current area has the space ready and taking it raises no
 * event: an event names the allocation of the chunk that caused it, and a
 * wait for growth or a move to the next area is diff_storage_alloc()'s, so
 * the caller then takes the space chunk by chunk with it.
 *
 * Context: any; takes an irq-safe spinlock.
 * Return: 0, or -EAGAIN: allocate chunk by chunk.
 */
int diff_storage_alloc_batch(struct diff_storage *ds, u32 bytes, u64 *pos)
{
	u64 len = round_up(bytes, DIFF_STORAGE_ALIGN);
	struct diff_storage_area *area;
	unsigned long flags;
	int ret = -EAGAIN;

	spin_lock_irqsave(&ds->lock, flags);
	area = ds->areas[ds->cur];
	if (area->used + len <= area->size &&
	    (ds->low || __diff_storage_free_bytes(ds) >= ds->low_free + len))
		ret = __diff_storage_take(ds, len, pos);
	spin_unlock_irqrestore(&ds->lock, flags);
	return ret;
}

/**
 * diff_storage_used() - bytes handed out so far.
 * @ds: the storage.
 *
 * Context: any.
 * Return: the bytes.
 */
u64 diff_storage_used(struct diff_storage *ds)
{
	u64 used, size, limit;

	diff_storage_usage(ds, &used, &size, &limit);
	return used;
}

/**
 * diff_storage_show() - one debugfs line an area: "  area N: KIND MAJ:MIN
 *	used U ready S of L bytes, grown G, waits W".
 * @ds: the storage.
 * @m: the debugfs file.
 * @kinds: the names of the BLKSNAP_STORAGE_* values.
 */
void diff_storage_show(struct diff_storage *ds, struct seq_file *m,
		       const char *const *kinds)
{
	struct diff_storage_area *a;
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&ds->lock, flags);
	for (i = 0; i < ds->nr_areas; i++) {
		a = ds->areas[i];
		seq_printf(m, "  area %u: %s %u:%u used %llu ready %llu of %llu bytes, grown %llu, waits %llu\n",
			   i, kinds[a->kind], MAJOR(a->dev), MINOR(a->dev),
			   a->used, a->size, a->limit, a->grown, a->waits);
	}
	spin_unlock_irqrestore(&ds->lock, flags);
}

static int diff_storage_bio(struct diff_storage_area *area, blk_opf_t opf,
			    u64 offset, struct bio_vec *bvec, u32 nr_pages)
{
	struct bio *bio;
	int ret;
	u32 i;

	/* Chunks are at most 1 MiB: BIO_MAX_VECS pages. */
	bio = bio_alloc_bioset(area->bdev.bdev, nr_pages, opf, GFP_NOIO,
			       &chunk_io_bioset);
	bio->bi_iter.bi_sector = offset >> SECTOR_SHIFT;
	for (i = 0; i < nr_pages; i++)
		__bio_add_page(bio, bvec[i].bv_page, bvec[i].bv_len,
			       bvec[i].bv_offset);
	ret = submit_bio_wait(bio);
	bio_put(bio);
	return ret;
}

static int diff_storage_file_io(struct diff_storage_area *area, int dir,
				u64 offset, struct bio_vec *bvec, u32 nr_pages)
{
	size_t len = (size_t)nr_pages << PAGE_SHIFT;
	struct file *file = area->file;
	struct iov_iter iter;
	struct kiocb kiocb;
	ssize_t ret;

	iov_iter_bvec(&iter, dir, bvec, nr_pages, len);
	init_sync_kiocb(&kiocb, file);
	kiocb.ki_pos = offset;
	if (dir == ITER_SOURCE) {
		file_start_write(file);
		ret = file->f_op->write_iter(&kiocb, &iter);
		file_end_write(file);
	} else {
		ret = file->f_op->read_iter(&kiocb, &iter);
	}
	if (ret < 0)
		return ret;
	return ret == len ? 0 : -EIO;
}

static int diff_storage_io(struct diff_storage *ds, int dir, u64 pos,
			   struct bio_vec *bvec, u32 nr_pages)
{
	/* Set before the allocation that handed out @pos: no lock needed. */
	struct diff_storage_area *area =
		ds->areas[pos >> DIFF_STORAGE_AREA_SHIFT];
	u64 offset = pos & DIFF_STORAGE_OFFSET_MASK;

	if (area->file)
		return diff_storage_file_io(area, dir, offset, bvec, nr_pages);
	return diff_storage_bio(area, dir == ITER_SOURCE ? REQ_OP_WRITE :
				REQ_OP_READ, offset, bvec, nr_pages);
}

/**
 * diff_storage_write() - write whole pages at a position handed out before.
 * @ds: the storage.
 * @pos: from diff_storage_alloc().
 * @bvec: page-sized entries.
 * @nr_pages: their number, at most BIO_MAX_VECS.
 *
 * Context: a worker in a memalloc_noio scope; sleeps.
 * Return: 0 or a negative errno.
 */
int diff_storage_write(struct diff_storage *ds, u64 pos,
		       struct bio_vec *bvec, u32 nr_pages)
{
	return diff_storage_io(ds, ITER_SOURCE, pos, bvec, nr_pages);
}

/**
 * diff_storage_read() - read whole pages back.
 * @ds: the storage.
 * @pos: a page-aligned position inside space written before.
 * @bvec: page-sized entries.
 * @nr_pages: their number, at most BIO_MAX_VECS.
 *
 * Context: a worker in a memalloc_noio scope; sleeps.
 * Return: 0 or a negative errno.
 */
int diff_storage_read(struct diff_storage *ds, u64 pos,
		      struct bio_vec *bvec, u32 nr_pages)
{
	return diff_storage_io(ds, ITER_DEST, pos, bvec, nr_pages);
}

/**
 * diff_storage_flush() - make what was written to the storage durable.
 * @ds: the storage.
 *
 * fdatasync of each file, a cache flush of each device.
 *
 * Context: a worker; sleeps.
 * Return: 0 or the first negative errno.
 */
int diff_storage_flush(struct diff_storage *ds)
{
	struct diff_storage_area *area;
	unsigned long flags;
	u32 i, nr_areas;
	int ret = 0, err;

	spin_lock_irqsave(&ds->lock, flags);
	nr_areas = ds->nr_areas;
	spin_unlock_irqrestore(&ds->lock, flags);
	/* An area is set before it is counted and never changes after. */
	for (i = 0; i < nr_areas; i++) {
		area = ds->areas[i];
		if (area->file)
			err = vfs_fsync(area->file, 1);
		else
			err = blkdev_issue_flush(area->bdev.bdev);
		if (err && !ret)
			ret = err;
	}
	return ret;
}

static bool diff_storage_overlaps(struct block_device *a,
				  struct block_device *b)
{
	sector_t a_end = a->bd_start_sect + bdev_nr_sectors(a);
	sector_t b_end = b->bd_start_sect + bdev_nr_sectors(b);

	return a->bd_disk == b->bd_disk && a->bd_start_sect < b_end &&
	       b->bd_start_sect < a_end;
}

static struct block_device *diff_storage_area_bdev(struct diff_storage_area *a)
{
	return a->file ? a->fs_bdev : a->bdev.bdev;
}

/**
 * diff_storage_area_on() - whether an area lies on a device.
 * @area: the area.
 * @bdev: the device.
 *
 * True when the storage device, or the device of the file system holding
 * the storage file, shares sectors with @bdev (the same device, its whole
 * disk or one of its partitions). A file system on a stacked device (LVM,
 * md) over @bdev is not seen.
 *
 * Return: true or false.
 */
bool diff_storage_area_on(struct diff_storage_area *area,
			  struct block_device *bdev)
{
	struct block_device *own = diff_storage_area_bdev(area);

	return own && diff_storage_overlaps(own, bdev);
}

/**
 * diff_storage_on() - whether any area of the storage lies on a device.
 * @ds: the storage.
 * @bdev: the device.
 *
 * Context: snapshots_mutex held (areas are added under it).
 * Return: true or false.
 */
bool diff_storage_on(struct diff_storage *ds, struct block_device *bdev)
{
	u32 i;

	for (i = 0; i < ds->nr_areas; i++)
		if (diff_storage_area_on(ds->areas[i], bdev))
			return true;
	return false;
}

/**
 * diff_storage_holds() - whether a new area would reuse the storage's space.
 * @ds: a storage.
 * @area: an area not yet added anywhere.
 *
 * Two areas in one regular file would overwrite each other's data, and so
 * would two block devices sharing sectors: exclusive opens keep other
 * holders out, but not the snapshot that already holds one of them.
 * (Temporary files are new.)
 *
 * Context: snapshots_mutex held (areas are added under it).
 * Return: true when they would.
 */
bool diff_storage_holds(struct diff_storage *ds,
			struct diff_storage_area *area)
{
	struct diff_storage_area *a;
	u32 i;

	for (i = 0; i < ds->nr_areas; i++) {
		a = ds->areas[i];
		if (a->kind != area->kind)
			continue;
		if (a->kind == BLKSNAP_STORAGE_FILE &&
		    file_inode(a->file) == file_inode(area->file))
			return true;
		if (a->kind == BLKSNAP_STORAGE_BDEV &&
		    diff_storage_overlaps(a->bdev.bdev, area->bdev.bdev))
			return true;
	}
	return false;
}
