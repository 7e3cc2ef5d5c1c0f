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

static int diff_storage_open_bdev(struct diff_storage *ds, struct file *user,
				  u64 limit, void *holder)
{
	struct block_device *bdev;
	u64 size;
	int ret;

	if (!(user->f_mode & FMODE_WRITE))
		return -EBADF;
	ret = compat_bdev_open_excl(file_inode(user)->i_rdev, holder,
				    &ds->bdev);
	if (ret)
		return ret == -ENXIO ? -ENODEV : ret;
	bdev = ds->bdev.bdev;
	size = round_down(bdev_nr_bytes(bdev), DIFF_STORAGE_ALIGN);
	if (bdev_read_only(bdev))
		ret = -EROFS;
	else if (limit > size || !size)
		ret = -ENOSPC;
	if (ret) {
		compat_bdev_close(&ds->bdev);
		return ret;
	}
	ds->kind = BLKSNAP_STORAGE_BDEV;
	ds->dev = bdev->bd_dev;
	ds->limit = limit ? limit : size;
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

static int diff_storage_open_file(struct diff_storage *ds, struct file *user,
				  u64 limit)
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
		ds->kind = BLKSNAP_STORAGE_FILE;
	} else {
		if (!limit)
			return -EINVAL;
		file = diff_storage_tmpfile(user);
		ds->kind = BLKSNAP_STORAGE_TMPFILE;
	}
	if (IS_ERR(file))
		return PTR_ERR(file);
	/* Reserve it all now: the copy path must never find the disk full. */
	ret = vfs_fallocate(file, 0, 0, limit);
	if (ret) {
		fput(file);
		return ret;
	}
	ds->file = file;
	ds->direct = file->f_flags & O_DIRECT;
	ds->fs_bdev = file_inode(file)->i_sb->s_bdev;
	ds->dev = file_inode(file)->i_sb->s_dev;
	ds->limit = limit;
	return 0;
}

/**
 * diff_storage_open() - set up the storage a user named by a descriptor.
 * @fd: a block device, a regular file or a directory; see
 *	&struct blksnap_snapshot_create for what each means.
 * @limit: bytes, rounded down to a page; 0 for all of a device or file.
 * @holder: the exclusive holder of a block device.
 * @events: where to raise low free space.
 *
 * Return: the storage, or ERR_PTR() with the errno the UAPI header gives.
 */
struct diff_storage *diff_storage_open(int fd, u64 limit, void *holder,
				       struct event_queue *events)
{
	struct diff_storage *ds;
	struct file *user;
	umode_t mode;
	int ret;

	if (limit && limit < DIFF_STORAGE_ALIGN)
		return ERR_PTR(-EINVAL);
	limit = round_down(limit, DIFF_STORAGE_ALIGN);
	user = fget(fd);
	if (!user)
		return ERR_PTR(-EBADF);
	ds = kzalloc(sizeof(*ds), GFP_KERNEL);
	if (!ds) {
		fput(user);
		return ERR_PTR(-ENOMEM);
	}
	spin_lock_init(&ds->lock);
	mode = file_inode(user)->i_mode;
	if (S_ISBLK(mode))
		ret = diff_storage_open_bdev(ds, user, limit, holder);
	else if (S_ISREG(mode) || S_ISDIR(mode))
		ret = diff_storage_open_file(ds, user, limit);
	else
		ret = -EOPNOTSUPP;
	fput(user);
	if (ret) {
		kfree(ds);
		return ERR_PTR(ret);
	}
	ds->low_free = min_t(u64, (u64)storage_low_free_mib << 20,
			     ds->limit / 2);
	ds->events = events;
	return ds;
}

/**
 * diff_storage_close() - release the storage; a temporary file disappears.
 * @ds: the storage, with no I/O in flight.
 */
void diff_storage_close(struct diff_storage *ds)
{
	if (ds->file)
		fput(ds->file);
	else
		compat_bdev_close(&ds->bdev);
	kfree(ds);
}

/**
 * diff_storage_alloc() - take space for one chunk.
 * @ds: the storage.
 * @bytes: the chunk's size; rounded up to a page.
 * @offset: receives the byte offset of the space.
 *
 * The allocation that leaves less than @ds->low_free bytes free raises
 * LOW_FREE_SPACE, under the lock: it is queued before the OVERFLOW of any
 * allocation that fails after it.
 *
 * Context: any.
 * Return: 0, or -ENOSPC when the limit would be passed.
 */
