// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * A random workload on a mounted file system, the way applications write:
 * buffered writes with and without fsync, appends, overwrites in place,
 * truncates, deletes, renames (also over an existing file), hard and
 * symbolic links, directories created full of files and removed again,
 * directory fsync, sync(1), and freed space given back with fstrim. The
 * workload does not know where the file system puts anything: the content
 * oracle finds out what changed on the device.
 */
final class FsWorkload {
    private final Path root;
    private final SplittableRandom rnd;
    private final List<Path> files = new ArrayList<>();
    private final List<Path> dirs = new ArrayList<>();
    private final Map<String, Integer> done = new TreeMap<>();
    private long bytesWritten;
    /** Prefix of every name this workload makes: another workload on the same file system makes others. */
    private final String tag;
    private int names;

    FsWorkload(Path root, SplittableRandom rnd) {
        this.root = root;
        this.rnd = rnd;
        this.tag = "w" + Integer.toString(rnd.nextInt(1 << 30), 36) + "-";
        dirs.add(root);
    }

    /** Directories and files for the later operations to work on. */
    FsWorkload populate(int count) throws IOException {
        for (int i = 0; i < 4; i++) {
            mkdir();
        }
        for (int i = 0; i < count; i++) {
            create();
        }
        return this;
    }

    /** {@code count} operations drawn at random. */
    FsWorkload run(int count) throws IOException, InterruptedException {
        for (int i = 0; i < count; i++) {
            int x = rnd.nextInt(100);
            if (x < 20 || files.isEmpty()) {
                create();
            } else if (x < 35) {
                append();
            } else if (x < 50) {
                overwrite();
            } else if (x < 55) {
                truncate();
            } else if (x < 65) {
                delete();
            } else if (x < 75) {
                rename();
            } else if (x < 80) {
                link();
            } else if (x < 87) {
                directoryChurn();
            } else if (x < 92) {
                mkdir();
            } else if (x < 96) {
                fsyncDirectory();
            } else if (x < 98) {
                big();
            } else {
                Guest.runOk("sync");
                count("sync");
            }
        }
        return this;
    }

    /**
     * Deletes about half of the files, so that blocks holding data become
     * free; with -o discard they are discarded at once (and read back as
     * zeros on the bench's disks: their content changes).
     */
    FsWorkload deleteHalf() throws IOException {
        for (int i = files.size() - 1; i >= 0; i--) {
            if (rnd.nextBoolean()) {
                Files.delete(files.remove(i));
                count("delete");
            }
        }
        Guest.runOk("sync");
        return this;
    }

    /** fstrim of the whole file system. */
    FsWorkload trim() {
        Guest.runOk("fstrim", root.toString());
        count("fstrim");
        return this;
    }

    /** What was done, for the log. */
    String summary() {
        return done + ", " + (bytesWritten >> 10) + " KiB written, " + files.size() + " files, " + dirs.size()
                + " directories";
    }

    private void count(String op) {
        done.merge(op, 1, Integer::sum);
    }

    private String name(String prefix) {
        return tag + prefix + (names++);
    }

    private Path anyDir() {
        return dirs.get(rnd.nextInt(dirs.size()));
    }

    private Path anyFile() {
        return files.get(rnd.nextInt(files.size()));
    }

    /** Mostly small, sometimes a few blocks, now and then half a MiB. */
    private int size() {
        int x = rnd.nextInt(10);
        return x < 6 ? rnd.nextInt(4097) : x < 9 ? rnd.nextInt(65537) : rnd.nextInt(512 << 10);
    }

    private void write(Path f, long at, int length, boolean fsync, StandardOpenOption... opts) throws IOException {
        try (FileChannel ch = FileChannel.open(f, opts)) {
            ByteBuffer buf = ByteBuffer.allocate(length);
            while (buf.hasRemaining()) {
                buf.put((byte) rnd.nextInt());
            }
            buf.flip();
            long pos = at < 0 ? ch.size() : at;
            while (buf.hasRemaining()) {
                pos += ch.write(buf, pos);
            }
            if (fsync) {
                ch.force(true);
            }
        }
        bytesWritten += length;
    }

    private void create() throws IOException {
        Path f = anyDir().resolve(name("f"));
        write(f, 0, size(), rnd.nextBoolean(), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        files.add(f);
        count("create");
    }

    private void append() throws IOException {
        write(anyFile(), -1, 1 + rnd.nextInt(65536), rnd.nextBoolean(), StandardOpenOption.WRITE);
        count("append");
    }

    private void overwrite() throws IOException {
        Path f = anyFile();
        long size = Files.size(f);
        long at = size == 0 ? 0 : rnd.nextLong(size);
        write(f, at, 1 + rnd.nextInt(16384), rnd.nextBoolean(), StandardOpenOption.WRITE);
        count("overwrite");
    }

    private void truncate() throws IOException {
        Path f = anyFile();
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() / 2);
            if (rnd.nextBoolean()) {
                ch.force(true);
            }
        }
        count("truncate");
    }

    private void delete() throws IOException {
        Path f = files.remove(rnd.nextInt(files.size()));
        Files.delete(f);
        count("delete");
    }

    /** To a new name in any directory, or over another file. */
    private void rename() throws IOException {
        int from = rnd.nextInt(files.size());
        Path src = files.get(from);
        if (files.size() > 1 && rnd.nextInt(3) == 0) {
            int to = rnd.nextInt(files.size());
            if (to != from) {
                Path dst = files.get(to);
                Files.move(src, dst, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                files.remove(src);
                count("rename over a file");
                return;
            }
        }
        Path dst = anyDir().resolve(name("r"));
        Files.move(src, dst, StandardCopyOption.ATOMIC_MOVE);
        files.set(from, dst);
        count("rename");
    }

    private void link() throws IOException {
        Path target = anyFile();
        if (rnd.nextBoolean()) {
            Files.createLink(anyDir().resolve(name("h")), target);
            count("hard link");
        } else {
            Files.createSymbolicLink(anyDir().resolve(name("s")), target);
            count("symlink");
        }
    }

    private void mkdir() throws IOException {
        Path d = anyDir().resolve(name("d"));
        Files.createDirectory(d);
        dirs.add(d);
        count("mkdir");
    }

    /** A directory filled with small and empty files, then emptied and removed. */
    private void directoryChurn() throws IOException {
        Path d = anyDir().resolve(name("churn"));
        Files.createDirectory(d);
        int n = 20 + rnd.nextInt(60);
        for (int i = 0; i < n; i++) {
            Path f = d.resolve("e" + i);
            if (rnd.nextInt(4) == 0) {
                write(f, 0, rnd.nextInt(300), false, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            } else {
                Files.createFile(f);
            }
        }
        fsync(d);
        for (int i = 0; i < n; i++) {
            Files.delete(d.resolve("e" + i));
        }
        try {
            Files.delete(d);
        } catch (DirectoryNotEmptyException | NoSuchFileException e) {
            throw new IOException("directory churn in " + d, e);
        }
        count("directory churn");
    }

    private void fsyncDirectory() throws IOException {
        fsync(anyDir());
        count("fsync directory");
    }

    private static void fsync(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    /** A file of 1-2 MiB, written whole. */
    private void big() throws IOException {
        Path f = anyDir().resolve(name("big"));
        write(f, 0, (1 + rnd.nextInt(2)) << 20, rnd.nextBoolean(), StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE);
        files.add(f);
        count("big file");
    }
}
