// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.blksnap.DeviceId;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SysBlockTest {

	static void fakeDevice(Path root, DeviceId dev, String name, String size) throws IOException {
		Path dir = Files.createDirectories(root.resolve(dev.major() + ":" + dev.minor()));
		if (name != null)
			Files.writeString(dir.resolve("uevent"), "MAJOR=" + dev.major() + "\nMINOR=" + dev.minor()
					+ "\nDEVNAME=" + name + "\nDEVTYPE=disk\n");
		if (size != null)
			Files.writeString(dir.resolve("size"), size);
	}

	@Test
	void nameAndSize(@TempDir Path root) throws IOException {
		DeviceId dev = new DeviceId(8, 16);
		fakeDevice(root, dev, "sdb", "2097152\n");
		SysBlock sys = new SysBlock(root);
		assertEquals(Optional.of("/dev/sdb"), sys.devicePath(dev));
		assertEquals(OptionalLong.of(1L << 30), sys.sizeBytes(dev));
	}

	@Test
	void partitionNames(@TempDir Path root) throws IOException {
		DeviceId dev = new DeviceId(253, 3);
		fakeDevice(root, dev, "nvme0n1p2", "8");
		assertEquals(Optional.of("/dev/nvme0n1p2"), new SysBlock(root).devicePath(dev));
	}

	@Test
	void unknownDeviceIsUnknownNotAnError(@TempDir Path root) throws IOException {
		SysBlock sys = new SysBlock(root);
		DeviceId dev = new DeviceId(8, 0);
		assertEquals(Optional.empty(), sys.devicePath(dev));
		assertEquals(OptionalLong.empty(), sys.sizeBytes(dev));
		fakeDevice(root, dev, null, "junk");
		assertEquals(Optional.empty(), sys.devicePath(dev));
		assertEquals(OptionalLong.empty(), sys.sizeBytes(dev));
	}
}
