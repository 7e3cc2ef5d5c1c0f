// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@link Mounter} through mount(8) and umount(8); needs root. */
final class SystemMounter implements Mounter {
	@Override
	public void mount(Path device, String type, List<String> options, Path dir) throws IOException {
		List<String> cmd = new ArrayList<>(List.of("mount", "-t", type));
		if (!options.isEmpty())
			cmd.addAll(List.of("-o", String.join(",", options)));
		cmd.addAll(List.of(device.toString(), dir.toString()));
		run(cmd);
	}

	@Override
	public void unmount(Path dir) throws IOException {
		run(List.of("umount", dir.toString()));
	}

	/** Runs the command; its output (first line) is the message when it fails. */
	private static void run(List<String> cmd) throws IOException {
		ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
				.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
		pb.environment().put("LC_ALL", "C");
		Process p = pb.start();
		String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
		int exit;
		try {
			exit = p.waitFor();
		} catch (InterruptedException e) {
			p.destroy();
			Thread.currentThread().interrupt();
			throw new java.io.InterruptedIOException(String.join(" ", cmd) + ": interrupted");
		}
		if (exit != 0)
			throw new IOException(String.join(" ", cmd) + " exited with " + exit
					+ (out.isEmpty() ? "" : ": " + out.lines().findFirst().orElse("")));
	}
}
