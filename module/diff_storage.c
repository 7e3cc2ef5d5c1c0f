// SPDX-License-Identifier: GPL-2.0
/*
 * The difference storage: space for the original data of copied chunks, on
 * a block device (raw bios), in a regular file or in an unnamed temporary
 * file. All of it is reserved when the snapshot is created (a device is
 * used up to the limit, a file is fallocated), so a copy never waits for a
 * file system to find room, and the only way to run out is the limit.
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
#include <linux/slab.h>
#include <linux/uio.h>
#include <uapi/linux/blksnap.h>
#include "chunk.h"
#include "diff_storage.h"
#include "event_queue.h"
#include "params.h"

#define DIFF_STORAGE_ALIGN PAGE_SIZE
#define DIFF_STORAGE_OFFSET_MASK (BIT_ULL(DIFF_STORAGE_AREA_SHIFT) - 1)

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
	/* Reserve it all now: the copy path must never find the disk full. */
	ret = vfs_fallocate(file, 0, 0, limit);
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

/* Raises LOW_FREE_SPACE the first time free space is below the margin. */
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
	ds->low_free = min_t(u64, (u64)storage_low_free_mib << 20,
			     ds->limit / 2);
	spin_unlock_irqrestore(&ds->lock, flags);
	return 0;
}

/**
 * diff_storage_alloc() - take space for one chunk.
 * @ds: the storage.
 * @bytes: the chunk's size; rounded up to a page.
 * @pos: receives the position of the space (area and offset).
 *
 * Space comes from the areas in order; the tail of an area too short for
 * the chunk is left unused. The allocation that leaves less than
 * @ds->low_free bytes free raises LOW_FREE_SPACE, under the lock: it is
 * queued before the OVERFLOW of any allocation that fails after it.
 *
 * Context: any.
 * Return: 0, or -ENOSPC when every area is full.
 */
int diff_storage_alloc(struct diff_storage *ds, u32 bytes, u64 *pos)
{
	u64 len = round_up(bytes, DIFF_STORAGE_ALIGN);
	struct diff_storage_area *area;
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&ds->lock, flags);
	for (;;) {
		area = ds->areas[ds->cur];
		if (area->used + len <= area->limit)
			break;
		if (ds->cur + 1 == ds->nr_areas) {
			ret = -ENOSPC;
			goto out_unlock;
		}
		ds->cur++;
	}
	*pos = (u64)ds->cur << DIFF_STORAGE_AREA_SHIFT | area->used;
	area->used += len;
	ds->used += len;
	__diff_storage_check_low(ds);
out_unlock:
	spin_unlock_irqrestore(&ds->lock, flags);
	return ret;
}

/**
 * diff_storage_usage() - bytes handed out so far, and the limit.
 * @ds: the storage.
 * @used: receives the bytes handed out.
 * @limit: receives the bytes usable.
 *
 * Context: any.
 */
void diff_storage_usage(struct diff_storage *ds, u64 *used, u64 *limit)
{
	unsigned long flags;

	spin_lock_irqsave(&ds->lock, flags);
	*used = ds->used;
	*limit = ds->limit;
	spin_unlock_irqrestore(&ds->lock, flags);
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
	u64 used, limit;

	diff_storage_usage(ds, &used, &limit);
	return used;
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
