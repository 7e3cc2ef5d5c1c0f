/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels blksnap builds for lives here, as a
 * small inline wrapper. No other file tests a kernel version.
 *
 * Verified against the headers of 6.1 (Debian 6.1.0) and 6.12 (Debian
 * 6.12.117). Kernels 6.5 to 6.8 changed the block device open API three
 * times; they are refused at build time rather than guessed at.
 */
#ifndef __BLKSNAP_COMPAT_H
#define __BLKSNAP_COMPAT_H

#include <linux/version.h>
#include <linux/blkdev.h>
#include <linux/ftrace.h>
#include <linux/fs.h>
#include <linux/mount.h>

/* get_unaligned_be16() and friends moved to linux/ in 6.12. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0) && \
	LINUX_VERSION_CODE < KERNEL_VERSION(6, 9, 0)
#error "blksnap: kernels 6.5 to 6.8 are not supported"
#endif

/**
 * struct compat_bdev - an open block device.
 * @bdev: the device.
 * @file: the open file on kernels that open block devices as files.
 * @mode: how it was opened, on kernels that need it again to close it.
 */
struct compat_bdev {
	struct block_device *bdev;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct file *file;
#else
	fmode_t mode;
#endif
};

/**
 * struct compat_disk_limits - the queue limits of a new bio-based disk.
 * @logical_block_size: bytes.
 * @physical_block_size: bytes.
 * @io_min: bytes.
 * @max_hw_sectors: largest bio in sectors.
 * @max_segments: most segments in a bio.
 * @max_segment_size: largest segment in bytes.
 * @write_cache: the disk has a volatile write cache and FUA, so that
 *	flushes and FUA writes reach its submit_bio instead of being ended
 *	by the block layer.
 */
struct compat_disk_limits {
	unsigned int logical_block_size;
	unsigned int physical_block_size;
	unsigned int io_min;
	unsigned int max_hw_sectors;
	unsigned short max_segments;
	unsigned int max_segment_size;
	bool write_cache;
};

/* Where a disk's write cache is declared: queue limits since 6.11. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
static inline void compat_limits_write_cache(struct queue_limits *lim,
					     bool on)
{
	if (on)
		lim->features |= BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA;
}

static inline void compat_disk_write_cache(struct gendisk *disk, bool on)
{
}
#else
static inline void compat_limits_write_cache(struct queue_limits *lim,
					     bool on)
{
}

static inline void compat_disk_write_cache(struct gendisk *disk, bool on)
{
	blk_queue_write_cache(disk->queue, on, on);
}
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)

static inline int compat_bdev_open(dev_t dev, struct compat_bdev *h)
{
	struct file *file;

	file = bdev_file_open_by_dev(dev, BLK_OPEN_READ, NULL, NULL);
	if (IS_ERR(file))
		return PTR_ERR(file);
	h->file = file;
	h->bdev = file_bdev(file);
	return 0;
}

/* Read-write and exclusive: nobody else may open it exclusively meanwhile. */
static inline int compat_bdev_open_excl(dev_t dev, void *holder,
					struct compat_bdev *h)
{
	struct file *file;

	file = bdev_file_open_by_dev(dev, BLK_OPEN_READ | BLK_OPEN_WRITE,
				     holder, NULL);
	if (IS_ERR(file))
		return PTR_ERR(file);
	h->file = file;
	h->bdev = file_bdev(file);
	return 0;
}

static inline void compat_bdev_close(struct compat_bdev *h)
{
	fput(h->file);
}

/*
 * Freeze the file system on @bdev, if any. Return: 1 a file system was
 * frozen, 0 none was (the device was only flushed), or a negative errno.
 */
static inline int compat_bdev_freeze(struct block_device *bdev)
{
	/* Only file systems give their holder a freeze method. */
	const struct blk_holder_ops *ops = READ_ONCE(bdev->bd_holder_ops);
	bool fs = ops && ops->freeze;
	int ret = bdev_freeze(bdev);

	return ret ? ret : fs;
}

static inline int compat_bdev_thaw(struct block_device *bdev)
{
	return bdev_thaw(bdev);
}

static inline struct gendisk *
compat_alloc_disk(const struct compat_disk_limits *l)
{
	struct queue_limits lim = {
		.logical_block_size = l->logical_block_size,
		.physical_block_size = l->physical_block_size,
		.io_min = l->io_min,
		.max_hw_sectors = l->max_hw_sectors,
		.max_segments = l->max_segments,
		.max_segment_size = l->max_segment_size,
	};
	struct gendisk *disk;

	compat_limits_write_cache(&lim, l->write_cache);
	disk = blk_alloc_disk(&lim, NUMA_NO_NODE);
	if (!IS_ERR(disk))
		compat_disk_write_cache(disk, l->write_cache);
	return disk;
}

static inline struct file *compat_tmpfile_open(const struct path *dir,
					       int flags)
{
	return kernel_tmpfile_open(mnt_idmap(dir->mnt), dir, S_IFREG | 0600, flags,
				   current_cred());
}

#else

