// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Who a backed-up device is.
 *
 * @param name         the key of its points in the repository (its directory),
 *                     for example {@code "vdb"} or {@code "vg0-root"}: letters,
 *                     digits, {@code . _ -}, not starting with a dot
 * @param path         the device node as given, for example {@code /dev/vdb}
 * @param deviceNumber {@code "MAJ:MIN"} at the time of the backup
 * @param sizeBytes    the size in bytes, a positive multiple of 512
 * @param serial       a serial number or other stable identifier from sysfs, or null
 */
public record DeviceIdentity(String name, String path, String deviceNumber, long sizeBytes, String serial) {
	private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}");

	/**
	 * Checks the values.
	 *
	 * @throws IllegalArgumentException when the name or size is unusable
	 */
	public DeviceIdentity {
		Objects.requireNonNull(name, "name");
		Objects.requireNonNull(path, "path");
		Objects.requireNonNull(deviceNumber, "deviceNumber");
		if (!NAME.matcher(name).matches())
			throw new IllegalArgumentException("device name '" + name + "' is not usable as a directory name");
		if (sizeBytes <= 0 || sizeBytes % 512 != 0)
			throw new IllegalArgumentException("device size " + sizeBytes + " is not a positive multiple of 512");
	}

	/**
	 * A repository name for a device node: the node's file name, with any
	 * character outside {@code [A-Za-z0-9._-]} replaced by {@code _}.
	 *
	 * @param kernelName for example {@code "vdb"} or {@code "dm-0"}
	 * @return a usable name
	 */
	public static String nameFor(String kernelName) {
		String n = kernelName.replaceAll("[^A-Za-z0-9._-]", "_");
		if (n.isEmpty() || n.startsWith("."))
			n = "_" + n;
		return n.length() > 128 ? n.substring(0, 128) : n;
	}
}
