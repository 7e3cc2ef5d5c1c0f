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
	public static final int VERSION_MINOR = 0;
	/** Contract patch level this library knows. */
	public static final int VERSION_PATCH = 0;

	/** Feature bit: changed-block tracking. */
	public static final long FEATURE_CBT = 1L << 0;
	/** Bytes in a generation identifier. */
	public static final int UUID_SIZE = 16;
	/** Most ranges one CBT_MARK_DIRTY call accepts. */
	public static final int MARK_DIRTY_MAX_RANGES = 65536;
	/** Most entries one TRACKER_LIST call fills. */
	public static final int TRACKER_LIST_MAX = 65536;
	/** Flag of blksnap_cbt_info.flags: the map can no longer be trusted. */
	public static final int CBT_FLAG_CORRUPTED = 1 << 0;

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

	private Uapi() {
	}
}
