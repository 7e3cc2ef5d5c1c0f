// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.internal;

/**
 * Constants of {@code include/uapi/linux/blksnap.h}. A unit test compares
 * every one with the header compiled at build time.
 */
public final class Uapi {
	/** Name of the control device under /dev. */
	public static final String CTL_NAME = "blksnap-control";
	/** Magic ("type") byte of every blksnap ioctl. */
	public static final int IOCTL_MAGIC = 0xBE;

	/** Contract major version this library speaks. */
	public static final int VERSION_MAJOR = 1;
	/** Contract minor version this library knows. */
	public static final int VERSION_MINOR = 6;
	/** Contract patch level this library knows. */
	public static final int VERSION_PATCH = 0;

	/** Feature bit: changed-block tracking. */
	public static final long FEATURE_CBT = 1L << 0;
	/** Feature bit: copy-on-write snapshots (the SNAPSHOT_* ioctls). */
	public static final long FEATURE_SNAPSHOT = 1L << 1;
	/** Feature bit: the hole bits of changed blocks (CBT_READ_HOLES, minor 3). */
	public static final long FEATURE_CBT_HOLES = 1L << 2;
	/** Feature bit: snapshot events (SNAPSHOT_WAIT_EVENT, minor 4). */
	public static final long FEATURE_EVENTS = 1L << 3;
	/** Feature bit: storage added to a live snapshot (SNAPSHOT_ADD_STORAGE, minor 5). */
	public static final long FEATURE_ADD_STORAGE = 1L << 4;
	/** Feature bit: writable images (SNAPSHOT_FLAG_WRITABLE, minor 6). */
	public static final long FEATURE_WRITABLE_IMAGES = 1L << 5;
	/** Feature bit: poll() on the control file. */
	public static final long FEATURE_POLL = 1L << 6;
	/** Most storages (the first and those added) of one snapshot. */
	public static final int SNAPSHOT_MAX_STORAGES = 16;
	/** Event: free storage fell below the margin. */
	public static final int EVENT_LOW_FREE_SPACE = 1;
	/** Event: no storage left; the snapshot broke with ENOSPC. */
	public static final int EVENT_OVERFLOW = 2;
	/** Event: the snapshot broke (error, device). */
	public static final int EVENT_CORRUPTED = 3;
	/** Longest wait of one SNAPSHOT_WAIT_EVENT call, in milliseconds. */
	public static final int EVENT_TIMEOUT_MAX_MS = 3600000;
	/** Bytes in a generation identifier. */
	public static final int UUID_SIZE = 16;
	/** Most ranges one CBT_MARK_DIRTY call accepts. */
	public static final int MARK_DIRTY_MAX_RANGES = 65536;
	/** Most entries one TRACKER_LIST call fills. */
	public static final int TRACKER_LIST_MAX = 65536;
	/** Flag of blksnap_cbt_info.flags: the map can no longer be trusted. */
	public static final int CBT_FLAG_CORRUPTED = 1 << 0;
	/** blksnap_cbt_info.generation_reason: the tracker was attached. */
	public static final int CBT_GENERATION_ATTACH = 0;
	/** blksnap_cbt_info.generation_reason: the device changed size, place or medium. */
	public static final int CBT_GENERATION_RESIZE = 1;
	/** blksnap_cbt_info.generation_reason: the change number passed 255. */
	public static final int CBT_GENERATION_WRAP = 2;
	/** blksnap_cbt_info.generation_reason: the map became incomplete. */
	public static final int CBT_GENERATION_INCOMPLETE = 3;
	/** blksnap_cbt_info.generation_reason: a passthrough command the module cannot place. */
	public static final int CBT_GENERATION_PASSTHROUGH = 4;
	/** blksnap_cbt_info.generation_reason: restored from hibernation. */
	public static final int CBT_GENERATION_HIBERNATION = 5;

