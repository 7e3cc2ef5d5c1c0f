// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.blksnap.DeviceId;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine.TypeConversionException;

class DeviceConverterTest {

	@Test
	void numbers() {
		assertEquals(new DeviceId(8, 16), DeviceConverter.parse("8:16"));
		assertEquals(new DeviceId(259, 1048575), DeviceConverter.parse("259:1048575"));
	}

	@ParameterizedTest
	@ValueSource(strings = {"", "8", "8:", ":16", "8:16:1", "a:b", "-8:16", "8:-16", "sdb",
		"4096:0", "0:1048576", "99999999999:1"})
	void junkIsAUsageError(String text) {
		assertThrows(TypeConversionException.class, () -> DeviceConverter.parse(text));
	}

	@Test
	void missingPath(@TempDir Path dir) {
		TypeConversionException e = assertThrows(TypeConversionException.class,
				() -> DeviceConverter.parse(dir.resolve("nope").toString()));
		assertTrue(e.getMessage().contains("no such file"), e.getMessage());
	}

	@Test
	void notABlockDevice(@TempDir Path dir) throws IOException {
		Path file = Files.createFile(dir.resolve("file"));
		TypeConversionException e = assertThrows(TypeConversionException.class,
				() -> DeviceConverter.parse(file.toString()));
		assertEquals("'" + file + "': not a block device", e.getMessage());
		assertThrows(TypeConversionException.class, () -> DeviceConverter.parse("/dev/null"));
	}

	@Test
	void blockDevicePath() throws IOException {
		Path loop = Path.of("/dev/loop0");
		assumeTrue(Files.exists(loop), "needs /dev/loop0");
		// loop devices are major 7; /dev/loop0 is minor 0
		assertEquals(new DeviceId(7, 0), DeviceConverter.parse(loop.toString()));
	}
}
