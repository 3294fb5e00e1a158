package org.vitfit.onnx;

import java.util.Locale;

/**
 * Where ONNX Runtime should run a model: {@code cpu}, or {@code cuda} / {@code cuda:N} for the CUDA
 * execution provider (needs the {@code gpu} Maven profile and CUDA 12 + cuDNN 9 on the machine).
 */
public record Device(Kind kind, int id) {

    public enum Kind { CPU, CUDA }

    public static final Device CPU = new Device(Kind.CPU, 0);

    /** Parses {@code cpu}, {@code cuda} or {@code cuda:N}. */
    public static Device parse(String text) {
        String s = text.trim().toLowerCase(Locale.ROOT);
        if (s.equals("cpu")) {
            return CPU;
        }
        if (s.equals("cuda") || s.equals("gpu")) {
            return new Device(Kind.CUDA, 0);
        }
        if (s.startsWith("cuda:")) {
            try {
                return new Device(Kind.CUDA, Integer.parseInt(s.substring(5)));
            } catch (NumberFormatException e) {
                // fall through to the error below
            }
        }
        throw new IllegalArgumentException("unknown device '" + text + "': use cpu, cuda or cuda:N");
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + id;
    }
}
