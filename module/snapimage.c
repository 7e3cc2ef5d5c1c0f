// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshot images: one bio-based block device per device of a taken
 * snapshot, with the device's size and block sizes. Reads of up to
 * SNAPIMAGE_MAX_IO bytes are routed by the device's diff_area, which sends
 * a run of chunks still on the device there as one bio. An image is
 * read-only, and writes fail, unless its snapshot was created writable:
 * then writes and flushes go to image_write.c, which keeps them in the
 * difference storage. Discard and write-zeroes are never supported: the
 * limits say so, and the block layer ends them with EOPNOTSUPP.
 *
 * An image is removed (del_gendisk) when its snapshot is destroyed, even if
 * someone holds it open: later reads fail with EIO in the block layer. The
 * diff_area stays until every read already accepted has completed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME "-snapimage: " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include "compat.h"
#include "diff_area.h"
#include "image_write.h"
#include "snapimage.h"

#define SNAPIMAGE_NAME "blksnap-image"
/* Minors of the dynamic major: far more images than snapshots allow. */
#define SNAPIMAGE_MAX 65536
/*
 * The largest image bio, as large as a direct read of BIO_MAX_VECS pages.
 * Not cut into chunks: each bio sent to the device costs a request there.
 * Bounded all the same, since the diff_area looks at the chunks of a bio
 * under a spinlock. The only limit a read is split to (sysfs may lower
 * max_sectors_kb, which a bio-based disk need not follow).
 */
#define SNAPIMAGE_MAX_IO SZ_1M

static int snapimage_major;
static DEFINE_IDA(snapimage_ida);

static void snapimage_submit_bio(struct bio *bio)
{
	struct diff_area *da = bio->bi_bdev->bd_disk->private_data;

	/*
	 * A read needs splitting only where it is larger than the diff_area
	 * takes: the device splits the clone it gets to its own limits, and
	 * walking every segment here first would cost as much again.
	 */
	if (bio_op(bio) != REQ_OP_READ ||
	    bio_sectors(bio) > (SNAPIMAGE_MAX_IO >> SECTOR_SHIFT)) {
		bio = bio_split_to_limits(bio);
		if (!bio)
			return;
	}
	if (bio_op(bio) == REQ_OP_READ) {
		diff_area_image_read(da, bio);
		return;
	}
	if (bio_op(bio) != REQ_OP_WRITE) {
		bio->bi_status = BLK_STS_NOTSUPP;
		bio_endio(bio);
		return;
	}
	/* A read-only image has no write cache: no flush reaches it. */
	if (get_disk_ro(bio->bi_bdev->bd_disk)) {
		bio_io_error(bio);
		return;
	}
	image_write_submit(da, bio);
}

static const struct block_device_operations snapimage_fops = {
	.owner = THIS_MODULE,
	.submit_bio = snapimage_submit_bio,
};

/**
 * snapimage_init() - register the images' block major and their writes'
 *	workqueue.
 *
 * Return: 0 or a negative errno.
 */
int snapimage_init(void)
{
	int ret = image_write_init();

	if (ret)
		return ret;
	snapimage_major = register_blkdev(0, SNAPIMAGE_NAME);
	if (snapimage_major < 0) {
		image_write_exit();
		return snapimage_major;
	}
	return 0;
}

/**
 * snapimage_exit() - unregister the major; no image may be left.
 */
void snapimage_exit(void)
{
	unregister_blkdev(snapimage_major, SNAPIMAGE_NAME);
	ida_destroy(&snapimage_ida);
	image_write_exit();
}

/**
 * snapimage_create() - make the image disk of a device, not yet visible.
 * @da: the device's copy-on-write.
 * @writable: the image accepts writes (with a write cache, so that flushes
 *	reach it); else it is read-only.
 *
 * Return: the image or ERR_PTR(-ENOMEM or -ENOSPC).
 */
struct snapimage *snapimage_create(struct diff_area *da, bool writable)
{
	struct block_device *origin = da->origin.bdev;
	struct compat_disk_limits lim = {
		.logical_block_size = bdev_logical_block_size(origin),
		.physical_block_size = bdev_physical_block_size(origin),
		.io_min = bdev_io_min(origin),
		.max_hw_sectors = SNAPIMAGE_MAX_IO >> SECTOR_SHIFT,
		/* Segments are the device's business: it splits as it needs. */
		.max_segments = USHRT_MAX,
		.max_segment_size = UINT_MAX,
		.write_cache = writable,
	};
	struct snapimage *image;
	struct gendisk *disk;
	int ret;

	image = kzalloc(sizeof(*image), GFP_KERNEL);
	if (!image)
		return ERR_PTR(-ENOMEM);
	ret = ida_alloc_max(&snapimage_ida, SNAPIMAGE_MAX - 1, GFP_KERNEL);
	if (ret < 0)
		goto out_free;
	image->index = ret;
	disk = compat_alloc_disk(&lim);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto out_ida;
	}
	disk->major = snapimage_major;
	disk->first_minor = image->index;
	disk->minors = 1;
	disk->flags |= GENHD_FL_NO_PART;
	disk->fops = &snapimage_fops;
	disk->private_data = da;
	snprintf(disk->disk_name, DISK_NAME_LEN, SNAPIMAGE_NAME "%d",
		 image->index);
	set_capacity(disk, da->capacity);
	set_disk_ro(disk, !writable);
	image->disk = disk;
	return image;

out_ida:
	ida_free(&snapimage_ida, image->index);
out_free:
	kfree(image);
	return ERR_PTR(ret);
}

/**
 * snapimage_add() - make the image visible; reads may come from now on.
 * @image: the image.
 *
 * Return: 0 or the errno of add_disk().
 */
int snapimage_add(struct snapimage *image)
{
	int ret = add_disk(image->disk);

	image->added = !ret;
	return ret;
}

/**
 * snapimage_destroy() - remove the image.
 * @image: the image, or NULL.
 *
 * Returns once no new read can reach the diff_area; reads accepted before
 * are counted in &diff_area.ios.
 */
void snapimage_destroy(struct snapimage *image)
{
	if (!image)
		return;
	if (image->added)
		del_gendisk(image->disk);
	put_disk(image->disk);
	ida_free(&snapimage_ida, image->index);
	kfree(image);
}

/**
 * snapimage_dev() - the image's device number.
 * @image: the image.
 *
 * Return: the number.
 */
dev_t snapimage_dev(struct snapimage *image)
{
	return MKDEV(snapimage_major, image->index);
}

/**
 * snapimage_owns() - whether a device is a snapshot image.
 * @bdev: the device.
 *
 * Return: true for an image.
 */
bool snapimage_owns(struct block_device *bdev)
{
	return bdev->bd_disk->fops == &snapimage_fops;
}
