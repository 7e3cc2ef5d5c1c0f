// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import java.io.BufferedWriter;
import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;

/** The {@code blksnap} command: entry point, subcommands, error handling. */
@Command(name = "blksnap",
		mixinStandardHelpOptions = true,
		versionProvider = BlksnapCommand.CliVersion.class,
		description = "Changed-block tracking (CBT) of block devices through the blksnap kernel module: "
				+ "attach a tracker to a device, then ask which blocks changed since a checkpoint.",
		subcommands = {VersionCommand.class, TrackerCommand.class, CbtCommand.class, SnapshotCommand.class,
			BackupCommand.class, RestoreCommand.class, VerifyCommand.class, ListCommand.class},
		synopsisSubcommandLabel = "COMMAND",
		commandListHeading = "%nCommands:%n",
		exitCodeListHeading = "%nExit codes:%n",
		exitCodeList = {
			" 0:success",
			" 2:usage error: bad option, DEVICE or RANGE (see the command's --help)",
			" 3:the device has no tracker (attach one first)",
			" 4:the device already has a tracker",
			" 5:the change map cannot be used: corrupted, or not the --generation asked for; take a full backup",
			" 6:verify found a damaged or missing point (the next backup will be full)",
			" 7:the snapshot broke during the backup (storage overflow, device gone): nothing was recorded",
			" 8:snapshot wait-event: no event within --timeout",
			" 9:backup --replay-journal: mounting an image to replay its journal failed: nothing was recorded",
			"65:the module rejected the request (EINVAL, ERANGE, E2BIG, EFAULT), e.g. a range past the end of the device",
			"66:no such block device (ENODEV), snapshot, backup directory or point",
			"69:the blksnap module is not loaded (no /dev/blksnap-control)",
			"70:internal error of this program",
			"71:other kernel error (ENOMEM or an unexpected errno)",
			"74:I/O error: writing the output failed, a device read failed, the backup directory is full",
			"75:the device is busy (EBUSY), or another backup holds the directory: try again later",
			"77:permission denied: run as root (CAP_SYS_ADMIN)"},
		footerHeading = "%nNotes:%n",
		footer = {
			"DEVICE is a block device path (/dev/sdb1) or its numbers MAJ:MIN (8:17).",
			"Errors print one line on stderr, \"blksnap: <message>\". --json output is stable: see utils/README.md.",
			"The module's control device is /dev/blksnap-control; only root may use it."})
public final class BlksnapCommand {

	private final Environment environment;

	public BlksnapCommand(Environment environment) {
		this.environment = Objects.requireNonNull(environment);
	}

	Environment environment() {
		return environment;
	}

	/** A configured command line over {@code environment}, writing to {@code out} and {@code err}. */
	public static CommandLine commandLine(Environment environment, PrintWriter out, PrintWriter err) {
		Errors errors = new Errors();
		return new CommandLine(new BlksnapCommand(environment))
				.setOut(out)
				.setErr(err)
				.setExecutionExceptionHandler(errors)
				.setParameterExceptionHandler(errors)
				.setCaseInsensitiveEnumValuesAllowed(true);
	}

	/**
	 * Runs one command line and returns its exit code. Output is flushed; a
	 * failure to write it (stdout closed, disk full) is reported and exits 74.
	 */
	public static int run(Environment environment, PrintWriter out, PrintWriter err, String... args) {
		int code = commandLine(environment, out, err).execute(args);
		out.flush();
		if (out.checkError()) {
			err.println(Errors.PREFIX + "cannot write the output (stdout closed or full)");
			code = code == ExitCodes.OK ? ExitCodes.IO : code;
		}
		err.flush();
		return code;
	}

	public static void main(String[] args) {
		// Buffered, no autoflush: a map can be millions of lines.
		PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(
				new FileOutputStream(FileDescriptor.out), StandardCharsets.UTF_8), 1 << 16), false);
		PrintWriter err = new PrintWriter(new OutputStreamWriter(
				new FileOutputStream(FileDescriptor.err), StandardCharsets.UTF_8), true);
		System.exit(run(Environment.system(), out, err, args));
	}

	/** This program's version, from version.properties (filled in by Maven). */
	static String cliVersion() {
		try (InputStream in = BlksnapCommand.class.getResourceAsStream("version.properties")) {
			if (in == null)
				return "unknown";
			Properties p = new Properties();
			p.load(in);
			String version = p.getProperty("version", "unknown");
			return version.contains("${") ? "unknown" : version; // unfiltered: not built by Maven
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	/** {@code blksnap --version}: the CLI alone, no module needed. */
	static final class CliVersion implements IVersionProvider {
		@Override
		public String[] getVersion() {
			return new String[] {"blksnap " + cliVersion()};
		}
	}
}
