// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A block device named by its device number, as stat(2) reports it in
 * {@code st_rdev}. A partition and its whole disk are different devices.
 *
 * @param major the major number, 0..4095
 * @param minor the minor number, 0..1048575
 */
public record DeviceId(int major, int minor) {
	/** Largest major number Linux encodes in a dev_t (12 bits). */
	public static final int MAX_MAJOR = (1 << 12) - 1;
	/** Largest minor number Linux encodes in a dev_t (20 bits). */
	public static final int MAX_MINOR = (1 << 20) - 1;

	private static final Pattern NUMBERS = Pattern.compile("([0-9]{1,10}):([0-9]{1,10})");
	private static final int S_IFMT = 0170000;
	private static final int S_IFBLK = 0060000;

	/**
	 * Checks the numbers.
	 *
	 * @throws IllegalArgumentException when a number is outside what Linux can encode
	 */
	public DeviceId {
		if (major < 0 || major > MAX_MAJOR)
			throw new IllegalArgumentException("major number " + Integer.toUnsignedString(major)
					+ " out of range 0.." + MAX_MAJOR);
		if (minor < 0 || minor > MAX_MINOR)
			throw new IllegalArgumentException("minor number " + Integer.toUnsignedString(minor)
					+ " out of range 0.." + MAX_MINOR);
	}

	/**
	 * The device number of a block special file; symbolic links (such as
	 * {@code /dev/disk/by-id/...}) are followed.
	 *
	 * @param blockDevice the device node, for example {@code /dev/sdb}
	 * @return its device number
	 * @throws NotABlockDeviceException when the file is not a block device
	 * @throws IOException              when the file cannot be examined (for example
	 *                                  {@link java.nio.file.NoSuchFileException})
	 */
	public static DeviceId of(Path blockDevice) throws IOException {
		int mode = (Integer) Files.getAttribute(blockDevice, "unix:mode");
		if ((mode & S_IFMT) != S_IFBLK)
			throw new NotABlockDeviceException(blockDevice);
		return fromRdev((Long) Files.getAttribute(blockDevice, "unix:rdev"));
	}

	/**
	 * Decodes a Linux {@code dev_t} like glibc's {@code major()} and
	 * {@code minor()}.
	 *
	 * @param rdev the encoded number
	 * @return the device number
	 * @throws IllegalArgumentException when the numbers are out of range
	 */
	public static DeviceId fromRdev(long rdev) {
		long major = ((rdev >>> 8) & 0xfffL) | ((rdev >>> 32) & ~0xfffL);
		long minor = (rdev & 0xffL) | ((rdev >>> 12) & ~0xffL);
		if (major > MAX_MAJOR || minor > MAX_MINOR)
			throw new IllegalArgumentException("device number 0x" + Long.toHexString(rdev) + " out of range");
		return new DeviceId((int) major, (int) minor);
	}

	/**
	 * Parses {@code "MAJ:MIN"} (two decimal numbers) or the path of a block
	 * device node.
	 *
	 * @param text for example {@code "8:16"} or {@code "/dev/sdb"}
	 * @return the device number
	 * @throws IllegalArgumentException when the text is neither, the numbers are
	 *                                  out of range, or the path is not a block device
	 */
	public static DeviceId parse(String text) {
		Matcher m = NUMBERS.matcher(text);
		if (m.matches())
			return new DeviceId(number(m.group(1), "major"), number(m.group(2), "minor"));
		if (text.isBlank() || text.indexOf('\0') >= 0 || !text.contains("/"))
			throw new IllegalArgumentException("'" + text + "' is neither MAJ:MIN nor a device path");
		try {
			return of(Path.of(text));
		} catch (IOException | java.nio.file.InvalidPathException e) {
			throw new IllegalArgumentException("'" + text + "' is neither MAJ:MIN nor a device path: " + e, e);
		}
	}

	private static int number(String digits, String what) {
		long value = Long.parseLong(digits);
		if (value > Integer.MAX_VALUE)
			throw new IllegalArgumentException(what + " number " + digits + " out of range");
		return (int) value;
	}

	/**
	 * The encoded {@code dev_t}, the inverse of {@link #fromRdev(long)}.
	 *
	 * @return the number as stat(2) would report it
	 */
	public long rdev() {
		return ((long) (major & 0xfff) << 8) | ((long) (major & ~0xfff) << 32)
				| (minor & 0xffL) | ((long) (minor & ~0xff) << 12);
	}

	/**
	 * The usual notation.
	 *
	 * @return {@code "MAJ:MIN"}, for example {@code "8:16"}
	 */
	@Override
	public String toString() {
		return major + ":" + minor;
	}
}
