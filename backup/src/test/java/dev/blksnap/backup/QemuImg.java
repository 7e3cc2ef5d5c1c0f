// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * qemu-img (Debian qemu-utils, installed by scripts/deps) as the judge of
 * the files the engine writes: the tests never trust our own reader alone.
 */
public final class QemuImg {
	private static final ObjectMapper JSON = new ObjectMapper();

	/** Outcome of one run. */
	public record Result(int exit, String out, String err) {
		@Override
		public String toString() {
			return "exit " + exit + "\nstdout: " + out + "\nstderr: " + err;
		}
	}

	private QemuImg() {
	}

	public static Result run(String... args) throws IOException {
		List<String> cmd = new ArrayList<>();
		cmd.add("qemu-img");
		cmd.addAll(List.of(args));
		Process p;
		try {
			p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
					.start();
		} catch (IOException e) {
			throw new IOException("cannot run qemu-img (install qemu-utils: scripts/deps): " + e.getMessage(), e);
		}
		try {
			byte[][] err = new byte[1][];
			Thread t = Thread.ofVirtual().start(() -> {
				try {
					err[0] = p.getErrorStream().readAllBytes();
				} catch (IOException e) {
					err[0] = e.toString().getBytes(StandardCharsets.UTF_8);
				}
			});
			byte[] out = p.getInputStream().readAllBytes();
			if (!p.waitFor(120, TimeUnit.SECONDS)) {
				p.destroyForcibly();
				throw new IOException("qemu-img timed out: " + cmd);
			}
			t.join();
			return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8),
					new String(err[0], StandardCharsets.UTF_8));
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IOException("interrupted", e);
		}
	}

	/** {@code qemu-img check}: exit 0 and "No errors were found", nothing leaked. */
	public static void assertClean(Path image) throws IOException {
		Result r = run("check", "-f", "qcow2", image.toString());
		assertEquals(0, r.exit(), () -> "qemu-img check " + image + ": " + r);
		if (!r.out().contains("No errors were found"))
			throw new AssertionError("qemu-img check " + image + ": " + r);
	}

	/** {@code qemu-img map --output=json}: the image's extents, with depth, zero and data flags. */
	@SuppressWarnings("exports")
	public static JsonNode map(Path image) throws IOException {
		Result r = run("map", "--output=json", "-f", "qcow2", image.toString());
		assertEquals(0, r.exit(), () -> "qemu-img map " + image + ": " + r);
		return JSON.readTree(r.out());
	}

	/** {@code qemu-img compare}: the image (with its backing chain) equals the raw file byte for byte. */
	public static void assertSameAsRaw(Path image, Path raw) throws IOException {
		Result r = run("compare", "-f", "qcow2", "-F", "raw", image.toString(), raw.toString());
		assertEquals(0, r.exit(), () -> "qemu-img compare " + image + " " + raw + ": " + r);
	}

	/** {@code qemu-img info --backing-chain --output=json}: one object per image, top first. */
	@SuppressWarnings("exports")
	public static JsonNode chain(Path image) throws IOException {
		Result r = run("info", "--backing-chain", "--output=json", image.toString());
		assertEquals(0, r.exit(), () -> "qemu-img info " + image + ": " + r);
		return JSON.readTree(r.out());
	}
}
