package org.vitfit.onnx;

import java.util.Locale;

/**
 * Where ONNX Runtime should run a model: {@code cpu}, or {@code cuda} / {@code cuda:N} for the CUDA
 * execution provider (needs the {@code gpu} Maven profile and CUDA 12 + cuDNN 9 on the machine).
 */
public record Device(Kind kind, int id) {

    public enum Kind { CPU, CUDA }

    public static final Device CPU = new Device(Kind.CPU, 0);

    public Device {
        if (kind == Kind.CPU && id != 0) {
            throw new IllegalArgumentException("the CPU has no device index, got cpu:" + id);
        }
        if (id < 0) {
            // Passed on, ONNX Runtime failed to open device -1 and the run fell back to the CPU with a warning.
            throw new IllegalArgumentException("device cuda:" + id + ": a CUDA device index is 0 or more (cuda:0 is "
                    + "the first GPU, as nvidia-smi numbers them)");
        }
    }

    /** Parses {@code cpu}, {@code cuda} or {@code cuda:N} with {@code N >= 0}; anything else is refused. */
    public static Device parse(String text) {
        String s = text.trim().toLowerCase(Locale.ROOT);
        if (s.equals("cpu")) {
            return CPU;
        }
        if (s.equals("cuda") || s.equals("gpu")) {
            return new Device(Kind.CUDA, 0);
        }
        if (s.startsWith("cuda:") && s.substring(5).matches("[+-]?[0-9]{1,9}")) {
            return new Device(Kind.CUDA, Integer.parseInt(s.substring(5)));
        }
        throw new IllegalArgumentException("unknown device '" + text + "': use cpu, cuda or cuda:N (N = 0, 1, ...)");
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + id;
    }
}
