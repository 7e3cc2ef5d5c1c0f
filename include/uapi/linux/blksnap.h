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
#define BLKSNAP_VERSION_MINOR	6
#define BLKSNAP_VERSION_PATCH	0

/* Feature bits reported in &struct blksnap_version.features. */
#define BLKSNAP_FEATURE_CBT	(1ULL << 0)
/* Copy-on-write snapshots: the BLKSNAP_IOCTL_SNAPSHOT_* ioctls (minor 1). */
#define BLKSNAP_FEATURE_SNAPSHOT	(1ULL << 1)
/* Hole bits of changed blocks: BLKSNAP_IOCTL_CBT_READ_HOLES (minor 3). */
#define BLKSNAP_FEATURE_CBT_HOLES	(1ULL << 2)
/* Snapshot events: BLKSNAP_IOCTL_SNAPSHOT_WAIT_EVENT (minor 4). */
#define BLKSNAP_FEATURE_EVENTS	(1ULL << 3)
/* More storage for a live snapshot: BLKSNAP_IOCTL_SNAPSHOT_ADD_STORAGE (minor 5). */
#define BLKSNAP_FEATURE_ADD_STORAGE	(1ULL << 4)
/* Writable images: BLKSNAP_SNAPSHOT_FLAG_WRITABLE (minor 6). */
#define BLKSNAP_FEATURE_WRITABLE_IMAGES	(1ULL << 5)
/*
 * poll() on the control file: EPOLLIN while a snapshot created through
 * that file descriptor, kept or not, has an event that
 * BLKSNAP_IOCTL_SNAPSHOT_WAIT_EVENT has not returned yet. Without this bit
 * poll() reports the file always readable. No new ioctl: no minor of its own.
 */
#define BLKSNAP_FEATURE_POLL	(1ULL << 6)

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
	blksnap_ioctl_nr_snapshot_create,
	blksnap_ioctl_nr_snapshot_destroy,
	blksnap_ioctl_nr_snapshot_add,
	blksnap_ioctl_nr_snapshot_take,
	blksnap_ioctl_nr_snapshot_list,
	blksnap_ioctl_nr_snapshot_info,
	blksnap_ioctl_nr_cbt_read_holes,
	blksnap_ioctl_nr_snapshot_wait_event,
	blksnap_ioctl_nr_snapshot_add_storage,
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
 * The module never opens a tracked device, here or later: it finds the
 * device by number and keeps a reference to it, so tracking never makes
 * removing or repartitioning the device fail with EBUSY. Attach returns
 * once the writes submitted to the device before it have completed, as far
 * as the device lets the module tell (the module's README lists the cases
 * it cannot wait for); every later write is recorded.
 *
 * Errors: ENODEV no such block device (attach does not create one, as an
 * open of a missing loop device would); EALREADY a tracker is already
 * attached; ENOMEM the changed-block map could not be allocated; EBUSY
 * ftrace refused the hook (kernel.ftrace_enabled is 0, or livepatch owns
 * the function); EINTR a fatal signal came while waiting for earlier writes
 * (nothing is attached).
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

/*
 * The map can no longer be trusted (for example, memory ran out on resize):
 * take a full backup. The generation changes when the flag is set, so a
 * tool that only compares generations does not trust it either.
 */
#define BLKSNAP_CBT_FLAG_CORRUPTED	(1U << 0)

/*
 * Why a map last started a new generation, in
 * &struct blksnap_cbt_info.generation_reason (minor 2; 0 before).
 */
/* The tracker was attached. */
#define BLKSNAP_CBT_GENERATION_ATTACH		0
/* The device changed size, place (a partition) or medium. */
#define BLKSNAP_CBT_GENERATION_RESIZE		1
/* The change number passed 255 at a checkpoint. */
#define BLKSNAP_CBT_GENERATION_WRAP		2
/* The map became incomplete: see BLKSNAP_CBT_FLAG_CORRUPTED. */
#define BLKSNAP_CBT_GENERATION_INCOMPLETE	3
/*
 * A passthrough command (SG_IO, sg, bsg, NVMe passthrough, io_uring
 * command) that may change data and that the module cannot place reached
 * the device.
 */