int diff_storage_alloc(struct diff_storage *ds, u32 bytes, u64 *offset)
{
	u64 len = round_up(bytes, DIFF_STORAGE_ALIGN);
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&ds->lock, flags);
	if (ds->used + len > ds->limit) {
		ret = -ENOSPC;
	} else {
		*offset = ds->used;
		ds->used += len;
		if (!ds->low && ds->limit - ds->used < ds->low_free) {
			ds->low = true;
			event_queue_raise(ds->events,
					  BLKSNAP_EVENT_LOW_FREE_SPACE, 0, 0,
					  ds->used, ds->limit);
		}
	}
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
	unsigned long flags;
	u64 used;

	spin_lock_irqsave(&ds->lock, flags);
	used = ds->used;
	spin_unlock_irqrestore(&ds->lock, flags);
	return used;
}

static int diff_storage_bio(struct diff_storage *ds, blk_opf_t opf,
			    u64 offset, struct bio_vec *bvec, u32 nr_pages)
{
	struct bio *bio;
	int ret;
	u32 i;

	/* Chunks are at most 1 MiB: BIO_MAX_VECS pages. */
	bio = bio_alloc_bioset(ds->bdev.bdev, nr_pages, opf, GFP_NOIO,
			       &chunk_io_bioset);
	bio->bi_iter.bi_sector = offset >> SECTOR_SHIFT;
	for (i = 0; i < nr_pages; i++)
		__bio_add_page(bio, bvec[i].bv_page, bvec[i].bv_len,
			       bvec[i].bv_offset);
	ret = submit_bio_wait(bio);
	bio_put(bio);
	return ret;
}

static int diff_storage_file_io(struct diff_storage *ds, int dir, u64 offset,
				struct bio_vec *bvec, u32 nr_pages)
{
	size_t len = (size_t)nr_pages << PAGE_SHIFT;
	struct file *file = ds->file;
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

/**
 * diff_storage_write() - write whole pages at an offset handed out before.
 * @ds: the storage.
 * @offset: from diff_storage_alloc().
 * @bvec: page-sized entries.
 * @nr_pages: their number, at most BIO_MAX_VECS.
 *
 * Context: a worker in a memalloc_noio scope; sleeps.
 * Return: 0 or a negative errno.
 */
int diff_storage_write(struct diff_storage *ds, u64 offset,
		       struct bio_vec *bvec, u32 nr_pages)
{
	if (ds->file)
		return diff_storage_file_io(ds, ITER_SOURCE, offset, bvec,
					    nr_pages);
	return diff_storage_bio(ds, REQ_OP_WRITE, offset, bvec, nr_pages);
}

/**
 * diff_storage_read() - read whole pages back.
 * @ds: the storage.
 * @offset: a page-aligned offset inside space written before.
 * @bvec: page-sized entries.
 * @nr_pages: their number, at most BIO_MAX_VECS.
 *
 * Context: a worker in a memalloc_noio scope; sleeps.
 * Return: 0 or a negative errno.
 */
int diff_storage_read(struct diff_storage *ds, u64 offset,
		      struct bio_vec *bvec, u32 nr_pages)
{
	if (ds->file)
		return diff_storage_file_io(ds, ITER_DEST, offset, bvec,
					    nr_pages);
	return diff_storage_bio(ds, REQ_OP_READ, offset, bvec, nr_pages);
}

static bool diff_storage_overlaps(struct block_device *a,
				  struct block_device *b)
{
	sector_t a_end = a->bd_start_sect + bdev_nr_sectors(a);
	sector_t b_end = b->bd_start_sect + bdev_nr_sectors(b);

	return a->bd_disk == b->bd_disk && a->bd_start_sect < b_end &&
	       b->bd_start_sect < a_end;
}

/**
 * diff_storage_on() - whether the storage lies on a device.
 * @ds: the storage.
 * @bdev: the device.
 *
 * True when the storage device, or the device of the file system holding
 * the storage file, shares sectors with @bdev (the same device, its whole
 * disk or one of its partitions). A file system on a stacked device (LVM,
 * md) over @bdev is not seen.
 *
 * Return: true or false.
 */
bool diff_storage_on(struct diff_storage *ds, struct block_device *bdev)
{
	struct block_device *own = ds->file ? ds->fs_bdev : ds->bdev.bdev;

	return own && diff_storage_overlaps(own, bdev);
}

/**
 * diff_storage_same() - whether two storages are the same file.
 * @a: a storage.
 * @b: another.
 *
 * Two snapshots given one regular file would overwrite each other's data.
 * (Block devices are opened exclusively; temporary files are new.)
 *
 * Return: true for the same file.
 */
bool diff_storage_same(struct diff_storage *a, struct diff_storage *b)
{
	return a->kind == BLKSNAP_STORAGE_FILE && b->kind == a->kind &&
	       file_inode(a->file) == file_inode(b->file);
}
