// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.DeviceId;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * What sysfs says about a block device number: its name under /dev and its
 * size. Both are for display only, so a device that vanished or a sysfs
 * that is not mounted gives "unknown" rather than an error.
 *
 * @param root the directory holding one {@code MAJ:MIN} entry per block
 *             device, normally {@code /sys/dev/block}
 */
public record SysBlock(Path root) {

	public static final Path DEFAULT_ROOT = Path.of("/sys/dev/block");

	/** {@code /dev/NAME} from the DEVNAME line of the device's uevent. */
	public Optional<String> devicePath(DeviceId dev) {
		try {
			for (String line : Files.readAllLines(entry(dev).resolve("uevent"), StandardCharsets.UTF_8)) {
				if (line.startsWith("DEVNAME=") && line.length() > "DEVNAME=".length())
					return Optional.of("/dev/" + line.substring("DEVNAME=".length()).strip());
			}
		} catch (IOException e) {
			// unknown name: reported as such
		}
		return Optional.empty();
	}

	/** Size in bytes from the device's {@code size} file (512-byte sectors). */
	public OptionalLong sizeBytes(DeviceId dev) {
		try {
			long sectors = Long.parseLong(Files.readString(entry(dev).resolve("size"), StandardCharsets.US_ASCII).strip());
			return sectors >= 0 ? OptionalLong.of(Math.multiplyExact(sectors, 512L)) : OptionalLong.empty();
		} catch (IOException | NumberFormatException | ArithmeticException e) {
			return OptionalLong.empty();
		}
	}

	private Path entry(DeviceId dev) {
		return root.resolve(dev.major() + ":" + dev.minor());
	}

	/** A stable identifier of the device from sysfs (serial, or dm uuid), when it has one. */
	public Optional<String> serial(DeviceId dev) {
		for (String f : new String[] {"device/serial", "device/wwid", "dm/uuid", "md/uuid"}) {
			try {
				String v = Files.readString(root.resolve(dev.toString()).resolve(f), StandardCharsets.UTF_8).strip();
				if (!v.isEmpty())
					return Optional.of(v);
			} catch (IOException | RuntimeException e) {
				// not there: try the next
			}
		}
		return Optional.empty();
	}
}