#define BLKSNAP_CBT_GENERATION_PASSTHROUGH	4
/*
 * The system was restored from hibernation: writes made after the memory
 * image was taken (the image itself, anything before the resume) are not in
 * the map.
 */
#define BLKSNAP_CBT_GENERATION_HIBERNATION	5

/**
 * struct blksnap_cbt_info - state of a device's changed-block map.
 * @dev: in: the device.
 * @device_capacity: out: device size in 512-byte sectors.
 * @block_size: out: bytes of the device one map byte stands for (a power of
 *	two).
 * @block_count: out: bytes in the map.
 * @generation_id: out: changes whenever the map can no longer be compared
 *	with earlier reads: on attach, resize, wrap of the change number, when
 *	the map becomes BLKSNAP_CBT_FLAG_CORRUPTED, when a write the module
 *	cannot place reached the device, and after a restore from hibernation.
 * @changes_number: out: the number that writes now get in the map (1..255).
 * @flags: out: BLKSNAP_CBT_FLAG_* bits.
 * @generation_reason: in: zero; out: BLKSNAP_CBT_GENERATION_*, why the
 *	current generation began (minor 2).
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
	__u8 generation_reason;
	__u8 reserved[5];
};

/**
 * struct blksnap_cbt_read - copy part of the changed-block map.
 * @dev: in: the device.
 * @offset: in: first block to copy.
 * @length: in: bytes (blocks) wanted, non-zero; out: bytes copied, fewer
 *	when the map ends first or when the map changed generation while it
 *	was copied (the bytes copied are all of @generation_id).
 * @buffer: in: user pointer to @length bytes.
 * @generation_id: out: generation of the map the bytes came from.
 *
 * Byte i of the result is the change number of the last write to block
 * @offset + i, or 0 when it has not been written since the generation began.
 *
 * BLKSNAP_IOCTL_CBT_READ_HOLES (BLKSNAP_FEATURE_CBT_HOLES, minor 3) takes
 * the same structure and copies, eight blocks to a byte, which blocks are
 * holes: @offset (a block) must be a multiple of 8, else EINVAL; @length
 * counts blocks, in and out; @buffer receives (@length + 7) / 8 bytes. Bit
 * i % 8 (least significant first) of byte i / 8 is set when the last change
 * of block @offset + i was a discard, secure erase, write-zeroes or zone
 * reset that covered the whole block and did not fail: its content is
 * zeroes or undefined, and a backup may store the block as a hole without
 * reading it. The bit is clear for a block never changed in the generation,
 * for a block written (even partly, even by a write that overlapped the
 * discard in time) since, and for every block when the generation began;
 * bits past @length are 0.
 *
 * A hole bit describes the block's last change up to now. To use it for a
 * backup made against a checkpoint (or a snapshot's closed number): read
 * the hole bits first, then the change numbers of the same blocks, and
 * trust a bit only for a block whose number is non-zero and at most the
 * closed number, both read in the generation of the checkpoint. A block
 * with a higher number changed after the checkpoint: read it.
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
 * The checkpoint returns once every write that may carry the closed number
 * has completed: a backup that reads the device after it returned sees
 * every write not named by a later "changed since @closed_number".
 *
 * When the number would pass 255 the map starts a new generation: every
 * byte becomes 0, the generation changes and @changes_number is 1; the
 * caller sees the new @generation_id and must take a full backup.
 *
 * Errors: ENOENT no tracker for that device; EINTR a fatal signal came
 * while waiting for the writes (the number is closed all the same).
 */
struct blksnap_cbt_checkpoint {
	struct blksnap_bdev dev;
	__u8 generation_id[BLKSNAP_UUID_SIZE];
	__u8 closed_number;
	__u8 changes_number;
	__u8 reserved[6];
};

