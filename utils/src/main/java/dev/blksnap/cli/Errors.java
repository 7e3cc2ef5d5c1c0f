// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.BlksnapException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/**
 * Turns failures into one line on stderr, {@code blksnap: <message>}, and an
 * exit code from {@link ExitCodes}. No stack trace reaches the user.
 */
final class Errors implements IExecutionExceptionHandler, IParameterExceptionHandler {

	static final String PREFIX = "blksnap: ";

	/** picocli's wording for a bad positional value; "bad DEVICE: ..." says the same. */
	private static final Pattern POSITIONAL =
			Pattern.compile("^Invalid value for positional parameter at index \\S+ \\(([^)]+)\\): ");

	@Override
	public int handleExecutionException(Exception ex, CommandLine cmd, ParseResult parseResult) {
		if (ex instanceof ParameterException pe)
			return handleParseException(pe, new String[0]);
		print(cmd.getErr(), describe(ex));
		return ExitCodes.of(ex);
	}

	@Override
	public int handleParseException(ParameterException ex, String[] args) {
		CommandLine cmd = ex.getCommandLine();
		String name = cmd.getCommandSpec().qualifiedName();
		String message = POSITIONAL.matcher(oneLine(ex.getMessage())).replaceFirst("bad $1: ");
		print(cmd.getErr(), message + " (see '" + name + " --help')");
		return ExitCodes.USAGE;
	}

	private static void print(PrintWriter err, String message) {
		err.println(PREFIX + message);
		err.flush();
	}

	/** A one-line description of a failure for a user. */
	static String describe(Throwable t) {
		String message = t.getMessage();
		String text = switch (t) {
			case BlksnapException _ when message != null -> message;
			case MapUnusableException _ -> message;
			case NoSuchFileException e -> e.getFile() + ": no such file";
			case AccessDeniedException e -> e.getFile() + ": permission denied";
			case IOException _ when message != null -> message;
			case IllegalArgumentException _ when message != null -> message;
			default -> message == null ? "internal error: " + t.getClass().getName()
					: "internal error: " + t.getClass().getName() + ": " + message;
		};
		return oneLine(text);
	}

	static String oneLine(String text) {
		if (text == null)
			return "";
		return text.strip().replaceAll("\\s*[\\r\\n]+\\s*", "; ");
	}
}
