package org.vitfit.serve;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The multipart parser on its own: the parts and parameters a browser sends, including awkward file names. */
class MultipartTest {

    private static final String B = "xyz";

    @Test
    void fileNamesWithSemicolonsAndFieldsWithoutFiles() throws Exception {
        byte[] body = ("--" + B + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                + "--" + B + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a;b c.jpg\"\r\n"
                + "Content-Type: image/jpeg\r\n\r\n\u00ff\u00d8data\r\n--" + B + "--\r\n")
                .getBytes(StandardCharsets.ISO_8859_1);
        List<Multipart.Part> parts = Multipart.parse(body, B);
        assertEquals(2, parts.size());
        assertEquals("note", parts.get(0).name());
        assertNull(parts.get(0).filename());
        assertEquals("image", parts.get(1).name());
        assertEquals("a;b c.jpg", parts.get(1).filename());
        assertEquals("image/jpeg", parts.get(1).contentType());
        assertArrayEquals("\u00ff\u00d8data".getBytes(StandardCharsets.ISO_8859_1), parts.get(1).data());
        assertEquals(B, Multipart.boundary("multipart/form-data; boundary=\"" + B + "\""));
    }
}
