// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What can be checked without the module: opening, and requests reaching a
 * device that does not know them (/dev/null answers ENOTTY).
 */
class BlksnapControlTest {
	private static final DeviceId DEV = new DeviceId(7, 0);

	@Test
	void defaultPath() {
		assertEquals(Path.of("/dev/blksnap-control"), BlksnapControl.DEFAULT_PATH);
	}

	@Test
	void missingControlDeviceMeansModuleNotLoaded(@TempDir Path dir) {
		Path missing = dir.resolve("blksnap-control");
		var e = assertThrows(ModuleNotLoadedException.class, () -> BlksnapControl.open(missing));
		assertEquals(2, e.errno());
		assertEquals("ENOENT", e.errnoName());
		assertTrue(e.hint().contains("modprobe blksnap"), e.hint());
		assertEquals("open " + missing + ": blksnap control device not found (ENOENT) — load the module: "
				+ "modprobe blksnap", e.getMessage());
	}

	@Test
	void otherOpenFailuresKeepTheirErrno(@TempDir Path dir) {
		var e = assertThrows(BlksnapErrnoException.class, () -> BlksnapControl.open(dir));
		assertEquals("EISDIR", e.errnoName());
	}

	@Test
	void everyRequestOnAForeignDeviceFailsWithEnotty() throws BlksnapException {
		try (BlksnapControl ctl = BlksnapControl.open(Path.of("/dev/null"))) {
			List<org.junit.jupiter.api.function.Executable> calls = List.of(
					ctl::version,
					() -> ctl.attach(DEV),
					() -> ctl.detach(DEV),
					ctl::trackers,
					() -> ctl.cbtInfo(DEV),
					() -> ctl.readMap(DEV),
					() -> ctl.readMap(DEV, 0, new byte[8], 0, 8),
					() -> ctl.markDirty(DEV, List.of(new SectorRange(0, 8))),
					() -> ctl.checkpoint(DEV));
			for (var call : calls) {
				var e = assertThrows(BlksnapErrnoException.class, call);
				assertEquals(25, e.errno());
				assertEquals("ENOTTY", e.errnoName());
				assertTrue(e.getMessage().contains("(ENOTTY)"), e.getMessage());
			}
			// no ranges: nothing to ask the kernel
			ctl.markDirty(DEV, List.of());
		}
	}

	@Test
	void messagesNameTheOperationAndDevice() throws BlksnapException {
		try (BlksnapControl ctl = BlksnapControl.open(Path.of("/dev/null"))) {
			var e = assertThrows(BlksnapErrnoException.class, () -> ctl.attach(new DeviceId(8, 16)));
			assertTrue(e.getMessage().startsWith("tracker attach 8:16: "), e.getMessage());
			e = assertThrows(BlksnapErrnoException.class, () -> ctl.checkpoint(new DeviceId(253, 3)));
			assertTrue(e.getMessage().startsWith("cbt checkpoint 253:3: "), e.getMessage());
		}
	}

	@Test
	void rawReadChecksItsArguments() throws BlksnapException {
		try (BlksnapControl ctl = BlksnapControl.open(Path.of("/dev/null"))) {
			byte[] dst = new byte[8];
			assertThrows(IndexOutOfBoundsException.class, () -> ctl.readMap(DEV, 0, dst, 4, 5));
			assertThrows(IndexOutOfBoundsException.class, () -> ctl.readMap(DEV, 0, dst, -1, 1));
			assertThrows(IllegalArgumentException.class, () -> ctl.readMap(DEV, 0, dst, 0, 0));
			assertThrows(IllegalArgumentException.class, () -> ctl.readMap(DEV, -1, dst, 0, 1));
		}
	}

	@Test
	void closeIsIdempotentAndEndsUse() throws BlksnapException {
		BlksnapControl ctl = BlksnapControl.open(Path.of("/dev/null"));
		ctl.close();
		ctl.close();
		assertThrows(IllegalStateException.class, ctl::version);
		assertThrows(IllegalStateException.class, () -> ctl.attach(DEV));
	}
}
