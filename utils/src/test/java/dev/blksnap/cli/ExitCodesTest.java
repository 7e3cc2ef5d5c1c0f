// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.blksnap.BlksnapException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ExitCodesTest {

	static Stream<Arguments> failures() {
		return Stream.of(
				Arguments.of(Failures.permission("x"), 77),
				Arguments.of(Failures.moduleNotLoaded("x"), 69),
				Arguments.of(Failures.noSuchDevice("x"), 66),
				Arguments.of(Failures.notTracked("x"), 3),
				Arguments.of(Failures.alreadyTracked("x"), 4),
				Arguments.of(Failures.invalid("x"), 65),
				Arguments.of(Failures.outOfMemory("x"), 71),
				Arguments.of(Failures.busy("x"), 75),
				Arguments.of(Failures.errno("x"), 71),
				Arguments.of(new MapUnusableException("x"), 5),
				Arguments.of(new IOException("x"), 74),
				Arguments.of(new IllegalStateException("x"), 70),
				Arguments.of(new NullPointerException(), 70));
	}

	@ParameterizedTest
	@MethodSource("failures")
	void mapping(Exception failure, int code) {
		assertEquals(code, ExitCodes.of(failure));
	}

	/** Through the whole command line: one line on stderr, nothing on stdout, the code. */
	@ParameterizedTest
	@MethodSource("failures")
	void failuresPrintOneLine(Exception failure, int code, @TempDir Path sysfs) {
		// the opener stands for any step of a command that fails
		Control.Opener failing = () -> {
			throw sneaky(failure);
		};
		StringWriter out = new StringWriter();
		StringWriter err = new StringWriter();
		int got = BlksnapCommand.run(new Environment(failing, new SysBlock(sysfs)), new PrintWriter(out),
				new PrintWriter(err), "cbt", "info", "8:16");
		assertEquals(code, got);
		assertEquals("", out.toString());
		String e = err.toString();
		assertTrue(e.startsWith("blksnap: "), e);
		assertEquals(e.length() - 1, e.indexOf('\n'), "one line: " + e);
		assertFalse(e.contains("\tat "), e);
	}

	@SuppressWarnings("unchecked")
	private static <E extends Exception> BlksnapException sneaky(Exception e) throws E {
		throw (E) e;
	}

	@Test
	void multiLineMessagesAreJoined() {
		assertEquals("a; b", Errors.oneLine("a\n  b\n"));
		assertEquals("a; b: device or resource busy (EBUSY) — another operation holds the device; retry later",
				Errors.describe(Failures.busy("a\r\nb")));
	}

	/** Every constant is documented in the top-level help, with the same number. */
	@Test
	void helpListsEveryCode(@TempDir Path sysfs) throws IllegalAccessException {
		String help = new Cli(new FakeControl(), sysfs).run("--help").out();
		String section = help.substring(help.indexOf("Exit codes:"));
		Set<Integer> listed = new HashSet<>();
		Matcher m = Pattern.compile("(?m)^\\s+(\\d+)\\s{2,}").matcher(section);
		while (m.find())
			listed.add(Integer.parseInt(m.group(1)));
		Set<Integer> constants = new HashSet<>();
		for (Field f : ExitCodes.class.getFields()) {
			if (Modifier.isStatic(f.getModifiers()) && f.getType() == int.class)
				constants.add(f.getInt(null));
		}
		assertEquals(constants, listed);
		assertTrue(List.of(0, 2, 69, 77).stream().allMatch(listed::contains));
	}
}
