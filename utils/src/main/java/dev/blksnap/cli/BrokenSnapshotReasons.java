// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import java.util.Collection;

/** Words for the errnos a broken snapshot reports. */
final class BrokenSnapshotReasons {
	/** The errno of an overflow. */
	static final int ENOSPC = 28;

	private BrokenSnapshotReasons() {
	}

	/**
	 * The one line of a backup whose snapshot broke, from its event or from
	 * its state (the same words either way).
	 *
	 * @param snapshot the snapshot's id
	 * @param devices  its devices, as the user named them
	 * @param errno    why it broke
	 * @param on       the device whose copy failed, or null (not named when it is the only one)
	 * @param used     storage bytes used then
	 * @param limit    the storage limit then
	 */
	static String backupBroke(long snapshot, Collection<String> devices, int errno, String on, long used,
			long limit) {
		return "snapshot " + snapshot + " of " + String.join(", ", devices) + " broke (" + describe(errno)
				+ (on != null && devices.size() > 1 ? ", on " + on : "") + "; storage " + Output.human(used) + " used of "
				+ Output.human(limit) + "): no point was recorded; "
				+ (errno == ENOSPC ? "give it more storage (--storage-limit, --extra-storage) and retry" : "retry");
	}

	static String describe(int errno) {
		return switch (errno) {
			case 0 -> "no error recorded";
			case 28 -> "ENOSPC: the difference storage overflowed";
			case 5 -> "EIO: an I/O error on the storage or the device";
			case 12 -> "ENOMEM: the kernel ran out of memory";
			case 19 -> "ENODEV: the device was removed";
			case 34 -> "ERANGE: the device was resized";
			case 95 -> "EOPNOTSUPP: a command that bypasses copy-on-write changed the device";
			default -> "errno " + errno;
		};
	}
}
