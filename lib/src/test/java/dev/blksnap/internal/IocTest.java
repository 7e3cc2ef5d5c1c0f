// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.internal;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The _IOC encoding against request numbers every Linux system uses. */
class IocTest {
	@Test
	void encodesWellKnownLinuxRequests() {
		// BLKGETSIZE64 = _IOR(0x12, 114, size_t)
		assertEquals(0x80081272L, Ioc.ior(0x12, 114, JAVA_LONG));
		// FS_IOC_SETFLAGS = _IOW('f', 2, long)
		assertEquals(0x40086602L, Ioc.iow('f', 2, JAVA_LONG));
		// BLKROSET = _IO(0x12, 93)
		assertEquals(0x125dL, Ioc.ioc(Ioc.NONE, 0x12, 93, 0));
		// a read-write request keeps both direction bits
		assertEquals(0xc008_0000L | 0x12_00L | 1, Ioc.iowr(0x12, 1, JAVA_LONG));
	}

	@Test
	void numbersAreUnsigned32Bit() {
		long n = Ioc.ioc(Ioc.READ | Ioc.WRITE, 0xff, 0xff, (1 << 14) - 1);
		assertEquals(0xffffffffL, n);
	}

	@Test
	void rejectsFieldsThatDoNotFit() {
		assertThrows(IllegalArgumentException.class, () -> Ioc.ioc(4, 0, 0, 0));
		assertThrows(IllegalArgumentException.class, () -> Ioc.ioc(0, 256, 0, 0));
		assertThrows(IllegalArgumentException.class, () -> Ioc.ioc(0, 0, 256, 0));
		assertThrows(IllegalArgumentException.class, () -> Ioc.ioc(0, 0, 0, 1 << 14));
		assertThrows(IllegalArgumentException.class, () -> Ioc.ioc(0, 0, 0, -1));
	}
}
