package org.vitfit.finetune;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LrScheduleTest {

    @Test
    void cosineWarmsUpLinearlyThenDecaysToZero() {
        assertEquals(0.1, LrSchedule.COSINE.factor(0, 10, 110), 1e-12);
        assertEquals(1.0, LrSchedule.COSINE.factor(9, 10, 110), 1e-12);
        assertEquals(1.0, LrSchedule.COSINE.factor(10, 10, 110), 1e-12);
        assertEquals(0.5, LrSchedule.COSINE.factor(60, 10, 110), 1e-12);
        assertTrue(LrSchedule.COSINE.factor(109, 10, 110) < 1e-3);
        assertEquals(1.0, LrSchedule.COSINE.factor(0, 0, 5), 1e-12, "no warm-up starts at the peak");
    }

    /** Values of torch.optim.lr_scheduler.OneCycleLR(max_lr=1, total_steps=100, pct_start=0.3) worked by hand. */
    @Test
    void oneCycleFollowsPyTorch() {
        assertEquals(0.04, LrSchedule.ONE_CYCLE.factor(0, 30, 100), 1e-12);
        assertEquals(1.0, LrSchedule.ONE_CYCLE.factor(29, 30, 100), 1e-12);
        assertEquals(0.494013323879, LrSchedule.ONE_CYCLE.factor(14, 30, 100), 1e-9, "mid warm-up");
        assertEquals((1 + 4e-6) / 2, LrSchedule.ONE_CYCLE.factor(64, 30, 100), 1e-12);
        assertEquals(4e-6, LrSchedule.ONE_CYCLE.factor(99, 30, 100), 1e-12);
    }
}
