package org.vitfit.onnx;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DeviceTest {

    @Test
    void cpuCudaAndNonNegativeIndicesParse() {
        assertEquals(Device.CPU, Device.parse(" CPU "));
        assertEquals(new Device(Device.Kind.CUDA, 0), Device.parse("cuda"));
        assertEquals(new Device(Device.Kind.CUDA, 0), Device.parse("gpu"));
        assertEquals(new Device(Device.Kind.CUDA, 3), Device.parse("cuda:3"));
        assertEquals("cuda:3", Device.parse("cuda:3").toString());
    }

    /** cuda:-1 was accepted, then ONNX Runtime failed on it and the run fell back to the CPU with a warning. */
    @Test
    void aNegativeIndexIsRefusedNotFallenBackFrom() {
        assertEquals("device cuda:-1: a CUDA device index is 0 or more (cuda:0 is the first GPU, as nvidia-smi "
                + "numbers them)", assertThrows(IllegalArgumentException.class, () -> Device.parse("cuda:-1"))
                .getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Device(Device.Kind.CUDA, -2));
        assertThrows(IllegalArgumentException.class, () -> new Device(Device.Kind.CPU, 1));
        for (String bad : new String[] {"cuda:", "cuda:x", "cuda:1.5", "cuda:99999999999", "cuda: 1", "tpu"}) {
            assertEquals("unknown device '" + bad + "': use cpu, cuda or cuda:N (N = 0, 1, ...)",
                    assertThrows(IllegalArgumentException.class, () -> Device.parse(bad)).getMessage(), bad);
        }
    }
}
