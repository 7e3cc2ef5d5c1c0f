// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.SectorRange;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A RANGE argument as written, {@code START+LENGTH}: two non-negative decimal
 * numbers, each optionally followed by K, M, G or T (powers of 1024). What
 * the numbers count — sectors or bytes — is decided by the command, see
 * {@link #toSectors(boolean)}.
 *
 * @param start  the first unit
 * @param length units in the range, positive
 * @param scaled whether a K/M/G/T suffix was used
 * @param text   the argument as given, for messages
 */
public record RangeArg(long start, long length, boolean scaled, String text) {

	public static final int SECTOR_SIZE = 512;

	private static final Pattern SYNTAX = Pattern.compile("(\\d+)([KMGT]?)\\+(\\d+)([KMGT]?)",
			Pattern.CASE_INSENSITIVE);

	/** Parses {@code START+LENGTH}; IllegalArgumentException with the reason. */
	public static RangeArg parse(String text) {
		Matcher m = SYNTAX.matcher(text);
		if (!m.matches())
			throw new IllegalArgumentException("'" + text + "' is not START+LENGTH (for example 2048+8)");
		long start = number(text, m.group(1), m.group(2));
		long length = number(text, m.group(3), m.group(4));
		if (length == 0)
			throw new IllegalArgumentException("'" + text + "': LENGTH must be positive");
		try {
			Math.addExact(start, length);
		} catch (ArithmeticException e) {
			throw new IllegalArgumentException("'" + text + "': START+LENGTH is too large");
		}
		return new RangeArg(start, length, !m.group(2).isEmpty() || !m.group(4).isEmpty(), text);
	}

	private static long number(String text, String digits, String suffix) {
		int shift = switch (suffix.toUpperCase(Locale.ROOT)) {
			case "" -> 0;
			case "K" -> 10;
			case "M" -> 20;
			case "G" -> 30;
			case "T" -> 40;
			default -> throw new IllegalStateException(suffix);
		};
		try {
			long value = Long.parseLong(digits);
			if (shift > 0 && value > (Long.MAX_VALUE >> shift))
				throw new NumberFormatException();
			return value << shift;
		} catch (NumberFormatException e) {
			throw new IllegalArgumentException("'" + text + "': " + digits + suffix + " is too large");
		}
	}

	/**
	 * The sectors this range names. With {@code bytes} false the numbers are
	 * 512-byte sectors and suffixes are refused (a "1M sectors" range is more
	 * likely a mistake than meant). With {@code bytes} true they are byte
	 * offsets and the range is rounded out to whole sectors, so every byte
	 * named is covered.
	 */
	public SectorRange toSectors(boolean bytes) {
		if (!bytes) {
			if (scaled)
				throw new IllegalArgumentException("'" + text + "': K/M/G/T suffixes need --bytes");
			return new SectorRange(start, length);
		}
		long end = start + length; // parse() checked it does not overflow
		long first = start / SECTOR_SIZE;
		long last = Math.ceilDiv(end, SECTOR_SIZE);
		return new SectorRange(first, last - first);
	}
}