/*
 * Snapshots (BLKSNAP_FEATURE_SNAPSHOT, minor 1).
 *
 * A snapshot is a set of devices whose contents are frozen at one instant
 * (take) and shown, read-only unless created writable, by one image block
 * device per device
 * (/dev/blksnap-imageN) until the snapshot is destroyed. The first write to
 * a chunk of a device after take is held until the chunk's original data
 * has been read; the original goes to the snapshot's difference storage.
 *
 * Life cycle: CREATE (with its storage) -> ADD each device -> TAKE ->
 * read the images -> DESTROY. A snapshot belongs to the open control file
 * that created it and is destroyed when that file is closed (a crashed
 * backup leaves nothing behind), unless it was created with
 * BLKSNAP_SNAPSHOT_FLAG_KEEP; any open control file may use or destroy any
 * snapshot by its identifier. Identifiers are never reused while the
 * module is loaded; 0 names no snapshot.
 *
 * When copy-on-write cannot go on (storage full, a storage I/O error, no
 * memory, an origin removed or resized) the snapshot becomes BROKEN: its
 * images fail every read with EIO and the originals' I/O goes on untouched.
 * The original device never fails, waits for ever or changes because of a
 * snapshot.
 *
 * A module that does not report BLKSNAP_FEATURE_SNAPSHOT answers these
 * ioctls with ENOTTY.
 */

/* Most devices in one snapshot. */
#define BLKSNAP_SNAPSHOT_MAX_DEVICES	64

/* Upper bound of &struct blksnap_snapshot_list.capacity in one call. */
#define BLKSNAP_SNAPSHOT_LIST_MAX	4096

/*
 * The snapshot survives the close of the control file that created it; it
 * lasts until BLKSNAP_IOCTL_SNAPSHOT_DESTROY and keeps the module loaded.
 */
#define BLKSNAP_SNAPSHOT_FLAG_KEEP	(1U << 0)

/*
 * The images accept writes (minor 6, BLKSNAP_FEATURE_WRITABLE_IMAGES);
 * without this flag they are read-only. A write to an image goes to the
 * difference storage, never to the original device: the first write to a
 * chunk copies the chunk's original there (as a write to the original
 * does, and counted against @limit the same way), merges the write and
 * from then on the chunk is copied for both sides; later writes overwrite
 * its stored copy. A write completes once it is in the storage; a flush or
 * FUA write on the image makes the image's completed writes durable there
 * (fdatasync of a storage file, a cache flush of a storage device). Discard
 * and write-zeroes are not supported on an image (EOPNOTSUPP). Storage
 * full or failing breaks the snapshot as for copies: the image fails with
 * EIO, the original is untouched. Writes to an image never change the
 * original device nor its changed-block tracking.
 */
#define BLKSNAP_SNAPSHOT_FLAG_WRITABLE	(1U << 1)

/**
 * struct blksnap_snapshot_create - create an empty snapshot.
 * @storage_fd: in: an open file naming the difference storage:
 *	- a block device: the module opens it exclusively by its device number
 *	  and writes to it directly; its data is overwritten;
 *	- a regular file: used from offset 0 with direct I/O where its file
 *	  system offers it, extended with fallocate(2) as it fills (below);
 *	- a directory: the module creates an unnamed temporary file there
 *	  (O_TMPFILE), extended as it fills, gone with the snapshot.
 *	The descriptor is not kept: it may be closed once the call returns.
 * @flags: in: BLKSNAP_SNAPSHOT_FLAG_* bits.
 * @limit: in: bytes of the storage the snapshot may use, rounded down to
 *	4096; 0 means the whole block device or the file's current size (for
 *	a directory @limit must not be 0). A block device is used as it is.
 *	A file gets one step at once (an eighth of @limit, at least 4 MiB and
 *	at most the module parameter storage_grow_step_mib) and grows by a
 *	step, from a worker, when less than half a step is left; if the file
 *	system has no room for a step the file stays as it is and @limit is
 *	lowered to its size (&struct blksnap_snapshot_info.storage_limit).
 * @id: out: the identifier of the new snapshot.
 * @reserved: zero.
 *
 * The storage must not lie on a device in a snapshot, nor be a snapshot
 * image.
 *
 * Errors: EBADF @storage_fd is not an open file, or names a block device or
 * a regular file not open for writing; EOPNOTSUPP it is neither a
 * block device, a regular file nor a directory, or its file system cannot
 * create a temporary file or reserve space; EINVAL @limit is 0 for a
 * directory, a regular file is empty and @limit is 0, or @limit is below
 * 4096; ENOSPC the block device is smaller than @limit, or the file system
 * has no room for the first step; EFBIG @limit is larger than the file
 * system allows;
 * EBUSY the block device is open exclusively by someone else (mounted, a
 * member of md or dm, another snapshot's storage), or the regular file is
 * another snapshot's storage; EDEADLK the storage lies
 * on a device that is in a snapshot; EROFS the storage is read-only (a
 * read-only file system or device, a snapshot image); EINTR a fatal signal
 * came while space was reserved; EIO an I/O error while reserving space;
 * ENOMEM.
 */