	/** Most devices in one snapshot. */
	public static final int SNAPSHOT_MAX_DEVICES = 64;
	/** Most entries one SNAPSHOT_LIST call fills. */
	public static final int SNAPSHOT_LIST_MAX = 4096;
	/** blksnap_snapshot_create.flags: the snapshot outlives its creator's control file. */
	public static final int SNAPSHOT_FLAG_KEEP = 1 << 0;
	/** blksnap_snapshot_create.flags: the images accept writes (to the difference storage). */
	public static final int SNAPSHOT_FLAG_WRITABLE = 1 << 1;
	/** blksnap_snapshot_take.flags: do not freeze file systems (crash-consistent images). */
	public static final int TAKE_FLAG_NO_FREEZE = 1 << 0;
	/** blksnap_snapshot_info.state: devices may be added. */
	public static final int SNAPSHOT_STATE_CREATED = 1;
	/** blksnap_snapshot_info.state: copy-on-write active, images readable. */
	public static final int SNAPSHOT_STATE_TAKEN = 2;
	/** blksnap_snapshot_info.state: broken, images fail with EIO. */
	public static final int SNAPSHOT_STATE_BROKEN = 3;
	/** blksnap_snapshot_info.storage_kind: a block device. */
	public static final int STORAGE_BDEV = 1;
	/** blksnap_snapshot_info.storage_kind: a regular file. */
	public static final int STORAGE_FILE = 2;
	/** blksnap_snapshot_info.storage_kind: an unnamed file in a directory. */
	public static final int STORAGE_TMPFILE = 3;
	/** blksnap_snapshot_device.freeze: not taken yet, or taken without freezing. */
	public static final int FREEZE_NONE = 0;
	/** blksnap_snapshot_device.freeze: its file system was frozen. */
	public static final int FREEZE_FROZEN = 1;
	/** blksnap_snapshot_device.freeze: no file system on it; writes were flushed. */
	public static final int FREEZE_NO_FILESYSTEM = 2;
	/** blksnap_snapshot_device.freeze: the freeze failed (freeze_error). */
	public static final int FREEZE_FAILED = 3;

	/** ioctl number of VERSION within the magic. */
	public static final int NR_VERSION = 0;
	/** ioctl number of TRACKER_ATTACH within the magic. */
	public static final int NR_TRACKER_ATTACH = 1;
	/** ioctl number of TRACKER_DETACH within the magic. */
	public static final int NR_TRACKER_DETACH = 2;
	/** ioctl number of TRACKER_LIST within the magic. */
	public static final int NR_TRACKER_LIST = 3;
	/** ioctl number of CBT_INFO within the magic. */
	public static final int NR_CBT_INFO = 4;
	/** ioctl number of CBT_READ within the magic. */
	public static final int NR_CBT_READ = 5;
	/** ioctl number of CBT_MARK_DIRTY within the magic. */
	public static final int NR_CBT_MARK_DIRTY = 6;
	/** ioctl number of CBT_CHECKPOINT within the magic. */
	public static final int NR_CBT_CHECKPOINT = 7;
	/** ioctl number of SNAPSHOT_CREATE within the magic. */
	public static final int NR_SNAPSHOT_CREATE = 8;
	/** ioctl number of SNAPSHOT_DESTROY within the magic. */
	public static final int NR_SNAPSHOT_DESTROY = 9;
	/** ioctl number of SNAPSHOT_ADD within the magic. */
	public static final int NR_SNAPSHOT_ADD = 10;
	/** ioctl number of SNAPSHOT_TAKE within the magic. */
	public static final int NR_SNAPSHOT_TAKE = 11;
	/** ioctl number of SNAPSHOT_LIST within the magic. */
	public static final int NR_SNAPSHOT_LIST = 12;
	/** ioctl number of SNAPSHOT_INFO within the magic. */
	public static final int NR_SNAPSHOT_INFO = 13;
	/** ioctl number of CBT_READ_HOLES within the magic. */
	public static final int NR_CBT_READ_HOLES = 14;
	/** ioctl number of SNAPSHOT_WAIT_EVENT within the magic. */
	public static final int NR_SNAPSHOT_WAIT_EVENT = 15;
	/** ioctl number of SNAPSHOT_ADD_STORAGE within the magic. */
	public static final int NR_SNAPSHOT_ADD_STORAGE = 16;

	private Uapi() {
	}
}
