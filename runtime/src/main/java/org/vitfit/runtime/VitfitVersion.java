package org.vitfit.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The vitfit version recorded in every file vitfit writes, so a reader knows which code made it. */
public final class VitfitVersion {

    private static final String VERSION = load();

    private VitfitVersion() {
    }

    public static String get() {
        return VERSION;
    }

    private static String load() {
        try (InputStream in = VitfitVersion.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }
}