struct blksnap_snapshot_create {
	__s32 storage_fd;
	__u32 flags;
	__u64 limit;
	__u64 id;
	__u64 reserved[2];
};

/**
 * struct blksnap_snapshot_destroy - destroy a snapshot.
 * @id: in: the snapshot.
 * @flags: in: zero; no flags are defined yet.
 * @reserved: zero.
 *
 * Stops copy-on-write, releases every held write, removes the images (a
 * reader still holding one open gets EIO) and frees the storage. The
 * trackers that BLKSNAP_IOCTL_SNAPSHOT_ADD attached stay attached, so the
 * next backup can be incremental.
 *
 * Errors: ENOENT no such snapshot.
 */
struct blksnap_snapshot_destroy {
	__u64 id;
	__u32 flags;
	__u32 reserved;
};

/**
 * struct blksnap_snapshot_add - add a device to a snapshot not yet taken.
 * @id: in: the snapshot.
 * @dev: in: the device: a whole disk, a partition, a dm or md device.
 * @flags: in: zero; no flags are defined yet.
 * @reserved: zero.
 *
 * Attaches a tracker to the device if it has none (see
 * BLKSNAP_IOCTL_TRACKER_ATTACH), and holds the device open until the
 * snapshot is destroyed: its partition cannot be deleted or moved meanwhile
 * (a resize breaks the snapshot, never the device). While the device is in
 * a snapshot its tracker cannot be detached (EBUSY).
 *
 * Errors: ENOENT no such snapshot; ENODEV no such block device, or it has
 * no sectors; EALREADY the snapshot was already taken (or is broken);
 * EBUSY the device is already in a snapshot (this one or another); E2BIG
 * the snapshot has BLKSNAP_SNAPSHOT_MAX_DEVICES devices; EOPNOTSUPP the
 * device is a DAX or zoned device, or a snapshot image; EDEADLK the
 * snapshot's storage, or another snapshot's, lies on the device (or on its
 * whole disk or one of its partitions); ENOMEM.
 */
struct blksnap_snapshot_add {
	__u64 id;
	struct blksnap_bdev dev;
	__u32 flags;
	__u32 reserved;
};

/* Take without freezing file systems: the images are crash-consistent. */
#define BLKSNAP_TAKE_FLAG_NO_FREEZE	(1U << 0)

/**
 * struct blksnap_snapshot_take - take the snapshot: its instant is now.
 * @id: in: the snapshot.
 * @flags: in: BLKSNAP_TAKE_FLAG_* bits.
 * @reserved: zero.
 * @hold_ns: out: nanoseconds during which writes to the devices were held
 *	back (from the first device held to the release of all of them).
 * @freeze_ns: out: nanoseconds from the first freeze to the last thaw.
 * @frozen: out: devices whose file system was frozen.
 * @freeze_failed: out: devices whose file system could not be frozen; the
 *	snapshot of such a device is only crash-consistent (see
 *	&struct blksnap_snapshot_device.freeze).
 *
 * Freezes the file systems on the devices (unless
 * BLKSNAP_TAKE_FLAG_NO_FREEZE), holds new writes to all of them, waits for
 * the writes already submitted to complete, closes each device's CBT change
 * number (&struct blksnap_snapshot_device.closed_number), starts
 * copy-on-write on all of them at that one instant, releases the held
 * writes, thaws, and then creates the image devices. Writes held at take
 * carry the next change number.
 *
 * Errors: ENOENT no such snapshot; EALREADY already taken (or broken);
 * EINVAL the snapshot has no device; EINTR a fatal signal while waiting for
 * the writes in flight (nothing was taken; the snapshot can be taken again);
 * ENOMEM; other errors from creating the image devices, after which the
 * snapshot is BROKEN.
 */
struct blksnap_snapshot_take {
	__u64 id;
	__u32 flags;
	__u32 reserved;
	__u64 hold_ns;
	__u64 freeze_ns;
	__u32 frozen;
	__u32 freeze_failed;
};

