// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;

class HelpTest {

	@TempDir
	Path sysfs;

	/** Every command path, e.g. [], [cbt], [cbt, map]. */
	static Stream<List<String>> commands() {
		CommandLine root = BlksnapCommand.commandLine(
				new Environment(new FakeControl().opener(), new SysBlock(Path.of("/nonexistent"))),
				new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()));
		List<List<String>> paths = new ArrayList<>();
		collect(root, new ArrayList<>(), paths);
		return paths.stream();
	}

	private static void collect(CommandLine cmd, List<String> path, List<List<String>> into) {
		into.add(List.copyOf(path));
		for (var e : cmd.getSubcommands().entrySet()) {
			path.add(e.getKey());
			collect(e.getValue(), path, into);
			path.removeLast();
		}
	}

	@Test
	void everyCommandIsThere() {
		List<String> names = commands().map(p -> String.join(" ", p)).toList();
		assertEquals(List.of("", "version", "tracker", "tracker attach", "tracker detach", "tracker list", "cbt",
				"cbt info", "cbt map", "cbt mark-dirty", "cbt checkpoint", "snapshot", "snapshot create",
				"snapshot add", "snapshot add-storage", "snapshot take", "snapshot list", "snapshot info",
				"snapshot destroy",
				"snapshot wait-event", "backup",
				"restore", "verify", "list"), names);
	}

	@ParameterizedTest
	@MethodSource("commands")
	void helpWorks(List<String> path) {
		for (String option : List.of("--help", "-h")) {
			List<String> args = new ArrayList<>(path);
			args.add(option);
			FakeControl control = new FakeControl();
			Cli.Result r = new Cli(control, sysfs).run(args.toArray(String[]::new));
			assertEquals(0, r.code(), r.err());
			assertEquals("", r.err());
			String usage = "Usage: " + String.join(" ", Stream.concat(Stream.of("blksnap"), path.stream()).toList());
			assertTrue(r.out().contains(usage), r.out());
			assertEquals(0, control.opens, "help must not touch the module");
		}
	}

	@ParameterizedTest
	@MethodSource("commands")
	void leafCommandsTakeJson(List<String> path) {
		if (path.size() < 2 && !path.equals(List.of("version")))
			return;
		Cli.Result r = new Cli(new FakeControl(), sysfs).run(Stream.concat(path.stream(), Stream.of("--help"))
				.toArray(String[]::new));
		assertTrue(r.out().contains("--json"), r.out());
	}

	@ParameterizedTest
	@MethodSource("commands")
	void versionOptionWorks(List<String> path) {
		Cli.Result r = new Cli(new FakeControl(), sysfs).run(Stream.concat(path.stream(), Stream.of("--version"))
				.toArray(String[]::new));
		assertEquals(0, r.code());
		assertTrue(r.out().startsWith("blksnap "), r.out());
	}

	@Test
	void missingCommandIsAUsageError() {
		Cli cli = new Cli(new FakeControl(), sysfs);
		for (String[] args : List.of(new String[0], new String[] {"tracker"}, new String[] {"cbt"},
				new String[] {"nope"}, new String[] {"cbt", "info"}, new String[] {"cbt", "info", "8:16", "8:17"},
				new String[] {"cbt", "mark-dirty", "8:16"}, new String[] {"tracker", "list", "--bogus"})) {
			Cli.Result r = cli.run(args);
			assertEquals(2, r.code(), String.join(" ", args));
			assertEquals("", r.out());
			assertTrue(r.err().startsWith("blksnap: ") && r.err().indexOf('\n') == r.err().length() - 1, r.err());
			assertTrue(r.err().contains("--help"), r.err());
		}
	}
}
