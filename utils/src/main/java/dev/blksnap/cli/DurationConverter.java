// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** DURATION arguments: a number with ms, s, m or h (500ms, 30s, 5m, 2h); a bare number is seconds. */
final class DurationConverter implements ITypeConverter<Duration> {
	private static final Pattern DURATION = Pattern.compile("(\\d{1,9})(ms|s|m|h)?", Pattern.CASE_INSENSITIVE);

	@Override
	public Duration convert(String text) {
		Matcher m = DURATION.matcher(text);
		if (!m.matches())
			throw new TypeConversionException("'" + text + "' is not a duration (a number with ms, s, m or h)");
		long n = Long.parseLong(m.group(1));
		String unit = m.group(2) == null ? "s" : m.group(2).toLowerCase(java.util.Locale.ROOT);
		return switch (unit) {
			case "ms" -> Duration.ofMillis(n);
			case "m" -> Duration.ofMinutes(n);
			case "h" -> Duration.ofHours(n);
			default -> Duration.ofSeconds(n);
		};
	}
}