/**
 * struct blksnap_snapshot_list - the identifiers of the snapshots.
 * @ids: in: user pointer to an array of __u64.
 * @capacity: in: entries the array holds (at most BLKSNAP_SNAPSHOT_LIST_MAX);
 *	zero asks only for @count, and then @ids may be zero.
 * @count: out: snapshots that exist; when larger than @capacity only the
 *	first @capacity entries (in creation order) were written.
 *
 * Errors: E2BIG @capacity above BLKSNAP_SNAPSHOT_LIST_MAX; EFAULT @capacity
 * is non-zero and @ids is NULL, or entries could not be written to it;
 * ENOMEM.
 */
struct blksnap_snapshot_list {
	__u64 ids;
	__u32 capacity;
	__u32 count;
};

/* &struct blksnap_snapshot_info.state */
#define BLKSNAP_SNAPSHOT_STATE_CREATED	1	/* devices may be added */
#define BLKSNAP_SNAPSHOT_STATE_TAKEN	2	/* copy-on-write, images readable */
#define BLKSNAP_SNAPSHOT_STATE_BROKEN	3	/* @error says why; images fail */

/* &struct blksnap_snapshot_info.storage_kind */
#define BLKSNAP_STORAGE_BDEV		1	/* a block device */
#define BLKSNAP_STORAGE_FILE		2	/* a regular file */
#define BLKSNAP_STORAGE_TMPFILE		3	/* an unnamed file in a directory */

/* &struct blksnap_snapshot_device.freeze: what take did to the device. */
#define BLKSNAP_FREEZE_NONE		0	/* not taken yet, or NO_FREEZE */
#define BLKSNAP_FREEZE_FROZEN		1	/* its file system was frozen */
#define BLKSNAP_FREEZE_NO_FILESYSTEM	2	/* none mounted: writes flushed */
#define BLKSNAP_FREEZE_FAILED		3	/* @freeze_error says why */

/**
 * struct blksnap_snapshot_device - one device of a snapshot.
 * @origin: the device.
 * @image: its image device; 0:0 until the snapshot is taken.
 * @capacity: size of the device (and its image) in 512-byte sectors.
 * @chunk_size: bytes of a copy-on-write chunk (a power of two).
 * @error: 0, or the positive errno that broke the snapshot on this device
 *	(ENODEV: the device was removed; ERANGE: it was resized).
 * @freeze_error: positive errno of a failed freeze, else 0.
 * @generation_id: CBT generation of the device's map at take.
 * @closed_number: the change number take closed: "changed since
 *	@closed_number" in generation @generation_id names exactly the blocks
 *	written after the snapshot's instant. 0 when take started a new
 *	generation (every block is then a change).
 * @freeze: BLKSNAP_FREEZE_* value.
 * @reserved1: zero.
 * @writes_held: write bios held until their chunk's original was read.
 * @chunks_copied: chunks whose original data was read from the device.
 * @chunks_stored: chunks whose original data is in the storage.
 * @discards_dropped: discards completed without being sent, because they
 *	covered chunks not yet copied (see module/README.md).
 * @reserved: zero.
 */
struct blksnap_snapshot_device {
	struct blksnap_bdev origin;
	struct blksnap_bdev image;
	__u64 capacity;
	__u32 chunk_size;
	__u32 error;
	__u32 freeze_error;
	__u8 generation_id[BLKSNAP_UUID_SIZE];
	__u8 closed_number;
	__u8 freeze;
	__u8 reserved1[2];
	__u64 writes_held;
	__u64 chunks_copied;
	__u64 chunks_stored;
	__u64 discards_dropped;
	__u64 reserved[4];
};

