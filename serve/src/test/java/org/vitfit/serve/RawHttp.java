package org.vitfit.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * HTTP/1.1 over a plain loopback socket, byte by byte as the test writes it: what no HTTP client library sends
 * (a stalled header, a lying {@code Content-Length}, a backslash in the path, half a body).
 */
final class RawHttp implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A parsed answer; {@code json} is null unless the body is JSON. */
    record Answer(int status, Map<String, String> headers, byte[] body, JsonNode json) {
        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }

        String code() {
            return json == null ? null : json.path("error").path("code").asText(null);
        }
    }

    private final Socket socket;

    RawHttp(int port) throws IOException {
        socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
        socket.setSoTimeout(30_000);
    }

    RawHttp send(String ascii) throws IOException {
        return send(ascii.getBytes(StandardCharsets.ISO_8859_1));
    }

    RawHttp send(byte[] bytes) throws IOException {
        socket.getOutputStream().write(bytes);
        socket.getOutputStream().flush();
        return this;
    }

    /** Closes our sending side: the server sees the end of the stream, we can still read its answer. */
    RawHttp endOfInput() throws IOException {
        socket.shutdownOutput();
        return this;
    }

    /** Reads one response; {@code head} for answers to HEAD, which have headers only. */
    Answer read(boolean head, int timeoutMillis) throws IOException {
        socket.setSoTimeout(timeoutMillis);
        InputStream in = socket.getInputStream();
        ByteArrayOutputStream headBytes = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed after " + headBytes.size() + " bytes of the response head: "
                        + headBytes.toString(StandardCharsets.ISO_8859_1));
            }
            headBytes.write(b);
            matched = (b == (matched % 2 == 0 ? '\r' : '\n')) ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        String[] lines = headBytes.toString(StandardCharsets.ISO_8859_1).split("\r\n");
        int status = Integer.parseInt(lines[0].split(" ")[1]);
        Map<String, String> headers = new LinkedHashMap<>();
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            if (colon > 0) {
                headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
            }
        }
        byte[] body = new byte[0];
        String length = headers.get("content-length");
        if (!head && length != null) {
            body = in.readNBytes(Integer.parseInt(length));
        } else if (!head && "chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            throw new IOException("chunked answers are not expected from this server");
        }
        String type = headers.getOrDefault("content-type", "");
        JsonNode json = type.startsWith("application/json") && body.length > 0 ? JSON.readTree(body) : null;
        return new Answer(status, headers, body, json);
    }

    Answer read() throws IOException {
        return read(false, 30_000);
    }

    /** True when the server closed the connection within {@code timeoutMillis} (without sending anything more). */
    boolean closedWithin(int timeoutMillis) throws IOException {
        socket.setSoTimeout(timeoutMillis);
        try {
            return socket.getInputStream().read() < 0;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset by the server: closed too
        }
    }

    /** True when nothing arrives within {@code timeoutMillis} and the connection stays open. */
    boolean silentFor(int timeoutMillis) throws IOException {
        socket.setSoTimeout(timeoutMillis);
        try {
            socket.getInputStream().read();
            return false;
        } catch (SocketTimeoutException e) {
            return true;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }

    /** A request head for {@code POST path} with the given content type and length. */
    static String postHead(String path, String contentType, long contentLength) {
        return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + contentType
                + "\r\nContent-Length: " + contentLength + "\r\n\r\n";
    }
}
