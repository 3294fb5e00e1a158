package org.vitfit.extract;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Reads the labels of one manifest cell. A cell that looks like a list is a list: pandas writes a list column to
 * CSV as {@code ['cat', 'dog']}, JSON tools as {@code ["cat","dog"]}; taking either as one label named
 * {@code ['cat', 'dog']} would train a head on a class that does not exist, so a list that cannot be read is refused.
 */
final class LabelCells {

    private static final ObjectMapper JSON = new ObjectMapper();

    private LabelCells() {
    }

    /**
     * The labels of {@code cell}: a JSON or Python list of strings, else the cell split at {@code separator} (null:
     * the whole cell is one label); trimmed, empty ones and repeats dropped, order kept.
     *
     * @param where names the cell in errors ({@code labels.csv line 7})
     */
    static List<String> parse(String cell, String separator, String where) throws InputException {
        String s = cell.strip();
        if (s.isEmpty()) {
            return List.of();
        }
        List<String> parts;
        if (s.startsWith("[")) {
            parts = parseList(s, where);
        } else if (separator == null) {
            parts = List.of(s);
        } else {
            parts = List.of(s.split(Pattern.quote(separator), -1));
        }
        LinkedHashSet<String> labels = new LinkedHashSet<>();
        for (String p : parts) {
            if (!p.isBlank()) {
                labels.add(p.strip());
            }
        }
        return List.copyOf(labels);
    }

    private static List<String> parseList(String s, String where) throws InputException {
        try {
            JsonNode n = JSON.readTree(s);
            if (n != null && n.isArray()) {
                List<String> out = new ArrayList<>();
                for (JsonNode e : n) {
                    if (!e.isTextual()) {
                        throw refused(s, where, "it holds " + e + ", not a string");
                    }
                    out.add(e.asText());
                }
                return out;
            }
        } catch (JsonProcessingException e) {
            // not JSON: try a Python literal
        }
        return new PythonList(s, where).parse();
    }

    private static InputException refused(String cell, String where, String why) {
        String shown = cell.length() > 80 ? cell.substring(0, 77) + "..." : cell;
        return new InputException(where + ": the labels cell " + shown + " looks like a list but cannot be read ("
                + why + "); write a list of quoted strings (['cat', 'dog'] or [\"cat\", \"dog\"]) or labels "
                + "separated by --label-separator (cat|dog)");
    }

    /** A Python list literal of string literals: {@code ['cat', "dog's"]}, as {@code repr(list)} writes it. */
    private static final class PythonList {
        private final String s;
        private final String where;
        private int i;

        PythonList(String s, String where) {
            this.s = s;
            this.where = where;
        }

        List<String> parse() throws InputException {
            List<String> out = new ArrayList<>();
            expect('[');
            skipSpace();
            if (peek() == ']') {
                i++;
                return end(out);
            }
            while (true) {
                skipSpace();
                if (peek() == ']' && !out.isEmpty()) {
                    i++; // a trailing comma, as Python allows
                    return end(out);
                }
                out.add(string());
                skipSpace();
                char c = peek();
                i++;
                if (c == ']') {
                    return end(out);
                }
                if (c != ',') {
                    throw refused(s, where, c == 0 ? "the list is never closed"
                            : "expected , or ] at character " + i + ", found " + c);
                }
            }
        }

        private List<String> end(List<String> out) throws InputException {
            skipSpace();
            if (i < s.length()) {
                throw refused(s, where, "text after the closing ]");
            }
            return out;
        }

        private String string() throws InputException {
            char q = peek();
            if (q != '\'' && q != '"') {
                throw refused(s, where, q == 0 ? "the list is never closed"
                        : "element " + describe(q) + " at character " + (i + 1) + " is not a quoted string");
            }
            i++;
            StringBuilder b = new StringBuilder();
            while (i < s.length()) {
                char c = s.charAt(i++);
                if (c == q) {
                    return b.toString();
                }
                if (c == '\\' && i < s.length()) {
                    char e = s.charAt(i++);
                    switch (e) {
                        case 'n' -> b.append('\n');
                        case 't' -> b.append('\t');
                        case '\\', '\'', '"' -> b.append(e);
                        default -> b.append('\\').append(e);
                    }
                } else {
                    b.append(c);
                }
            }
            throw refused(s, where, "a quoted label is never closed");
        }

        private static String describe(char c) {
            return Character.isLetterOrDigit(c) ? "starting with '" + c + "'" : String.format(Locale.ROOT, "'%c'", c);
        }

        private void expect(char c) throws InputException {
            if (peek() != c) {
                throw refused(s, where, "expected " + c);
            }
            i++;
        }

        private char peek() {
            return i < s.length() ? s.charAt(i) : 0;
        }

        private void skipSpace() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }
    }
}
