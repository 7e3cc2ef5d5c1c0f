// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The native layer on files every Linux host has; errors come back as -errno. */
class RawIoctlTest {
	@Test
	void openOfAMissingFileReturnsMinusEnoent(@TempDir Path dir) {
		assertEquals(-Errno.ENOENT, RawIoctl.openControl(dir.resolve("blksnap-control")));
	}

	@Test
	void openOfADirectoryReadWriteReturnsMinusEisdir(@TempDir Path dir) {
		assertEquals(-21, RawIoctl.openControl(dir)); // EISDIR
		assertEquals("EISDIR", Errno.name(21));
	}

	@Test
	void blksnapRequestsOnDevNullReturnMinusEnotty() {
		int fd = RawIoctl.openControl(Path.of("/dev/null"));
		assertTrue(fd >= 0, "open /dev/null: " + fd);
		try (Arena arena = Arena.ofConfined()) {
			MemorySegment v = arena.allocate(Layouts.VERSION);
			assertEquals(-Errno.ENOTTY, RawIoctl.ioctl(fd, RawIoctl.VERSION, v));
			assertEquals(-Errno.ENOTTY, RawIoctl.ioctl(fd, RawIoctl.CBT_INFO, MemorySegment.NULL));
			assertEquals(-Errno.ENOTTY, RawIoctlTest.address(fd));
		} finally {
			assertEquals(0, RawIoctl.close(fd));
		}
	}

	private static int address(int fd) {
		return RawIoctl.ioctlAddress(fd, RawIoctl.TRACKER_LIST, 0xdead_0000L);
	}

	@Test
	void closeOfABadDescriptorReturnsMinusEbadf() {
		assertEquals(-9, RawIoctl.close(-1)); // EBADF
		assertEquals("EBADF", Errno.name(9));
	}

	@Test
	void errnoNamesAndDescriptions() {
		assertEquals("EALREADY", Errno.name(Errno.EALREADY));
		assertEquals("no such file or directory", Errno.description(Errno.ENOENT));
		assertEquals("I/O error", Errno.description(5));
		assertEquals("E9999", Errno.name(9999));
		assertEquals("unknown error 9999", Errno.description(9999));
	}
}
