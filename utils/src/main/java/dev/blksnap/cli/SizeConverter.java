// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** SIZE arguments: bytes, or a number with K, M, G or T (powers of 1024). */
final class SizeConverter implements ITypeConverter<Long> {
	private static final Pattern SIZE = Pattern.compile("(\\d{1,18})([KMGT]?)", Pattern.CASE_INSENSITIVE);

	@Override
	public Long convert(String text) {
		Matcher m = SIZE.matcher(text);
		if (!m.matches())
			throw new TypeConversionException("'" + text + "' is not a size (bytes, or a number with K, M, G or T)");
		int shift = switch (m.group(2).toUpperCase(java.util.Locale.ROOT)) {
			case "K" -> 10;
			case "M" -> 20;
			case "G" -> 30;
			case "T" -> 40;
			default -> 0;
		};
		long n = Long.parseLong(m.group(1));
		if (n > (Long.MAX_VALUE >> shift))
			throw new TypeConversionException("'" + text + "' is too large");
		return n << shift;
	}
}
