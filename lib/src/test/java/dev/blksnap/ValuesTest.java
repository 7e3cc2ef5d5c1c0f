// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.UUID;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** DeviceId, SectorRange, ByteRange, ModuleVersion, Checkpoint. */
class ValuesTest {
	@Test
	void parsesMajorMinor() {
		assertEquals(new DeviceId(8, 16), DeviceId.parse("8:16"));
		assertEquals("8:16", DeviceId.parse("8:16").toString());
		assertEquals(new DeviceId(0, 0), DeviceId.parse("0:0"));
		assertEquals(new DeviceId(259, 1048575), DeviceId.parse("259:1048575"));
		assertEquals(new DeviceId(4095, 7), DeviceId.parse("0004095:007"));
	}

	@ParameterizedTest
	@ValueSource(strings = { "", " ", "8", "8:", ":16", "a:b", "8:16:0", "-1:2", "8:-2", " 8:16", "8:16 ",
			"8:0x10", "4096:0", "8:1048576", "99999999999:1", "1:99999999999", "sdb", "/no/such/device",
			"/dev/null", "8:16\n" })
	void rejectsJunk(String text) {
		assertThrows(IllegalArgumentException.class, () -> DeviceId.parse(text));
	}

	@Test
	void rejectsNumbersLinuxCannotEncode() {
		assertThrows(IllegalArgumentException.class, () -> new DeviceId(-1, 0));
		assertThrows(IllegalArgumentException.class, () -> new DeviceId(4096, 0));
		assertThrows(IllegalArgumentException.class, () -> new DeviceId(0, 1 << 20));
		assertThrows(IllegalArgumentException.class, () -> new DeviceId(0, -1));
	}

	@Test
	void decodesDevTLikeGlibc() {
		// makedev(8, 16) and makedev(259, 0x12345) as glibc encodes them
		assertEquals(new DeviceId(8, 16), DeviceId.fromRdev(0x810L));
		assertEquals(new DeviceId(259, 0x12345), DeviceId.fromRdev(0x12310345L));
		assertEquals(new DeviceId(0xabc, 0xfffff), DeviceId.fromRdev(0xfffabcffL));
		SplittableRandom rnd = new SplittableRandom(42);
		for (int i = 0; i < 10_000; i++) {
			DeviceId d = new DeviceId(rnd.nextInt(DeviceId.MAX_MAJOR + 1), rnd.nextInt(DeviceId.MAX_MINOR + 1));
			assertEquals(d, DeviceId.fromRdev(d.rdev()));
		}
	}

	@Test
	void ofRejectsWhatIsNotABlockDevice(@TempDir Path dir) throws IOException {
		Path file = Files.writeString(dir.resolve("file"), "x");
		var e = assertThrows(NotABlockDeviceException.class, () -> DeviceId.of(file));
		assertEquals(file, e.path());
		assertTrue(e.getMessage().contains("not a block device"));
		assertThrows(NotABlockDeviceException.class, () -> DeviceId.of(dir));
		assertThrows(NotABlockDeviceException.class, () -> DeviceId.of(Path.of("/dev/null")));
		assertThrows(NoSuchFileException.class, () -> DeviceId.of(dir.resolve("missing")));
	}

	@Test
	void ofReadsTheNumbersOfRealBlockDevices() throws IOException {
		// /sys/class/block/<name>/dev holds "MAJ:MIN" of /dev/<name>, as the kernel sees it
		Path sys = Path.of("/sys/class/block");
		int checked = 0;
		if (Files.isDirectory(sys)) {
			try (var names = Files.list(sys)) {
				for (Path p : (Iterable<Path>) names::iterator) {
					Path node = Path.of("/dev", p.getFileName().toString());
					if (!Files.exists(node) || !Files.exists(p.resolve("dev")))
						continue;
					String expected = Files.readString(p.resolve("dev")).trim();
					assertEquals(expected, DeviceId.of(node).toString(), node.toString());
					assertEquals(expected, DeviceId.parse(node.toString()).toString());
					checked++;
				}
			}
		}
		org.junit.jupiter.api.Assumptions.assumeTrue(checked > 0, "no block devices on this host");
	}

	@Test
	void sectorRangesAreValidated() {
		SectorRange r = new SectorRange(0, 1);
		assertEquals(1, r.end());
		assertEquals(Long.MAX_VALUE, new SectorRange(Long.MAX_VALUE - 1, 1).end());
		assertThrows(IllegalArgumentException.class, () -> new SectorRange(0, 0));
		assertThrows(IllegalArgumentException.class, () -> new SectorRange(0, -5));
		assertThrows(IllegalArgumentException.class, () -> new SectorRange(-1, 1));
		assertThrows(IllegalArgumentException.class, () -> new SectorRange(Long.MAX_VALUE, 1));
	}

	@Test
	void byteRangesAreValidated() {
		assertEquals(30, new ByteRange(10, 20).end());
		assertThrows(IllegalArgumentException.class, () -> new ByteRange(-1, 1));
		assertThrows(IllegalArgumentException.class, () -> new ByteRange(0, -1));
		assertThrows(IllegalArgumentException.class, () -> new ByteRange(Long.MAX_VALUE, 1));
	}

	@Test
	void moduleVersion() {
		ModuleVersion v = new ModuleVersion(1, 0, 0, 1);
		assertEquals("1.0.0", v.toString());
		assertEquals("2.13.7", new ModuleVersion(2, 13, 7, 0).toString());
		assertTrue(v.hasCbt());
		assertTrue(v.isCompatible());
		assertTrue(new ModuleVersion(1, 3, 0, 0b111).hasCbt());
		assertFalse(new ModuleVersion(1, 0, 0, 0b110).hasCbt());
		assertFalse(new ModuleVersion(2, 0, 0, 1).isCompatible());
	}

	@Test
	void checkpointNumbersAreBytes() {
		UUID g = UUID.randomUUID();
		DeviceId d = new DeviceId(8, 0);
		assertEquals(255, new Checkpoint(d, g, 255, 1).closedNumber());
		assertThrows(IllegalArgumentException.class, () -> new Checkpoint(d, g, 256, 1));
		assertThrows(IllegalArgumentException.class, () -> new Checkpoint(d, g, 1, -1));
		assertThrows(NullPointerException.class, () -> new Checkpoint(d, null, 1, 2));
	}

	@Test
	void generationBytesReadInRfc4122Order() {
		byte[] b = new byte[16];
		for (int i = 0; i < 16; i++)
			b[i] = (byte) (i == 0 ? 0xf0 : i);
		assertEquals("f0010203-0405-0607-0809-0a0b0c0d0e0f", BlksnapControl.uuid(b).toString());
		assertInstanceOf(UUID.class, BlksnapControl.uuid(new byte[16]));
	}
}
