/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __BLKSNAP_SNAPIMAGE_H
#define __BLKSNAP_SNAPIMAGE_H

#include <linux/types.h>

struct block_device;
struct diff_area;
struct gendisk;

/**
 * struct snapimage - the block device showing a snapshot of one device,
 *	/dev/blksnap-imageN; read-only unless the snapshot is writable.
 * @disk: the disk; private_data is the diff_area.
 * @index: N, also the minor number.
 * @added: add_disk() succeeded, so del_gendisk() is due.
 */
struct snapimage {
	struct gendisk *disk;
	int index;
	bool added;
};

int snapimage_init(void);
void snapimage_exit(void);
struct snapimage *snapimage_create(struct diff_area *da, bool writable);
int snapimage_add(struct snapimage *image);
void snapimage_destroy(struct snapimage *image);
dev_t snapimage_dev(struct snapimage *image);
bool snapimage_owns(struct block_device *bdev);

#endif /* __BLKSNAP_SNAPIMAGE_H */
