/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * blksnap: the contract between the blksnap kernel module and user space.
 *
 * User space opens /dev/blksnap-control (CAP_SYS_ADMIN only) and issues the
 * ioctls below. Rules every structure follows:
 *  - fixed-width types only, no kernel pointers; user buffers are __u64;
 *  - no padding holes: every structure is a multiple of 8 bytes and each
 *    member sits at its natural alignment; reserved members are explicit;
 *  - reserved members and flags not defined here must be zero on input,
 *    otherwise the ioctl fails with EINVAL, so they can gain a meaning later.
 *
 * Devices are named by their device number (major, minor), as stat(2)
 * reports in st_rdev for a block special file. A partition and its whole
 * disk are different devices; a tracker on a whole disk also sees the writes
 * that reach the disk through its partitions.
 *
 * Errors common to all ioctls:
 *  EPERM   the caller lacks CAP_SYS_ADMIN;
 *  ENOTTY  unknown ioctl number;
 *  EFAULT  a user pointer (the argument or a buffer it names) is invalid;
 *  EINVAL  a reserved member or unknown flag is non-zero, or a count or
 *          length is zero where it must not be.
 */
#ifndef _UAPI_LINUX_BLKSNAP_H
#define _UAPI_LINUX_BLKSNAP_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define BLKSNAP_CTL_NAME	"blksnap-control"
#define BLKSNAP_IOCTL_MAGIC	0xBE

/*
 * Version of this contract. A change of major breaks compatibility; a new
 * minor only adds ioctls or gives reserved members a meaning.
 */
#define BLKSNAP_VERSION_MAJOR	1
#define BLKSNAP_VERSION_MINOR	0
#define BLKSNAP_VERSION_PATCH	0

/* Feature bits reported in &struct blksnap_version.features. */
#define BLKSNAP_FEATURE_CBT	(1ULL << 0)

/* Length of a generation identifier (a random UUID). */
#define BLKSNAP_UUID_SIZE	16

/* Upper bound of &struct blksnap_cbt_mark_dirty.count in one call. */
#define BLKSNAP_MARK_DIRTY_MAX_RANGES	65536

/* Upper bound of &struct blksnap_tracker_list.capacity in one call. */
#define BLKSNAP_TRACKER_LIST_MAX	65536

enum blksnap_ioctl_nr {
	blksnap_ioctl_nr_version = 0,
	blksnap_ioctl_nr_tracker_attach,
	blksnap_ioctl_nr_tracker_detach,
	blksnap_ioctl_nr_tracker_list,
	blksnap_ioctl_nr_cbt_info,
	blksnap_ioctl_nr_cbt_read,
	blksnap_ioctl_nr_cbt_mark_dirty,
	blksnap_ioctl_nr_cbt_checkpoint,
};

/**
 * struct blksnap_version - version of the module's contract.
 * @major: BLKSNAP_VERSION_MAJOR of the module.
 * @minor: BLKSNAP_VERSION_MINOR of the module.
 * @patch: BLKSNAP_VERSION_PATCH of the module.
 * @reserved: zero.
 * @features: BLKSNAP_FEATURE_* bits the module offers.
 */
struct blksnap_version {
	__u16 major;
	__u16 minor;
	__u16 patch;
	__u16 reserved;
	__u64 features;
};

/**
 * struct blksnap_bdev - a block device named by its device number.
 * @major: major number.
 * @minor: minor number.
 */
struct blksnap_bdev {
	__u32 major;
	__u32 minor;
};

/**
 * struct blksnap_tracker_attach - start tracking a block device.
 * @dev: the device.
 * @flags: zero; no flags are defined yet.
 * @reserved: zero.
 *
 * Errors: ENODEV no such block device; EALREADY a tracker is already
 * attached; ENOMEM the changed-block map could not be allocated.
 *
 * Opening a device number can create the device: the loop driver, for
 * one, makes /dev/loopN on first open. Such a device has 0 sectors.
 */
struct blksnap_tracker_attach {
	struct blksnap_bdev dev;
	__u32 flags;
	__u32 reserved;
};

/**
 * struct blksnap_tracker_list - the devices that have a tracker.
 * @devices: in: user pointer to an array of &struct blksnap_bdev.
 * @capacity: in: entries the array holds (at most BLKSNAP_TRACKER_LIST_MAX);
 *	zero asks only for @count, and then @devices may be zero.
 * @count: out: trackers attached; when larger than @capacity only the first
 *	@capacity entries were written and the caller may ask again.
 *
 * Errors: E2BIG @capacity above BLKSNAP_TRACKER_LIST_MAX; EFAULT @capacity is
 * non-zero and @devices is NULL, or entries could not be written to it;
 * ENOMEM no memory for the copy.
 */
struct blksnap_tracker_list {
	__u64 devices;
	__u32 capacity;
	__u32 count;
};

/* The map can no longer be trusted (for example, memory ran out on resize). */
#define BLKSNAP_CBT_FLAG_CORRUPTED	(1U << 0)

