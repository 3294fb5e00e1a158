package org.vitfit.serve;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A {@code multipart/form-data} body (RFC 7578) held in memory, split into its parts. Only what a browser form or
 * {@code curl -F} sends is needed: each part's headers ({@code Content-Disposition} name and filename,
 * {@code Content-Type}) and bytes.
 */
final class Multipart {

    /** One part of the body. {@code filename} is null for plain fields. */
    record Part(String name, String filename, String contentType, byte[] data) {
    }

    /** The body does not follow the multipart syntax; the message says where it breaks. */
    static final class MalformedException extends Exception {
        private static final long serialVersionUID = 1L;

        MalformedException(String message) {
            super(message);
        }
    }

    private Multipart() {
    }

    /** The {@code boundary} parameter of a {@code multipart/form-data} content type, or null when it has none. */
    static String boundary(String contentType) {
        for (String param : contentType.split(";")) {
            String p = param.trim();
            int eq = p.indexOf('=');
            if (eq > 0 && p.substring(0, eq).trim().equalsIgnoreCase("boundary")) {
                String value = p.substring(eq + 1).trim();
                if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
                    value = value.substring(1, value.length() - 1);
                }
                return value.isEmpty() || value.length() > 70 ? null : value;
            }
        }
        return null;
    }

    static List<Part> parse(byte[] body, String boundary) throws MalformedException {
        byte[] delimiter = ("--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        int pos = indexOf(body, delimiter, 0);
        if (pos < 0) {
            throw new MalformedException("the body does not contain its boundary '" + boundary + "'");
        }
        byte[] next = ("\r\n--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        List<Part> parts = new ArrayList<>();
        pos += delimiter.length;
        while (true) {
            if (startsWith(body, pos, "--")) {
                return parts; // the close delimiter; anything after it is epilogue
            }
            if (!startsWith(body, pos, "\r\n")) {
                throw new MalformedException("expected a line break after the boundary at byte " + pos);
            }
            pos += 2;
            int headersEnd = indexOf(body, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1), pos);
            if (headersEnd < 0) {
                throw new MalformedException("part " + (parts.size() + 1) + " has no end of headers");
            }
            String headers = new String(body, pos, headersEnd - pos, StandardCharsets.UTF_8);
            int dataStart = headersEnd + 4;
            int dataEnd = indexOf(body, next, dataStart);
            if (dataEnd < 0) {
                throw new MalformedException("part " + (parts.size() + 1) + " is not closed by the boundary (truncated body?)");
            }
            parts.add(part(headers, Arrays.copyOfRange(body, dataStart, dataEnd)));
            pos = dataEnd + next.length;
        }
    }

    private static Part part(String headers, byte[] data) {
        String name = null;
        String filename = null;
        String contentType = null;
        for (String line : headers.split("\r\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String key = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            String value = line.substring(colon + 1).trim();
            if (key.equals("content-disposition")) {
                name = parameter(value, "name");
                filename = parameter(value, "filename");
            } else if (key.equals("content-type")) {
                contentType = value;
            }
        }
        return new Part(name, filename, contentType, data);
    }

    /** A parameter of a header value such as {@code form-data; name="image"; filename="cat.jpg"}. */
    private static String parameter(String headerValue, String param) {
        // Split at semicolons outside quotes: browsers send a file name such as "a;b.jpg" as it is, quoted.
        for (String p : headerValue.split(";(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)")) {
            String t = p.trim();
            int eq = t.indexOf('=');
            if (eq > 0 && t.substring(0, eq).trim().equalsIgnoreCase(param)) {
                String v = t.substring(eq + 1).trim();
                if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
                    v = v.substring(1, v.length() - 1).replace("\\\"", "\"");
                }
                return v;
            }
        }
        return null;
    }

    private static boolean startsWith(byte[] body, int pos, String ascii) {
        if (pos + ascii.length() > body.length) {
            return false;
        }
        for (int i = 0; i < ascii.length(); i++) {
            if (body[pos + i] != ascii.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    static int indexOf(byte[] haystack, byte[] needle, int from) {
        outer:
        for (int i = Math.max(0, from); i <= haystack.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
