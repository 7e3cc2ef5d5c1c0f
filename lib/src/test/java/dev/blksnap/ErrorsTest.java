// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** errno to exception: each errno to the right subclass, with its name and a hint. */
class ErrorsTest {
	@ParameterizedTest(name = "{0} ({1}) -> {2}")
	@CsvSource({
			"1,   EPERM,    PermissionDeniedException",
			"13,  EACCES,   PermissionDeniedException",
			"2,   ENOENT,   NotTrackedException",
			"19,  ENODEV,   NoSuchDeviceException",
			"114, EALREADY, AlreadyTrackedException",
			"22,  EINVAL,   InvalidRequestException",
			"34,  ERANGE,   InvalidRequestException",
			"7,   E2BIG,    InvalidRequestException",
			"14,  EFAULT,   InvalidRequestException",
			"12,  ENOMEM,   KernelOutOfMemoryException",
			"16,  EBUSY,    DeviceBusyException",
			"25,  ENOTTY,   BlksnapErrnoException",
			"5,   EIO,      BlksnapErrnoException",
			"28,  ENOSPC,   BlksnapErrnoException",
			"4242, E4242,   BlksnapErrnoException",
	})
	void mapsErrnoToItsException(int errno, String name, String type) {
		BlksnapException e = BlksnapException.fromErrno("tracker attach 8:16", errno);
		assertEquals(type, e.getClass().getSimpleName());
		assertEquals(errno, e.errno());
		assertEquals(name, e.errnoName());
		assertFalse(e.hint().isBlank(), "hint");
		assertFalse(e.problem().isBlank(), "problem");
		assertEquals("tracker attach 8:16", e.operation());
		assertEquals("tracker attach 8:16: " + e.problem() + " (" + name + ") — " + e.hint(), e.getMessage());
		assertFalse(e.getMessage().contains("\n"), "one line");
	}

	@ParameterizedTest
	@CsvSource({ "114", "2", "19", "1", "12", "16", "22" })
	void hintsSayWhatToDo(int errno) {
		String hint = BlksnapException.fromErrno("x", errno).hint();
		assertTrue(hint.length() > 10, hint);
	}

	@ParameterizedTest
	@CsvSource({ "114" })
	void theContractExampleMessage(int errno) {
		assertEquals("tracker attach 8:16: already attached (EALREADY) — detach it first or use it as is",
				BlksnapException.fromErrno("tracker attach 8:16", errno).getMessage());
	}

	@ParameterizedTest
	@CsvSource({ "1" })
	void theHierarchyIsClosed(int unused) {
		Set<String> permitted = Arrays.stream(BlksnapException.class.getPermittedSubclasses())
				.map(Class::getSimpleName).collect(Collectors.toSet());
		assertEquals(Set.of("PermissionDeniedException", "ModuleNotLoadedException", "NoSuchDeviceException",
				"NotTrackedException", "AlreadyTrackedException", "InvalidRequestException",
				"KernelOutOfMemoryException", "DeviceBusyException", "NoSuchSnapshotException",
				"SnapshotStateException", "NoSpaceException", "NotSupportedException", "BlksnapErrnoException"),
				permitted);
		assertSame(java.io.IOException.class, BlksnapException.class.getSuperclass());
		assertTrue(unused > 0);
	}
}