static inline int compat_bdev_open(dev_t dev, struct compat_bdev *h)
{
	struct block_device *bdev;

	bdev = blkdev_get_by_dev(dev, FMODE_READ, NULL);
	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	h->bdev = bdev;
	h->mode = FMODE_READ;
	return 0;
}

static inline int compat_bdev_open_excl(dev_t dev, void *holder,
					struct compat_bdev *h)
{
	fmode_t mode = FMODE_READ | FMODE_WRITE | FMODE_EXCL;
	struct block_device *bdev;

	bdev = blkdev_get_by_dev(dev, mode, holder);
	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	h->bdev = bdev;
	h->mode = mode;
	return 0;
}

static inline void compat_bdev_close(struct compat_bdev *h)
{
	blkdev_put(h->bdev, h->mode);
}

static inline int compat_bdev_freeze(struct block_device *bdev)
{
	int ret = freeze_bdev(bdev);

	/* freeze_bdev() records the super block it froze. */
	return ret ? ret : !!bdev->bd_fsfreeze_sb;
}

static inline int compat_bdev_thaw(struct block_device *bdev)
{
	return thaw_bdev(bdev);
}

static inline struct gendisk *
compat_alloc_disk(const struct compat_disk_limits *l)
{
	struct gendisk *disk = blk_alloc_disk(NUMA_NO_NODE);

	if (!disk)
		return ERR_PTR(-ENOMEM);
	blk_queue_logical_block_size(disk->queue, l->logical_block_size);
	blk_queue_physical_block_size(disk->queue, l->physical_block_size);
	blk_queue_io_min(disk->queue, l->io_min);
	blk_queue_max_hw_sectors(disk->queue, l->max_hw_sectors);
	blk_queue_max_segments(disk->queue, l->max_segments);
	blk_queue_max_segment_size(disk->queue, l->max_segment_size);
	compat_disk_write_cache(disk, l->write_cache);
	return disk;
}

static inline struct file *compat_tmpfile_open(const struct path *dir,
					       int flags)
{
	return vfs_tmpfile_open(mnt_user_ns(dir->mnt), dir, S_IFREG | 0600, flags,
				current_cred());
}

#endif

/*
 * Whether the disk can be written without bios: ->rw_page (brd, zram, pmem,
 * btt), used by swap and mpage writeback, existed until 6.3.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
static inline bool compat_bdev_writes_without_bios(struct block_device *bdev)
{
	return bdev->bd_disk->fops->rw_page;
}
#else
static inline bool compat_bdev_writes_without_bios(struct block_device *bdev)
{
	return false;
}
#endif

/*
 * A reference to the block device that has a number, without opening it
 * (an open, however brief, makes dmsetup remove or BLKRRPART fail with
 * EBUSY): what the block layer's blkdev_get_no_open() does, which is not
 * exported, minus loading a driver. The reference keeps the structure (and
 * its disk) in memory, nothing more. Same on 6.1 and 6.12.
 */
static inline struct block_device *compat_bdev_get(dev_t dev)
{
	struct block_device *bdev;
	struct inode *inode;

	inode = ilookup(blockdev_superblock, dev);
	if (!inode)
		return NULL;
	bdev = I_BDEV(inode);
	if (!kobject_get_unless_zero(&bdev->bd_device.kobj))
		bdev = NULL;
	iput(inode);
	return bdev;
}

static inline void compat_bdev_put(struct block_device *bdev)
{
	put_device(&bdev->bd_device);
}

/*
 * Redirect a traced function to @ip. The setter was renamed between 6.1 and
 * 6.12; test for the macro itself, which each architecture header defines,
 * so the kernel that introduced the rename need not be guessed.
 */
#ifdef ftrace_regs_set_instruction_pointer
static __always_inline void compat_ftrace_set_ip(struct ftrace_regs *fregs,
						 unsigned long ip)
{
	ftrace_regs_set_instruction_pointer(fregs, ip);
}
#elif defined(ftrace_instruction_pointer_set)
static __always_inline void compat_ftrace_set_ip(struct ftrace_regs *fregs,
						 unsigned long ip)
{
	ftrace_instruction_pointer_set(fregs, ip);
}
#else
#error "blksnap: this architecture cannot redirect a traced function"
#endif

/*
 * Argument @n of a traced function, from its ftrace_regs. 6.12 has an
 * accessor; on 6.1 x86, struct ftrace_regs is a pt_regs whose argument
 * registers the trampoline saves even without FTRACE_OPS_FL_SAVE_REGS.
 */
#ifdef ftrace_regs_get_argument
#define compat_ftrace_argument(fregs, n) ftrace_regs_get_argument(fregs, n)
#else
#define compat_ftrace_argument(fregs, n) \
	regs_get_kernel_argument(&(fregs)->regs, n)
#endif

/*
 * Where the trampoline saves the argument registers and honours a new
 * instruction pointer without a full pt_regs (x86 since 5.11, as
 * livepatch relies on), the cheaper trampoline suffices.
 */
#ifdef CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS
#define COMPAT_FTRACE_OPS_FL_REGS 0
#else
#define COMPAT_FTRACE_OPS_FL_REGS FTRACE_OPS_FL_SAVE_REGS
#endif

#endif /* __BLKSNAP_COMPAT_H */
