package org.vitfit.spark;

import org.apache.spark.SparkEnv;
import org.apache.spark.SparkFiles;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a model directory named on the command line is, on the driver and on each executor. An absolute path is
 * taken as is (a shared file system). A relative one is looked up in the JVM's working directory (where YARN and
 * Kubernetes containers, and standalone executors, unpack {@code --archives vit-tiny.zip#vit-tiny}), then in
 * Spark's directory of shipped files (where a client-mode driver unpacks the same archive).
 */
final class ModelLocation {

    private ModelLocation() {
    }

    static Path resolve(String dir) {
        Path p = Path.of(dir).normalize();
        if (p.isAbsolute() || Files.exists(p)) {
            return p;
        }
        Path shipped = shippedDirectory();
        if (shipped != null && Files.exists(shipped.resolve(p))) {
            return shipped.resolve(p);
        }
        return p;
    }

    /** Where to look, for messages: "the working directory /x and the shipped files in /y". */
    static String searched(String dir) {
        Path p = Path.of(dir).normalize();
        if (p.isAbsolute()) {
            return p.toString();
        }
        Path shipped = shippedDirectory();
        return p.toAbsolutePath() + (shipped == null ? "" : " and " + shipped.resolve(p));
    }

    private static Path shippedDirectory() {
        return SparkEnv.get() == null ? null : Path.of(SparkFiles.getRootDirectory());
    }
}