/**
 * struct blksnap_snapshot_info - state of a snapshot and of its devices.
 * @id: in: the snapshot.
 * @devices: in: user pointer to an array of &struct blksnap_snapshot_device.
 * @capacity: in: entries the array holds (at most
 *	BLKSNAP_SNAPSHOT_MAX_DEVICES); zero asks only for the snapshot's state,
 *	and then @devices may be zero.
 * @count: out: devices in the snapshot (in the order they were added);
 *	when larger than @capacity only the first @capacity were written.
 * @state: out: BLKSNAP_SNAPSHOT_STATE_* value.
 * @error: out: the positive errno that broke the snapshot (ENOSPC: the
 *	storage overflowed; EIO: a storage or origin I/O error; ENOMEM; ENODEV:
 *	an origin was removed; ERANGE: an origin was resized), else 0.
 * @flags: out: the BLKSNAP_SNAPSHOT_FLAG_* bits it was created with.
 * @storage_kind: out: BLKSNAP_STORAGE_* value.
 * @storage_dev: out: the storage block device, or the device of the file
 *	system holding the storage file.
 * @storage_used: out: bytes of the storage holding copied chunks.
 * @storage_size: out: bytes of storage ready (block devices whole, files
 *	as far as they have grown).
 * @storage_limit: out: bytes the snapshot may use (lowered when a file
 *	could not grow).
 * @reserved: zero.
 *
 * Errors: ENOENT no such snapshot; E2BIG @capacity above
 * BLKSNAP_SNAPSHOT_MAX_DEVICES; EFAULT @capacity is non-zero and @devices
 * is NULL, or entries could not be written to it; ENOMEM.
 */
struct blksnap_snapshot_info {
	__u64 id;
	__u64 devices;
	__u32 capacity;
	__u32 count;
	__u32 state;
	__u32 error;
	__u32 flags;
	__u32 storage_kind;
	struct blksnap_bdev storage_dev;
	__u64 storage_used;
	__u64 storage_size;
	__u64 storage_limit;
	__u64 reserved[4];
};

/* &struct blksnap_snapshot_event.code */
#define BLKSNAP_EVENT_LOW_FREE_SPACE	1	/* free storage fell below the margin */
#define BLKSNAP_EVENT_OVERFLOW		2	/* no storage left: broken, ENOSPC */
#define BLKSNAP_EVENT_CORRUPTED		3	/* broken: @error, on @dev */

/* Longest wait of one BLKSNAP_IOCTL_SNAPSHOT_WAIT_EVENT call. */
#define BLKSNAP_EVENT_TIMEOUT_MAX_MS	3600000

/**
 * struct blksnap_snapshot_event - wait for the next event of a snapshot.
 * @id: in: the snapshot.
 * @timeout_ms: in: how long to wait, at most BLKSNAP_EVENT_TIMEOUT_MAX_MS;
 *	0 returns at once.
 * @flags: in: zero; no flags are defined yet.
 * @code: out: BLKSNAP_EVENT_*.
 * @error: out: positive errno: what broke the snapshot (CORRUPTED),
 *	ENOSPC (OVERFLOW), 0 (LOW_FREE_SPACE).
 * @dev: out: the device whose copy-on-write broke (CORRUPTED), else 0:0.
 * @time_ns: out: CLOCK_BOOTTIME when the event was raised.
 * @used: out: bytes of storage used when it was raised.
 * @limit: out: the storage limit then.
 * @lost: out: events dropped before this one (the queue was full).
 * @reserved: zero.
 *
 * Events (BLKSNAP_FEATURE_EVENTS, minor 4): LOW_FREE_SPACE once, when an
 * allocation leaves less free storage than the module parameter
 * storage_low_free_mib (at most half of the storage), or a storage file
 * that cannot grow (its file system is full) lowers the limit so that
 * less is left; again after BLKSNAP_IOCTL_SNAPSHOT_ADD_STORAGE; OVERFLOW or
 * CORRUPTED once, at the snapshot's first break. Each event is returned
 * once, oldest first; a snapshot keeps up to 16, dropping low-space events
 * first when full (never a break) and counting them in @lost. An answer
 * that cannot be written (EFAULT) leaves its event queued. Codes other
 * than the three above will only be raised when a flag asks for them.
 *
 * Errors: ETIMEDOUT none within @timeout_ms (0 included); ENOENT no such
 * snapshot, or it was destroyed while the call waited (the wait ends at
 * once); EINTR a signal (call again); EINVAL @flags, @reserved or
 * @timeout_ms above BLKSNAP_EVENT_TIMEOUT_MAX_MS.
 */
struct blksnap_snapshot_event {
	__u64 id;
	__u32 timeout_ms;
	__u32 flags;
	__u32 code;
	__u32 error;
	struct blksnap_bdev dev;
	__u64 time_ns;
	__u64 used;
	__u64 limit;
	__u32 lost;
	__u32 reserved;
};

