// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.DeviceId;
import dev.blksnap.NotABlockDeviceException;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * DEVICE arguments: {@code MAJ:MIN} (decimal device numbers) or the path of a
 * block special file, which is resolved to its device number right away. A
 * DEVICE that cannot be resolved is a usage error.
 */
final class DeviceConverter implements ITypeConverter<DeviceId> {

	private static final Pattern NUMBERS = Pattern.compile("\\d+:\\d+");

	@Override
	public DeviceId convert(String text) {
		return parse(text);
	}

	static DeviceId parse(String text) {
		if (text.isEmpty())
			throw new TypeConversionException("empty DEVICE: give a block device path or MAJ:MIN");
		if (NUMBERS.matcher(text).matches()) {
			try {
				return DeviceId.parse(text);
			} catch (IllegalArgumentException e) {
				throw new TypeConversionException("'" + text + "': " + e.getMessage());
			}
		}
		if (text.indexOf(':') >= 0 && text.indexOf('/') < 0)
			throw new TypeConversionException("'" + text + "' is not MAJ:MIN (two decimal numbers) nor a device path");
		try {
			return DeviceId.of(Path.of(text));
		} catch (NoSuchFileException e) {
			throw new TypeConversionException("'" + text + "': no such file");
		} catch (IOException e) {
			throw new TypeConversionException("'" + text + "': " + Errors.describe(e));
		} catch (NotABlockDeviceException e) {
			throw new TypeConversionException("'" + text + "': not a block device");
		} catch (IllegalArgumentException e) {
			// a path the platform rejects, or a device number out of range
			throw new TypeConversionException("'" + text + "': " + Errors.describe(e));
		}
	}
}
