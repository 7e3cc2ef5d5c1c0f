// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

/** Words for the errnos a broken snapshot reports. */
final class BrokenSnapshotReasons {
	private BrokenSnapshotReasons() {
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