/* Most storages (the first and those added) of one snapshot. */
#define BLKSNAP_SNAPSHOT_MAX_STORAGES	16

/**
 * struct blksnap_snapshot_add_storage - give a snapshot more storage.
 * @id: in: the snapshot, created or taken.
 * @storage_fd: in: a block device, a regular file or a directory, as
 *	&struct blksnap_snapshot_create.storage_fd; not kept.
 * @flags: in: zero; no flags are defined yet.
 * @limit: in: bytes of it the snapshot may use, as
 *	&struct blksnap_snapshot_create.limit (a file grows in steps).
 * @reserved: zero.
 *
 * The snapshot uses its storages one after the other, in the order they
 * were given: copies go on in the new one when the others are full. Its
 * limit (&struct blksnap_snapshot_info.storage_limit) grows by @limit, and
 * LOW_FREE_SPACE is re-armed: the next copy that leaves less free storage
 * than the margin raises it again. (The storage kind and device that
 * BLKSNAP_IOCTL_SNAPSHOT_INFO reports stay those of the first storage.)
 *
 * Errors: ENOENT no such snapshot; EALREADY the snapshot is broken; E2BIG
 * it has BLKSNAP_SNAPSHOT_MAX_STORAGES storages; EINVAL @flags or
 * @reserved; and the errors of BLKSNAP_IOCTL_SNAPSHOT_CREATE for the
 * storage itself: EBADF, EOPNOTSUPP, EINVAL, ENOSPC, EFBIG, EROFS, EINTR,
 * EIO, ENOMEM; EBUSY it is a file or device some snapshot already stores
 * in (this one too), EDEADLK it lies on a device that is in a snapshot
 * (this one too).
 */
struct blksnap_snapshot_add_storage {
	__u64 id;
	__s32 storage_fd;
	__u32 flags;
	__u64 limit;
	__u64 reserved[2];
};

#define BLKSNAP_IOCTL_VERSION \
	_IOR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_version, \
	     struct blksnap_version)
#define BLKSNAP_IOCTL_TRACKER_ATTACH \
	_IOW(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_tracker_attach, \
	     struct blksnap_tracker_attach)
/*
 * Detach: the argument is the device; ENOENT when it has no tracker, EBUSY
 * while the device is in a snapshot.
 */
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

#define BLKSNAP_IOCTL_SNAPSHOT_CREATE \
	_IOWR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_snapshot_create, \
	      struct blksnap_snapshot_create)
#define BLKSNAP_IOCTL_SNAPSHOT_DESTROY \
	_IOW(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_snapshot_destroy, \
	     struct blksnap_snapshot_destroy)
#define BLKSNAP_IOCTL_SNAPSHOT_ADD \
	_IOW(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_snapshot_add, \
	     struct blksnap_snapshot_add)
#define BLKSNAP_IOCTL_SNAPSHOT_TAKE \
	_IOWR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_snapshot_take, \
	      struct blksnap_snapshot_take)
#define BLKSNAP_IOCTL_SNAPSHOT_LIST \
	_IOWR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_snapshot_list, \
	      struct blksnap_snapshot_list)
#define BLKSNAP_IOCTL_SNAPSHOT_INFO \
	_IOWR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_snapshot_info, \
	      struct blksnap_snapshot_info)
/* The hole bits of the map (minor 3): see &struct blksnap_cbt_read. */
#define BLKSNAP_IOCTL_CBT_READ_HOLES \
	_IOWR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_cbt_read_holes, \
	      struct blksnap_cbt_read)
/* Next event of a snapshot (minor 4): see &struct blksnap_snapshot_event. */
#define BLKSNAP_IOCTL_SNAPSHOT_WAIT_EVENT \
	_IOWR(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_snapshot_wait_event, \
	      struct blksnap_snapshot_event)
/* More storage (minor 5): see &struct blksnap_snapshot_add_storage. */
#define BLKSNAP_IOCTL_SNAPSHOT_ADD_STORAGE \
	_IOW(BLKSNAP_IOCTL_MAGIC, blksnap_ioctl_nr_snapshot_add_storage, \
	     struct blksnap_snapshot_add_storage)

#endif /* _UAPI_LINUX_BLKSNAP_H */