/**
 * struct blksnap_cbt_info - state of a device's changed-block map.
 * @dev: in: the device.
 * @device_capacity: out: device size in 512-byte sectors.
 * @block_size: out: bytes of the device one map byte stands for (a power of
 *	two).
 * @block_count: out: bytes in the map.
 * @generation_id: out: changes whenever the map can no longer be compared
 *	with earlier reads: on attach, resize and wrap of the change number.
 * @changes_number: out: the number that writes now get in the map (1..255).
 * @flags: out: BLKSNAP_CBT_FLAG_* bits.
 * @reserved: zero.
 *
 * Errors: ENOENT no tracker for that device.
 */
struct blksnap_cbt_info {
	struct blksnap_bdev dev;
	__u64 device_capacity;
	__u32 block_size;
	__u32 block_count;
	__u8 generation_id[BLKSNAP_UUID_SIZE];
	__u8 changes_number;
	__u8 flags;
	__u8 reserved[6];
};

/**
 * struct blksnap_cbt_read - copy part of the changed-block map.
 * @dev: in: the device.
 * @offset: in: first block to copy.
 * @length: in: bytes (blocks) wanted, non-zero; out: bytes copied, fewer
 *	when the map ends first.
 * @buffer: in: user pointer to @length bytes.
 * @generation_id: out: generation of the map the bytes came from.
 *
 * Byte i of the result is the change number of the last write to block
 * @offset + i, or 0 when it has not been written since the generation began.
 *
 * Errors: ENOENT no tracker for that device; ERANGE @offset is at or past
 * the end of the map; ENOMEM no memory for the bounce buffer.
 */
struct blksnap_cbt_read {
	struct blksnap_bdev dev;
	__u32 offset;
	__u32 length;
	__u64 buffer;
	__u8 generation_id[BLKSNAP_UUID_SIZE];
};

/**
 * struct blksnap_sector_range - a range of 512-byte sectors.
 * @sector_offset: first sector.
 * @sector_count: number of sectors, non-zero.
 */
struct blksnap_sector_range {
	__u64 sector_offset;
	__u64 sector_count;
};

/**
 * struct blksnap_cbt_mark_dirty - mark sector ranges as changed now.
 * @dev: in: the device.
 * @count: in: ranges in the array, 1..BLKSNAP_MARK_DIRTY_MAX_RANGES.
 * @reserved: zero.
 * @ranges: in: user pointer to @count &struct blksnap_sector_range.
 *
 * All ranges are checked before any is marked: a bad range marks nothing.
 *
 * Errors: ENOENT no tracker; E2BIG @count too large; ERANGE a range is empty
 * or runs past the end of the device; ENOMEM no memory for the copy.
 */
struct blksnap_cbt_mark_dirty {
	struct blksnap_bdev dev;
	__u32 count;
	__u32 reserved;
	__u64 ranges;
};

/**
 * struct blksnap_cbt_checkpoint - close the current change number.
 * @dev: in: the device.
 * @generation_id: out: generation after the checkpoint.
 * @closed_number: out: the number the writes before the checkpoint carry;
 *	a later "changed since @closed_number" names exactly the blocks written
 *	after the checkpoint.
 * @changes_number: out: the number later writes carry.
 * @reserved: zero.
 *
 * When the number would pass 255 the map starts a new generation: every
 * byte becomes 0, the generation changes and @changes_number is 1; the
 * caller sees the new @generation_id and must take a full backup.
 *
 * Errors: ENOENT no tracker for that device.
 */
struct blksnap_cbt_checkpoint {
	struct blksnap_bdev dev;
	__u8 generation_id[BLKSNAP_UUID_SIZE];
	__u8 closed_number;
	__u8 changes_number;
	__u8 reserved[6];
};

#define BLKSNAP_IOCTL_VERSION \
	_IOR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_version, \
	     struct blksnap_version)
#define BLKSNAP_IOCTL_TRACKER_ATTACH \
	_IOW(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_tracker_attach, \
	     struct blksnap_tracker_attach)
/* Detach: the argument is the device; ENOENT when it has no tracker. */
#define BLKSNAP_IOCTL_TRACKER_DETACH \
	_IOW(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_tracker_detach, \
	     struct blksnap_bdev)
#define BLKSNAP_IOCTL_TRACKER_LIST \
	_IOWR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_tracker_list, \
	      struct blksnap_tracker_list)
#define BLKSNAP_IOCTL_CBT_INFO \
	_IOWR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_cbt_info, \
	      struct blksnap_cbt_info)
#define BLKSNAP_IOCTL_CBT_READ \
	_IOWR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_cbt_read, \
	      struct blksnap_cbt_read)
#define BLKSNAP_IOCTL_CBT_MARK_DIRTY \
	_IOW(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_cbt_mark_dirty, \
	     struct blksnap_cbt_mark_dirty)
#define BLKSNAP_IOCTL_CBT_CHECKPOINT \
	_IOWR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_cbt_checkpoint, \
	      struct blksnap_cbt_checkpoint)

#endif /* _UAPI_LINUX_BLKSNAP_H */
